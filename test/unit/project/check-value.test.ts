import { describe, expect, it } from 'vitest';
import { checkValue, defaultExpression } from '../../../src/project/check-value.ts';
import type { TypeNode } from '../../../src/project/model.ts';
import { parseType } from '../../../src/project/parse-type.ts';

const t = (s: string): TypeNode => {
  const r = parseType(s);
  if (!r.ok) throw new Error(r.message);
  return r.type;
};

describe('checkValue', () => {
  it.each([
    ['String', 'USD', 'USD'],
    ['String', 7, '7'],
    ['LowCardinality(String)', 'x', 'x'],
    ['Nullable(String)', null, null],
    ['FixedString(3)', 'abc', 'abc'],
    ['UInt8', 255, 255],
    ['Int8', -128, -128],
    ['Int64', '9223372036854775807', '9223372036854775807'],
    ['UInt64', '42', 42],
    ['Float64', 1.5, 1.5],
    ['Decimal(18, 2)', 12.34, 12.34],
    ['Decimal(18, 2)', '1234567890123456.78', '1234567890123456.78'],
    ['Decimal(5, 2)', '0.10', '0.10'],
    ['Bool', true, true],
    ['Date', '2024-02-29', '2024-02-29'],
    ['DateTime', '2024-03-12 14:30:00', '2024-03-12 14:30:00'],
    ['DateTime', '2024-03-12T14:30:00Z', '2024-03-12T14:30:00Z'],
    ['DateTime', '2024-03-12T14:30:00.250+02:00', '2024-03-12T14:30:00.250+02:00'],
    ['DateTime', 1700000000, 1700000000],
    ['Date32', '1900-01-01', '1900-01-01'],
    ["DateTime64(3, 'UTC')", '2024-03-12 14:30:00.123', '2024-03-12 14:30:00.123'],
    ['UUID', '123e4567-e89b-12d3-a456-426614174000', '123e4567-e89b-12d3-a456-426614174000'],
    ['IPv4', '10.0.0.1', '10.0.0.1'],
    ['IPv6', '::1', '::1'],
    ["Enum8('a' = 1, 'b' = 2)", 'b', 'b'],
    ['Array(UInt8)', [1, 2], [1, 2]],
  ])('%s accepts %j', (type, value, normalized) => {
    expect(checkValue(t(type), value)).toEqual({ ok: true, value: normalized });
  });

  it.each([
    ['String', null, 'expected a String value, got nothing'],
    ['String', [1], 'expected a string, got a list'],
    ['FixedString(2)', 'abc', 'expected a string of at most 2 bytes, got "abc"'],
    ['UInt8', 256, 'expected an integer from 0 to 255 (UInt8), got 256'],
    ['UInt8', -1, 'expected an integer from 0 to 255 (UInt8), got -1'],
    ['Int32', 1.5, 'expected an integer from -2147483648 to 2147483647 (Int32), got 1.5'],
    ['Int64', 2 ** 60, expect.stringContaining('write integers this large in quotes')],
    ['Float32', 'x', 'expected a number, got "x"'],
    ['Decimal(5, 2)', 1234.5, expect.stringContaining('at most 3 digits before the point and 2 after')],
    ['Decimal(5, 2)', '1.234', expect.stringContaining('expected a decimal number')],
    ['Bool', 'yes', 'expected true or false, got "yes"'],
    ['Date', '2023-02-29', 'expected a date such as 2024-03-12 (years 1970 to 2105), got "2023-02-29"'],
    ['Date', '12/03/2024', 'expected a date such as 2024-03-12 (years 1970 to 2105), got "12/03/2024"'],
    ['DateTime', '2024-03-12 25:00:00', expect.stringContaining('expected a date and time')],
    ['DateTime', '2024-03-12 10:00:00.5', expect.stringContaining('expected a date and time')],
    ['DateTime', '2024-03-12', expect.stringContaining('expected a date and time')],
    ['DateTime', '2024-03-12T10:00:00', expect.stringContaining('expected a date and time')],
    ['DateTime', '2200-01-01 00:00:00', expect.stringContaining('expected a date and time')],
    ['Date', '1969-12-31', 'expected a date such as 2024-03-12 (years 1970 to 2105), got "1969-12-31"'],
    ['UUID', 'nope', 'expected a UUID, got "nope"'],
    ['IPv4', '300.1.1.1', expect.stringContaining('IPv4')],
    ["Enum8('a' = 1)", 'c', 'expected one of \'a\', got "c"'],
    ['Array(UInt8)', [1, 'x'], 'item 2: expected an integer from 0 to 255 (UInt8), got "x"'],
    ['Array(UInt8)', 1, 'expected a list (Array(UInt8)), got 1'],
    ['Map(String, String)', 'x', 'values of type Map(String, String) cannot be written in YAML'],
  ])('%s rejects %j', (type, value, message) => {
    expect(checkValue(t(type), value)).toEqual({ ok: false, message });
  });
});

describe('checkValue with strictStrings (column defaults)', () => {
  it.each([
    ['String', 5, '5'],
    ['String', true, 'true'],
    ['Nullable(String)', 5, '5'],
    ['LowCardinality(String)', false, 'false'],
    ['LowCardinality(Nullable(String))', 1.5, '1.5'],
  ])('%s refuses %j, and says how to write the text', (type, value, text) => {
    expect(checkValue(t(type), value, { strictStrings: true })).toEqual({
      ok: false,
      message: `expected a string, got ${text}`,
      hint: `write "${text}" in quotes for the text ${text}`,
    });
  });

  it('refuses a number in a list of strings, and one for FixedString (as without the option)', () => {
    expect(checkValue(t('Array(String)'), ['a', 7], { strictStrings: true })).toMatchObject({
      ok: false,
      message: 'item 2: expected a string, got 7',
    });
    expect(checkValue(t('FixedString(3)'), 5, { strictStrings: true })).toEqual({
      ok: false,
      message: 'expected a string, got 5',
    });
  });

  it('takes strings, null for Nullable, and other types as before', () => {
    expect(checkValue(t('String'), '5', { strictStrings: true })).toEqual({ ok: true, value: '5' });
    expect(checkValue(t('String'), '', { strictStrings: true })).toEqual({ ok: true, value: '' });
    expect(checkValue(t('Nullable(String)'), null, { strictStrings: true })).toEqual({
      ok: true,
      value: null,
    });
    expect(checkValue(t('Array(String)'), [], { strictStrings: true })).toEqual({ ok: true, value: [] });
    expect(checkValue(t('UInt8'), 5, { strictStrings: true })).toEqual({ ok: true, value: 5 });
  });
});

describe('defaultExpression', () => {
  it.each([
    ['String', 'USD', "'USD'"],
    ['String', "it's \\", "'it\\'s \\\\'"],
    ['Nullable(String)', null, 'NULL'],
    ['UInt8', 3, '3'],
    ['Int64', '9223372036854775807', '9223372036854775807'],
    ['Decimal(18, 2)', '1.50', '1.50'],
    ['Bool', true, '1'],
    ['Date', '2024-01-01', "'2024-01-01'"],
    ['DateTime', '2024-01-01 00:00:00', "parseDateTimeBestEffort('2024-01-01 00:00:00')"],
    ['Array(String)', ['a', 'b'], "['a', 'b']"],
  ])('%s %j', (type, value, sql) => {
    expect(defaultExpression(t(type), value)).toBe(sql);
  });
});
