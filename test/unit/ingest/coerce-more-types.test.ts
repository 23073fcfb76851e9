/**
 * The coercion rules of DateTime64, IPv4, IPv6, Tuple and Map: what each accepts, the exact text
 * it writes, and the message of each refusal.
 */
import { describe, expect, it } from 'vitest';
import { compileType, Refusal } from '../../../src/ingest/coerce-value.ts';
import type { TypeNode } from '../../../src/project/model.ts';
import { parseType } from '../../../src/project/parse-type.ts';
import { ExactNumber } from '../../../src/util/exact-json.ts';

function type(text: string): TypeNode {
  const r = parseType(text);
  if (!r.ok) throw new Error(r.message);
  return r.type;
}

function coerce(text: string, v: Parameters<ReturnType<typeof compileType>['coerce']>[0]): string {
  const r = compileType(type(text)).coerce(v);
  return r instanceof Refusal ? `refused: ${r.message}` : r;
}

describe('DateTime64', () => {
  it('writes epoch seconds with exactly the precision digits, from text, ISO with a zone, or epoch numbers', () => {
    expect(coerce('DateTime64(3)', '2019-01-01 00:00:00.123')).toBe('"1546300800.123"');
    expect(coerce('DateTime64(6)', '2019-01-01T00:00:00.5Z')).toBe('"1546300800.500000"');
    expect(coerce('DateTime64(3)', '2019-01-01T01:00:00+01:00')).toBe('"1546300800.000"');
    expect(coerce('DateTime64(0)', '2019-01-01 00:00:00')).toBe('"1546300800"');
    expect(coerce("DateTime64(3, 'Asia/Tokyo')", '2019-01-01 09:00:00.250')).toBe('"1546300800.250"');
    expect(coerce('DateTime64(3)', 1546300800.5)).toBe('"1546300800.500"');
    expect(coerce('DateTime64(3)', new ExactNumber('1546300800.123'))).toBe('"1546300800.123"');
    // From 1e11 on, an epoch number is milliseconds (as for DateTime).
    expect(coerce('DateTime64(3)', 1546300800123)).toBe('"1546300800.123"');
    expect(coerce('DateTime64(2)', '1546300800.10')).toBe('"1546300800.10"');
    // Past DateTime's 2106 limit.
    expect(coerce('DateTime64(0)', '2200-01-01 00:00:00')).toBe(`"${Date.UTC(2200, 0, 1) / 1000}"`);
  });

  it('refuses a fraction finer than the precision, dates out of range, and other shapes', () => {
    expect(coerce('DateTime64(3)', '2019-01-01 00:00:00.1234')).toBe(
      'refused: DateTime64(3) keeps 3 digits after the second, got string "2019-01-01 00:00:00.1234"',
    );
    // Extra zeros lose nothing.
    expect(coerce('DateTime64(3)', '2019-01-01 00:00:00.123000')).toBe('"1546300800.123"');
    expect(coerce('DateTime64(3)', '1969-12-31 23:59:59')).toMatch(
      /^refused: .* is out of range for DateTime64\(3\)/,
    );
    expect(coerce('DateTime64(3)', '2300-01-01 00:00:00')).toMatch(/out of range/);
    expect(coerce('DateTime64(3)', -1)).toMatch(/out of range/);
    expect(coerce('DateTime64(3)', '2019-02-30 00:00:00')).toMatch(/^refused: expected a date and time/);
    expect(coerce('DateTime64(3)', true)).toMatch(/^refused: expected a date and time .* got true$/);
  });
});

describe('IPv4 and IPv6', () => {
  it('accepts dotted quads for IPv4 only', () => {
    expect(coerce('IPv4', '10.0.0.1')).toBe('"10.0.0.1"');
    expect(coerce('IPv4', '256.0.0.1')).toBe(
      'refused: expected an IPv4 address (a.b.c.d), got string "256.0.0.1"',
    );
    expect(coerce('IPv4', '010.0.0.1')).toMatch(/^refused/);
    expect(coerce('IPv4', 167772161)).toMatch(/^refused/);
  });

  it('accepts IPv6 text, and an IPv4 address as its mapped form', () => {
    expect(coerce('IPv6', '2001:db8::1')).toBe('"2001:db8::1"');
    expect(coerce('IPv6', '::ffff:1.2.3.4')).toBe('"::ffff:1.2.3.4"');
    expect(coerce('IPv6', '1.2.3.4')).toBe('"::ffff:1.2.3.4"');
    expect(coerce('IPv6', 'fe80::1%eth0')).toMatch(/^refused: expected an IPv6 address/);
    expect(coerce('IPv6', '2001:db8:::1')).toMatch(/^refused/);
  });
});

describe('Tuple', () => {
  it('reads an unnamed tuple from an array, each element by its type', () => {
    expect(coerce('Tuple(String, UInt8)', ['a', 1])).toBe('["a",1]');
    expect(coerce('Tuple(String, UInt8)', ['a', 300])).toBe(
      'refused: element 2: expected an integer from 0 to 255 (UInt8), got number 300',
    );
    expect(coerce('Tuple(String, UInt8)', ['a'])).toBe(
      'refused: expected 2 elements for Tuple(String, UInt8), got 1',
    );
    expect(coerce('Tuple(String, Nullable(UInt8))', ['a', null])).toBe('["a",null]');
    expect(coerce('Tuple(String, UInt8)', { a: 1 })).toMatch(/^refused: expected an array for Tuple/);
  });

  it('reads a named tuple from an object (or an array in order) and writes an array in order', () => {
    expect(coerce('Tuple(name String, age UInt8)', { age: 3, name: 'x' })).toBe('["x",3]');
    expect(coerce('Tuple(name String, age UInt8)', ['x', 3])).toBe('["x",3]');
    expect(coerce('Tuple(name String, age UInt8)', { name: 'x' })).toBe(
      'refused: age: missing, and UInt8 is not Nullable',
    );
    expect(coerce('Tuple(name String, age UInt8)', { name: 'x', age: 3, extra: 1 })).toBe(
      'refused: Tuple(name String, age UInt8) has no element "extra"',
    );
  });
});

describe('Map', () => {
  it('reads an object: keys by the key type (from their text), values by the value type', () => {
    expect(coerce('Map(String, UInt32)', { a: 1, b: 2 })).toBe('{"a":1,"b":2}');
    expect(coerce('Map(UInt16, String)', { '7': 'x' })).toBe('{"7":"x"}');
    expect(coerce('Map(String, Nullable(Float64))', { a: null })).toBe('{"a":null}');
    expect(coerce('Map(String, UInt32)', {})).toBe('{}');
  });

  it('names the key of a refused key or value', () => {
    expect(coerce('Map(UInt16, String)', { x: 'y' })).toBe(
      'refused: key "x": expected an integer (UInt16), got string "x"',
    );
    expect(coerce('Map(String, UInt32)', { a: -1 })).toBe(
      'refused: key "a": expected an integer from 0 to 4294967295 (UInt32), got number -1',
    );
    expect(coerce('Map(String, UInt32)', { a: null })).toBe(
      'refused: key "a": null, and UInt32 is not Nullable',
    );
    expect(coerce('Map(String, UInt32)', [1])).toBe(
      'refused: expected an object for Map(String, UInt32), got an array',
    );
  });
});
