import { describe, expect, it } from 'vitest';
import { baseType, decimalShape, isNumericType, parseType } from '../../../src/project/parse-type.ts';

function text(t: string): string {
  const r = parseType(t);
  if (!r.ok) throw new Error(`${t}: ${r.message} at ${r.offset}`);
  return r.type.text;
}

function error(t: string): { message: string; offset: number; hint?: string } {
  const r = parseType(t);
  if (r.ok) throw new Error(`${t} parsed as ${r.type.text}`);
  return r;
}

describe('parseType: valid types and canonical text', () => {
  it.each([
    ['String', 'String'],
    ['  UInt64 ', 'UInt64'],
    ['Int8', 'Int8'],
    ['Int256', 'Int256'],
    ['UInt128', 'UInt128'],
    ['Float32', 'Float32'],
    ['Float64', 'Float64'],
    ['Bool', 'Bool'],
    ['Boolean', 'Bool'],
    ['Date', 'Date'],
    ['Date32', 'Date32'],
    ['DateTime', 'DateTime'],
    ["DateTime('UTC')", "DateTime('UTC')"],
    ["DateTime( 'Europe/Berlin' )", "DateTime('Europe/Berlin')"],
    ['DateTime64(3)', 'DateTime64(3)'],
    ["DateTime64(6,'UTC')", "DateTime64(6, 'UTC')"],
    ['UUID', 'UUID'],
    ['IPv4', 'IPv4'],
    ['IPv6', 'IPv6'],
    ['FixedString(16)', 'FixedString(16)'],
    ['Decimal(18,2)', 'Decimal(18, 2)'],
    ['Decimal( 18 , 2 )', 'Decimal(18, 2)'],
    ['Decimal(10)', 'Decimal(10, 0)'],
    ['Decimal32(4)', 'Decimal32(4)'],
    ['Decimal64(18)', 'Decimal64(18)'],
    ['Decimal128(38)', 'Decimal128(38)'],
    ['Decimal256(0)', 'Decimal256(0)'],
    ["Enum8('a' = 1, 'b' = 2)", "Enum8('a' = 1, 'b' = 2)"],
    ["Enum16('it''s'=-5,'b\\'c'=300)", "Enum16('it\\'s' = -5, 'b\\'c' = 300)"],
    ['Nullable(String)', 'Nullable(String)'],
    ['Nullable(Decimal(18, 2))', 'Nullable(Decimal(18, 2))'],
    ['LowCardinality(String)', 'LowCardinality(String)'],
    ['LowCardinality(Nullable(String))', 'LowCardinality(Nullable(String))'],
    ['Array(String)', 'Array(String)'],
    ['Array(Nullable(UInt8))', 'Array(Nullable(UInt8))'],
    ['Array(Array(Float64))', 'Array(Array(Float64))'],
    ['Array(Tuple(String, UInt8))', 'Array(Tuple(String, UInt8))'],
    ['Tuple(a String, b Nullable(UInt8))', 'Tuple(a String, b Nullable(UInt8))'],
    ['Map(String, UInt64)', 'Map(String, UInt64)'],
    ['Map(LowCardinality(String), Array(String))', 'Map(LowCardinality(String), Array(String))'],
    ['Nested(id UInt64, name String)', 'Nested(id UInt64, name String)'],
    ['AggregateFunction(argMax, String, DateTime)', 'AggregateFunction(argMax, String, DateTime)'],
    ['AggregateFunction(sum, Decimal(18, 2))', 'AggregateFunction(sum, Decimal(18, 2))'],
    ['AggregateFunction(count)', 'AggregateFunction(count)'],
    ['AggregateFunction(quantiles(0.5,0.9), Float64)', 'AggregateFunction(quantiles(0.5, 0.9), Float64)'],
    ['AggregateFunction(uniq, UInt64)', 'AggregateFunction(uniq, UInt64)'],
    ['SimpleAggregateFunction(sum, UInt64)', 'SimpleAggregateFunction(sum, UInt64)'],
  ])('%s', (input, expected) => {
    expect(text(input)).toBe(expected);
  });

  it('builds a typed tree', () => {
    const r = parseType("Tuple(id UInt64, at DateTime('UTC'))");
    expect(r).toEqual({
      ok: true,
      type: {
        name: 'Tuple',
        text: "Tuple(id UInt64, at DateTime('UTC'))",
        args: [
          { kind: 'type', field: 'id', type: { name: 'UInt64', args: [], text: 'UInt64' } },
          {
            kind: 'type',
            field: 'at',
            type: { name: 'DateTime', args: [{ kind: 'string', value: 'UTC' }], text: "DateTime('UTC')" },
          },
        ],
      },
    });
    const agg = parseType('AggregateFunction(quantiles(0.5, 0.9), Float64)');
    expect(agg.ok && agg.type.args[0]).toEqual({ kind: 'ident', value: 'quantiles', params: [0.5, 0.9] });
    const e = parseType("Enum8('a' = 1)");
    expect(e.ok && e.type.args).toEqual([{ kind: 'enum', name: 'a', value: 1 }]);
  });

  it('has helpers for what other modules ask of a type', () => {
    const t = (s: string) => {
      const r = parseType(s);
      if (!r.ok) throw new Error(r.message);
      return r.type;
    };
    expect(baseType(t('LowCardinality(Nullable(String))')).text).toBe('String');
    expect(isNumericType(t('Decimal64(4)'))).toBe(true);
    expect(isNumericType(t('String'))).toBe(false);
    expect(decimalShape(t('Decimal64(4)'))).toEqual({ precision: 18, scale: 4 });
    expect(decimalShape(t('Decimal(9, 3)'))).toEqual({ precision: 9, scale: 3 });
  });
});

