import { describe, expect, it } from 'vitest';
import { shiftDecimal } from '../../../src/ingest/decimal-text.ts';
import { compileRowParser } from '../../../src/ingest/row-parser.ts';
import type { ColumnMapping, DataSource, EventVersions } from '../../../src/project/model.ts';
import { dataSource, pathSegments } from './type-node.ts';

const LOC = { file: 'payments.datasource.yaml', line: 1, col: 1 };
const path = (text: string) => ({ text, segments: pathSegments(text) });

/** The example's shape: v1 has integer cents, v2 a decimal amount; `missing` as given. */
function payments(missing?: string, extra: Record<string, Omit<ColumnMapping, 'loc'>[]> = {}): DataSource {
  const versions: EventVersions = {
    field: path('$.version'),
    ...(missing !== undefined ? { missing } : {}),
    mappings: [
      {
        version: '1',
        columns: [{ column: 'amount', json: path('$.amount_cents'), shift: -2, loc: LOC }],
        loc: LOC,
      },
      { version: '2', columns: [], loc: LOC },
      ...Object.entries(extra).map(([version, cols]) => ({
        version,
        columns: cols.map((c) => ({ ...c, loc: LOC })),
        loc: LOC,
      })),
    ],
    loc: LOC,
  };
  return {
    ...dataSource(
      'payments',
      [
        { name: 'id', type: 'String' },
        { name: 'amount', type: 'Decimal(18, 2)' },
        { name: 'currency', type: 'String', defaultValue: 'USD', default: "'USD'" },
        { name: 'units', type: 'Nullable(Int64)' },
      ],
      { dedupKey: ['id'] },
    ),
    versions,
  };
}

/** The row as an object, or the problems as `column: message` lines. */
function parse(ds: DataSource, event: string): Record<string, unknown> | string[] {
  const r = compileRowParser(ds).parseLine(event);
  if (!r.ok) return r.problems.map((p) => `${p.column ?? 'event'}: ${p.message}`);
  return JSON.parse(r.line!) as Record<string, unknown>;
}

