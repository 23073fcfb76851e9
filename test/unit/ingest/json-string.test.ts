// jsonString skips JSON.stringify for strings that need no escape: it must give the same text
// for every string, the ones that take the short way and the ones that do not.
import { describe, expect, it } from 'vitest';
import {
  ExactNumber,
  JsonSyntaxError,
  type JsonValue,
  jsonString,
  parseJsonExact,
  stringifyJson,
} from '../../../src/util/exact-json.ts';

const samples = [
  '',
  'acct_42',
  '2f1c0a0-9b7e-4c2d-8e1f-000000007a69',
  'with "quotes"',
  'back\\slash',
  'tab\there',
  'line\nbreak',
  'nul\u0000byte',
  'unit\u001fsep',
  'del\u007fis plain',
  'é ü ß 中文',
  'line sep \u2028 para sep \u2029',
  'emoji 😀 pair',
  'lone high \ud83d end',
  'lone low \ude00 end',
  '\udfff',
  '</script>',
];

describe('jsonString', () => {
  it.each(samples.map((s) => [JSON.stringify(s), s]))('writes %s as JSON.stringify does', (_, s) => {
    expect(jsonString(s)).toBe(JSON.stringify(s));
    expect(JSON.parse(jsonString(s))).toBe(s);
  });

  it('matches JSON.stringify on every single code unit', () => {
    for (let c = 0; c <= 0xffff; c++) {
      const s = `a${String.fromCharCode(c)}b`;
      if (jsonString(s) !== JSON.stringify(s)) throw new Error(`differs at U+${c.toString(16)}`);
    }
    expect(jsonString('x')).toBe('"x"');
  });
});

describe('parseJsonExact (the exact reader ingestion falls back to)', () => {
  it('keeps every number as written, in objects without a prototype', () => {
    const v = parseJsonExact(
      '{"id": 18446744073709551615, "a": [0.10, -2e3], "__proto__": {"x": 1}}',
    ) as Record<string, JsonValue>;
    expect(Object.getPrototypeOf(v)).toBe(null);
    expect(Object.keys(v)).toEqual(['id', 'a', '__proto__']);
    expect(v.id).toEqual(new ExactNumber('18446744073709551615'));
    expect(stringifyJson(v)).toBe('{"id":18446744073709551615,"a":[0.10,-2e3],"__proto__":{"x":1}}');
  });

  it('says where text stops being JSON, as a SyntaxError', () => {
    for (const [bad, at] of [
      ['{"a": 01}', 7],
      ['[1, 2', 5],
      ['{"a" 1}', 5],
      ['"tab\there"', 4],
    ] as const) {
      let err: unknown;
      try {
        parseJsonExact(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(SyntaxError);
      expect(err, bad).toBeInstanceOf(JsonSyntaxError);
      expect((err as JsonSyntaxError).position, bad).toBe(at);
    }
  });
});
