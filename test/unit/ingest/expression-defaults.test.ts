/**
 * Values ClickHouse computes for default_expr columns are inserted as Tally inserts any value:
 * named tuples (which newer servers write as objects) become arrays, at any depth.
 */
import { describe, expect, it } from 'vitest';
import { tuplesAsArrays } from '../../../src/ingest/expression-defaults.ts';
import type { TypeNode } from '../../../src/project/model.ts';
import { parseType } from '../../../src/project/parse-type.ts';
import { parseJsonExact, stringifyJson } from '../../../src/util/exact-json.ts';

function type(text: string): TypeNode {
  const r = parseType(text);
  if (!r.ok) throw new Error(r.message);
  return r.type;
}

/** The value ClickHouse wrote (JSON text) as Tally inserts it. */
function asInserted(typeText: string, json: string): string {
  return stringifyJson(tuplesAsArrays(parseJsonExact(json), type(typeText)));
}

describe('tuplesAsArrays', () => {
  it('writes a named tuple given as an object as an array, in element order', () => {
    expect(asInserted('Tuple(a UInt8, b Nullable(String))', '{"a":0,"b":null}')).toBe('[0,null]');
    expect(asInserted('Tuple(a UInt8, b Nullable(String))', '{"b":"x","a":7}')).toBe('[7,"x"]');
  });

  it('leaves arrays (18.16, unnamed tuples) and other values as they are, exact digits kept', () => {
    expect(asInserted('Tuple(a UInt8, b Nullable(String))', '[0,null]')).toBe('[0,null]');
    expect(asInserted('Tuple(UInt64, String)', '["18446744073709551615","x"]')).toBe(
      '["18446744073709551615","x"]',
    );
    expect(asInserted('Decimal(38, 10)', '12345678901234567890.0123456789')).toBe(
      '12345678901234567890.0123456789',
    );
    expect(asInserted('Map(String, UInt8)', '{"k":1}')).toBe('{"k":1}');
    expect(asInserted('Nullable(String)', 'null')).toBe('null');
  });

  it('reaches named tuples inside Nullable, LowCardinality, Array, Map and other tuples', () => {
    expect(asInserted('Array(Tuple(a UInt8, b String))', '[{"a":1,"b":"x"},{"a":2,"b":"y"}]')).toBe(
      '[[1,"x"],[2,"y"]]',
    );
    expect(asInserted('Map(String, Tuple(a UInt8, b String))', '{"k":{"a":1,"b":"x"}}')).toBe(
      '{"k":[1,"x"]}',
    );
    expect(asInserted('Tuple(p Tuple(x Int32, y Int32), n String)', '{"p":{"x":1,"y":-1},"n":"a"}')).toBe(
      '[[1,-1],"a"]',
    );
    expect(asInserted('Tuple(Tuple(x Int32, y Int32), String)', '[{"x":1,"y":2},"a"]')).toBe('[[1,2],"a"]');
  });
});
