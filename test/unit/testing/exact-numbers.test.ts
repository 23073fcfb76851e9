import { describe, expect, it } from 'vitest';
import type { Problem } from '../../../src/errors.ts';
import { checkAnswer, updatedExpectation } from '../../../src/testing/check-answer.ts';
import { sameValue, showValue } from '../../../src/testing/compare-values.ts';
import { readTestFile } from '../../../src/testing/test-file.ts';
import {
  DoubleValue,
  decimalKey,
  ExactNumber,
  fitsDouble,
  parseExactJson,
} from '../../../src/util/exact-json.ts';

const U = '18446744073709551615';
const D = '1234567890123456789012345678.0123456789';

/** An answer as ClickHouse writes it (FORMAT JSON, 64-bit integers unquoted). */
const ANSWER = `{
\t"meta": [{ "name": "u", "type": "UInt64" }],
\t"data":
\t[
\t\t{
\t\t\t"u": ${U},
\t\t\t"v": 9007199254740993,
\t\t\t"d": ${D},
\t\t\t"t": 1234567890123456789012345678.0100000000,
\t\t\t"n": 3,
\t\t\t"f": 0.1,
\t\t\t"g": 1.7976931348623157e308,
\t\t\t"w": 9007199254740991,
\t\t\t"s": "a \\"b\\" 12345678901234567890",
\t\t\t"a": [${U}, 1, null, true, false, {}]
\t\t}
\t],
\t"rows": 1
}
`;

function rowsOf(text: string): Array<Record<string, unknown>> {
  return (parseExactJson(text) as { data: Array<Record<string, unknown>> }).data;
}

function expectation(yamlRows: string) {
  const problems: Problem[] = [];
  const f = readTestFile(
    'endpoints/big.test.yaml',
    `- name: c\n  expected:\n    rows:\n${yamlRows}\n`,
    problems,
  );
  expect(problems).toEqual([]);
  return f!.cases[0]!.expected;
}

describe('parseExactJson', () => {
  it('keeps numbers a double cannot hold as their digits, and is JSON.parse otherwise', () => {
    const [row] = rowsOf(ANSWER);
    expect(row!.u).toEqual(new ExactNumber(U));
    expect(row!.v).toEqual(new ExactNumber('9007199254740993'));
    expect(row!.d).toEqual(new ExactNumber(D));
    expect(row!.t).toEqual(new ExactNumber('1234567890123456789012345678.0100000000'));
    expect(row).toMatchObject({ n: 3, f: 0.1, g: 1.7976931348623157e308, w: 9007199254740991 });
    expect(row!.s).toBe('a "b" 12345678901234567890');
    expect(row!.a).toEqual([new ExactNumber(U), 1, null, true, false, {}]);
    // Without a long number it is JSON.parse itself.
    expect(parseExactJson('{"a":[1,2.5,"x"],"__proto__":1}')).toEqual(
      JSON.parse('{"a":[1,2.5,"x"],"__proto__":1}'),
    );
    const proto = parseExactJson(`{"__proto__": ${U}}`) as Record<string, unknown>;
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
    expect(Object.keys(proto)).toEqual(['__proto__']);
  });

  it('refuses what is not JSON', () => {
    for (const bad of [`[${U},]`, `{"a": ${U}} x`, `[${U}`, `{"a" ${U}}`, `[0${U}]`]) {
      expect(() => parseExactJson(bad), bad).toThrow(SyntaxError);
    }
  });

  it('tells which numbers a double holds', () => {
    expect(fitsDouble('9007199254740991', 9007199254740991)).toBe(true);
    expect(fitsDouble('9007199254740992', 2 ** 53)).toBe(false);
    expect(fitsDouble('18446744073709552000', Number('18446744073709552000'))).toBe(false);
    expect(fitsDouble('1e300', 1e300)).toBe(true);
    expect(fitsDouble('0.30000000000000004', 0.30000000000000004)).toBe(true);
    expect(fitsDouble('0.300000000000000040', 0.30000000000000004)).toBe(true);
    expect(fitsDouble('0.10000000000000000001', 0.1)).toBe(false);
    expect(fitsDouble('1e400', Number('1e400'))).toBe(false);
    expect(decimalKey('1.50')).toBe(decimalKey('15e-1'));
    expect(decimalKey('-0.0')).toBe('0');
    expect(decimalKey('100')).toBe('1e2');
    expect(decimalKey('abc')).toBeUndefined();
  });
});

