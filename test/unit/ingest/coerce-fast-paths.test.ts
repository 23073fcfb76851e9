/**
 * The coercers' fast paths (a Decimal already written as Tally writes it is taken as it is; a
 * DateTime's zone read without a regex match) must answer exactly as the general path does:
 * every value of a generated corpus is checked against an oracle built from the general
 * functions, refusals included.
 */
import { describe, expect, it } from 'vitest';
import { compileType, Refusal } from '../../../src/ingest/coerce-value.ts';
import { decimalParts, decimalText, intDigits } from '../../../src/ingest/decimal-text.ts';
import type { TypeNode } from '../../../src/project/model.ts';
import { parseType } from '../../../src/project/parse-type.ts';
import { ExactNumber } from '../../../src/util/exact-json.ts';

function type(text: string): TypeNode {
  const r = parseType(text);
  if (!r.ok) throw new Error(r.message);
  return r.type;
}

/** Number texts around every edge the fast path decides on. */
function numberTexts(): string[] {
  const out = new Set<string>([
    '0',
    '-0',
    '0.0',
    '-0.0',
    '00',
    '0.5',
    '-0.5',
    '.5',
    '5.',
    '1e2',
    '1E-2',
    '-1.50e1',
  ]);
  const ints = [
    '0',
    '1',
    '9',
    '10',
    '12',
    '100',
    '1234567890',
    '9999999999999999',
    '10000000000000000',
    '12345678901234567',
  ];
  const fracs = ['', '0', '1', '10', '01', '05', '25', '250', '123', '999', '000'];
  for (const i of ints)
    for (const f of fracs)
      for (const sign of ['', '-']) {
        out.add(`${sign}${i}${f === '' ? '' : `.${f}`}`);
        out.add(`${sign}0${i}${f === '' ? '' : `.${f}`}`);
      }
  return [...out];
}

describe('Decimal fast path', () => {
  for (const t of [
    'Decimal(18, 2)',
    'Decimal(9, 0)',
    'Decimal(38, 10)',
    'Decimal(5, 5)',
    'Nullable(Decimal(18, 3))',
  ]) {
    it(`${t}: every text gives what decimalParts and decimalText give, or the same refusal`, () => {
      const coerce = compileType(type(t)).coerce;
      const [precision, scale] = /(\d+), (\d+)/.exec(t)!.slice(1).map(Number) as [number, number];
      let fast = 0;
      for (const text of numberTexts()) {
        const p = decimalParts(text);
        const fits = p !== undefined && p.frac.length <= scale && intDigits(p) <= precision - scale;
        if (!/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(text)) {
          // Not JSON number syntax (the JSON reader never makes such an ExactNumber): a string
          // holding it is refused.
          expect(coerce(text), text).toBeInstanceOf(Refusal);
          continue;
        }
        for (const v of [new ExactNumber(text), text]) {
          const got = coerce(v);
          if (fits) {
            expect(got, text).toBe(decimalText(p));
            if (got === text) fast++;
          } else expect(got, text).toBeInstanceOf(Refusal);
        }
      }
      // The corpus reaches the fast path (texts already as written), not only the general one.
      expect(fast).toBeGreaterThan(20);
    });
  }
});

describe('DateTime zone, read after the seconds and any fraction', () => {
  const coerce = compileType(type('DateTime')).coerce;
  const berlin = compileType(type("DateTime('Europe/Berlin')")).coerce;
  it('reads each zone form, with and without a fraction, the same as without one', () => {
    const base = Date.UTC(2024, 2, 11, 12, 30, 45) / 1000;
    const cases: Array<[string, number]> = [
      ['', 0],
      ['Z', 0],
      ['+02:00', -7200],
      ['-0530', 5.5 * 3600],
      ['+01', -3600],
    ];
    for (const [zone, shift] of cases) {
      for (const fraction of ['', '.5', '.123456789']) {
        for (const sep of [' ', 'T']) {
          const text = `2024-03-11${sep}12:30:45${fraction}${zone}`;
          expect(coerce(text), text).toBe(String(base + shift));
        }
      }
    }
    // No zone: the column's; a zone given wins over it.
    expect(berlin('2024-03-11 12:30:45.5')).toBe(String(base - 3600));
    expect(berlin('2024-03-11 12:30:45.5Z')).toBe(String(base));
    expect(coerce('2024-03-11 12:30:45+24:00')).toBeInstanceOf(Refusal);
  });
});