describe('parseType: errors name the bad part', () => {
  it('suggests a name for a misspelt type', () => {
    expect(error('Strng')).toMatchObject({
      message: 'unknown ClickHouse type `Strng` (did you mean `String`?)',
      offset: 0,
    });
    expect(error('Nullable(Strng)')).toMatchObject({
      message: 'unknown ClickHouse type `Strng` (did you mean `String`?)',
      offset: 9,
    });
    expect(error('string').message).toBe('unknown ClickHouse type `string` (did you mean `String`?)');
    expect(error('Datetime').message).toContain('did you mean `DateTime`?');
    expect(error('Array(UInt65)').message).toContain('did you mean `UInt64`?');
    expect(error('Varchar').message).toBe('unknown ClickHouse type `Varchar`');
  });

  it.each([
    [
      'Nullable(Array(String))',
      'Nullable cannot contain Array',
      9,
      'write Array(Nullable(...)) to allow NULL elements',
    ],
    [
      'Nullable(LowCardinality(String))',
      'Nullable cannot contain LowCardinality',
      9,
      'write LowCardinality(Nullable(...)) instead',
    ],
    ['Nullable(Nullable(String))', 'Nullable cannot contain Nullable', 9, undefined],
    ['Nullable(Map(String, String))', 'Nullable cannot contain Map', 9, undefined],
    ['Nullable(Tuple(String))', 'Nullable cannot contain Tuple', 9, undefined],
    ['Nullable(AggregateFunction(sum, UInt8))', 'Nullable cannot contain AggregateFunction', 9, undefined],
    ['LowCardinality(Array(String))', 'LowCardinality cannot contain Array(String)', 15, expect.any(String)],
    ['LowCardinality(Decimal(9, 2))', 'LowCardinality cannot contain Decimal(9, 2)', 15, expect.any(String)],
    ['Map(Float64, String)', 'Map keys cannot be Float64', 4, expect.any(String)],
    ['Map(Nullable(String), String)', 'Map keys cannot be Nullable(String)', 4, expect.any(String)],
    [
      'Array(Nested(a UInt8))',
      "Nested is only allowed as a column's own type, not inside Array",
      6,
      undefined,
    ],
  ])('%s', (input, message, offset, hint) => {
    const e = error(input);
    expect(e.message).toBe(message);
    expect(e.offset).toBe(offset);
    expect(e.hint).toEqual(hint);
  });

  it.each([
    ['String(10)', 'String takes no arguments', 6],
    ['Decimal', 'Decimal needs arguments, e.g. Decimal(18, 2)', 0],
    ['Decimal()', 'Decimal() needs arguments, e.g. Decimal(18, 2)', 8],
    ['Decimal(18, 2, 1)', 'Decimal takes 1 or 2 arguments, e.g. Decimal(18, 2)', 0],
    ['Decimal(77, 2)', 'Decimal: the precision must be an integer from 1 to 76', 8],
    ['Decimal(10, 11)', 'Decimal: the scale must be an integer from 0 to 10', 12],
    ['Decimal32(10)', 'Decimal32: the scale must be an integer from 0 to 9', 10],
    ['Decimal(a, 2)', 'expected a number in Decimal, found `a`', 8],
    ['FixedString(0)', 'FixedString: the length must be an integer from 1 to 1000000', 12],
    ['FixedString(1.5)', 'expected an integer in FixedString', 12],
    ['DateTime(UTC)', "expected a quoted string in DateTime (a time zone such as 'UTC'), found `UTC`", 9],
    ["DateTime('Mars/Olympus')", "unknown time zone 'Mars/Olympus'", 9],
    ['DateTime64(10)', 'DateTime64: the precision must be an integer from 0 to 9', 11],
    ["Enum8('a')", "expected `=` and a number after 'a' in Enum8", 9],
    ["Enum8('a' = 1, 'a' = 2)", "Enum8: 'a' appears twice", 15],
    ["Enum8('a' = 1, 'b' = 1)", 'Enum8: the value 1 appears twice', 15],
    ["Enum8('a' = 200)", "Enum8: the value of 'a' must be an integer from -128 to 127", 6],
    ['Array(String', '`(` after Array is never closed', 5],
    ['Array(String, UInt8)', 'Array takes 1 argument, e.g. Array(String)', 0],
    ['Array(String))', 'unexpected `)` after the type', 13],
    ['Map(String)', 'Map takes 2 arguments, e.g. Map(String, UInt64)', 0],
    ['Tuple(a String, UInt8)', 'Tuple: name all elements or none', 0],
    ['Tuple(a String, a UInt8)', 'Tuple: element `a` appears twice', 16],
    ['Nested(String)', 'Nested elements need a name and a type, e.g. Nested(id UInt64, name String)', 7],
    [
      'SimpleAggregateFunction(sum)',
      'SimpleAggregateFunction takes 2 arguments, e.g. SimpleAggregateFunction(sum, UInt64)',
      0,
    ],
    [
      'SimpleAggregateFunction(quantile(0.5), Float64)',
      'SimpleAggregateFunction takes a function without parameters',
      32,
    ],
    [
      'AggregateFunction(1, UInt8)',
      'AggregateFunction starts with an aggregate function name such as sum or argMax',
      18,
    ],
    ['', 'expected a type name', 0],
    ['Array(,)', 'expected a type name, found `,`', 6],
    ['String!', 'unexpected `!` in type', 6],
    ["Enum8('a = 1)", 'unterminated string', 6],
  ])('%s', (input, message, offset) => {
    const e = error(input);
    expect(e.message).toBe(message);
    expect(e.offset).toBe(offset);
  });
});