describe('versioned events: one table, a mapping per version', () => {
  const ds = payments('2');

  it('v1 integer cents become the decimal amount, exactly (never through a double)', () => {
    expect(parse(ds, '{"id":"a","version":1,"amount_cents":1234}')).toMatchObject({ amount: 12.34 });
    const r = compileRowParser(ds).parseLine('{"id":"a","version":1,"amount_cents":-99999999999999999}');
    expect(r.ok && r.line).toContain('"amount":-999999999999999.99');
    expect(parse(ds, '{"id":"a","version":1,"amount_cents":"-5"}')).toMatchObject({ amount: -0.05 });
    expect(parse(ds, '{"id":"a","version":1,"amount_cents":0}')).toMatchObject({ amount: 0 });
    // The exact reader path (the key occurs twice, so its text is not found alone).
    const twice = '{"id":"a","version":1,"note":{"amount_cents":1},"amount_cents":123456789012345678}';
    const t = compileRowParser(ds).parseLine(twice);
    expect(t.ok && t.line).toContain('"amount":1234567890123456.78');
  });

  it('v2 reads the columns as declared; a version given as a string or 2.0 is the same version', () => {
    expect(parse(ds, '{"id":"a","version":2,"amount":12.34}')).toMatchObject({ amount: 12.34 });
    expect(parse(ds, '{"id":"a","version":"2","amount":1}')).toMatchObject({ amount: 1 });
    expect(parse(ds, '{"id":"a","version":2.0,"amount":1}')).toMatchObject({ amount: 1 });
    // A v2 event's amount_cents is not read.
    expect(parse(ds, '{"id":"a","version":2,"amount":3,"amount_cents":1}')).toMatchObject({ amount: 3 });
  });

  it('an event without a version is `missing` (here v2); without `missing` it is quarantined', () => {
    expect(parse(ds, '{"id":"a","amount":7}')).toMatchObject({ amount: 7 });
    expect(parse(ds, '{"id":"a","version":null,"amount":7}')).toMatchObject({ amount: 7 });
    expect(parse(payments(), '{"id":"a","amount":7}')).toEqual([
      'event: the event has no version at $.version and versions.missing is not set (known versions: 1, 2)',
    ]);
  });

  it('an unknown version is refused with the version seen and the versions known', () => {
    expect(parse(ds, '{"id":"a","version":3,"amount":7}')).toEqual([
      'event: unknown event version 3 at $.version (known versions: 1, 2)',
    ]);
    expect(parse(ds, '{"id":"a","version":"v2","amount":7}')).toEqual([
      'event: unknown event version "v2" at $.version (known versions: 1, 2)',
    ]);
    expect(parse(ds, '{"id":"a","version":true}')).toEqual([
      'event: unknown event version true at $.version (known versions: 1, 2)',
    ]);
  });

  it('a v1 amount_cents that is not an integer is refused naming the column, version and value', () => {
    expect(parse(ds, '{"id":"a","version":1,"amount_cents":12.5}')).toEqual([
      'amount: version 1 ($.amount_cents = 12.5, shift -2 -> 0.125): Decimal(18, 2) takes at most 2 digits after the point, got 0.125',
    ]);
    expect(parse(ds, '{"id":"a","version":1,"amount_cents":"lots"}')).toEqual([
      'amount: version 1 ($.amount_cents = string "lots", shift -2): expected a number (Decimal(18, 2)), got string "lots"',
    ]);
    expect(parse(ds, '{"id":"a","version":1,"amount":12}')).toEqual([
      'amount: version 1 reads $.amount_cents: missing, and the column has no default and is not Nullable',
    ]);
  });

  it('a version default replaces the column default; coercion rules stay the same', () => {
    const eur = payments('2', {
      '0': [
        { column: 'currency', defaultValue: 'EUR' },
        { column: 'units', json: path('$.qty'), shift: 3 },
      ],
    });
    expect(parse(eur, '{"id":"a","version":0,"amount":1,"qty":"1.5"}')).toMatchObject({
      currency: 'EUR',
      units: 1500,
    });
    expect(parse(eur, '{"id":"a","version":2,"amount":1,"qty":1}')).toMatchObject({
      currency: 'USD',
      units: null,
    });
    expect(parse(eur, '{"id":"a","version":0,"amount":1,"qty":1.2345}')).toEqual([
      'units: version 0 ($.qty = 1.2345, shift 3 -> 1234.5): expected an integer (Int64), got 1234.5: it has a fraction',
    ]);
    expect(parse(eur, '{"id":"a","version":0,"amount":"1.234"}')).toEqual([
      'amount: Decimal(18, 2) takes at most 2 digits after the point, got string "1.234"',
    ]);
  });

  it('the dedup key comes from the mapped row; a non-object event is refused before its version', () => {
    const r = compileRowParser(ds).parseLine('{"id":"k1","version":1,"amount_cents":5}');
    expect(r.ok && r.key).toBe('k1');
    expect(parse(ds, '[1]')).toEqual(['event: the event is not a JSON object (got an array)']);
  });
});

describe('shiftDecimal', () => {
  it('moves the point on the digits', () => {
    expect(shiftDecimal('1234', -2)).toBe('12.34');
    expect(shiftDecimal('-5', -2)).toBe('-0.05');
    expect(shiftDecimal('0.5', 1)).toBe('5');
    expect(shiftDecimal('1.5e1', 1)).toBe('150');
    expect(shiftDecimal('-0', -2)).toBe('0');
    expect(shiftDecimal('123456789012345678901234567890', -2)).toBe('1234567890123456789012345678.9');
    expect(shiftDecimal('0.1', -1)).toBe('0.01');
    expect(shiftDecimal('abc', 1)).toBeUndefined();
  });
});

describe('shiftDecimal agrees with the general path on whole numbers', () => {
  it('for every shift from -6 to -1 and assorted integers', () => {
    for (const n of ['0', '-0', '7', '-7', '10', '100', '-100', '123456', '000123', '99999999999999999999']) {
      for (let k = 1; k <= 6; k++) {
        expect(shiftDecimal(n, -k), `${n} shift -${k}`).toBe(shiftDecimal(`${n}.0`, -k));
      }
    }
  });
});