describe('comparing numbers a double cannot hold', () => {
  const [row] = rowsOf(ANSWER);

  it('compares them by their exact digits', () => {
    expect(sameValue(U, row!.u)).toBe(true);
    expect(sameValue('18446744073709551614', row!.u)).toBe(false);
    expect(sameValue(9007199254740992, row!.v)).toBe(false);
    expect(sameValue('9007199254740993', row!.v)).toBe(true);
    expect(sameValue(D, row!.d)).toBe(true);
    expect(sameValue('1234567890123456789012345678.0123456788', row!.d)).toBe(false);
    // By value: 18.16 writes a Decimal's trailing zeros, current versions do not.
    expect(sameValue('1234567890123456789012345678.01', row!.t)).toBe(true);
    expect(sameValue(null, row!.u)).toBe(false);
    expect(sameValue('x', row!.u)).toBe(false);
    expect(sameValue([U, 1, null, true, false, {}], row!.a)).toBe(true);
  });

  it('fails a case expecting another big integer, whether written as a number or a string', () => {
    for (const written of ['18446744073709551614', '"18446744073709551614"', '18446744073709551616']) {
      const expected = expectation(`      - { u: ${written} }`);
      const failures = checkAnswer(expected, { status: 200, rows: [{ u: row!.u }] });
      expect(
        failures.map((f) => f.message),
        written,
      ).toEqual(['rows differ: 1 changed (expected 1 row, got 1)']);
      expect(
        showValue(
          failures[0]!.diff!.entries[0]!.kind === 'changed'
            ? failures[0]!.diff!.entries[0]!.fields[0]!.actual
            : undefined,
        ),
      ).toBe(U);
    }
    const right = expectation(`      - { u: ${U}, d: ${D}, t: 1234567890123456789012345678.01, n: 3 }`);
    expect(checkAnswer(right, { status: 200, rows: [{ u: row!.u, d: row!.d, t: row!.t, n: 3 }] })).toEqual(
      [],
    );
  });

  it('keeps the digits of a long number written in a test file', () => {
    const e = expectation(`      - { u: ${U}, d: ${D}, f: 0.1, pi: 3.14159265358979323846 }`);
    expect(e.rows).toEqual([{ u: U, d: D, f: 0.1, pi: '3.14159265358979323846' }]);
    // A Float64 answer still equals what a double makes of the digits written.
    expect(sameValue(e.rows![0]!.pi, Math.PI)).toBe(true);
  });

  it('--update writes the digits of the answer', () => {
    const u = updatedExpectation(expectation('      - { u: 1 }'), {
      status: 200,
      rows: [{ u: row!.u, n: 3 }],
    });
    expect(u).toEqual({ set: { rows: [{ u: U, n: 3 }] } });
  });

  it('shows them in diffs with their digits', () => {
    expect(showValue(row!.u)).toBe(U);
    expect(showValue({ a: row!.a, s: 'x' })).toBe(`{"a":[${U},1,null,true,false,{}],"s":"x"}`);
  });
});

describe('Float columns compare as doubles', () => {
  it('a Float64 answer equals every spelling of its double; an integer answer stays exact', () => {
    // toFloat64('12345678901234567890') is the double 12345678901234567000.
    expect(
      sameValue(new ExactNumber('12345678901234567890'), new DoubleValue(Number('12345678901234567890'))),
    ).toBe(true);
    // A literal past 2^53 is already rounded when the test runs: spelled as text to say so.
    expect(sameValue(Number('9007199254740993'), new DoubleValue(9007199254740992))).toBe(true);
    expect(sameValue('0.1', new DoubleValue(0.1))).toBe(true);
    expect(sameValue(new ExactNumber('12345678901234567890'), new DoubleValue(1.2e19))).toBe(false);
    // A UInt64 of 2^53 (a plain number: a double holds it) against a test file's 2^53 + 1.
    expect(sameValue(new ExactNumber('9007199254740993'), 9007199254740992)).toBe(false);
    expect(showValue(new DoubleValue(Number('12345678901234567890')))).toBe('12345678901234567000');
  });
});
