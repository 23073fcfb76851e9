// jsonString skips JSON.stringify for strings that need no escape: it must give the same text
// for every string, the ones that take the short way and the ones that do not.
import { describe, expect, it } from 'vitest';
import { jsonString } from '../../../src/ingest/json-text.ts';

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
