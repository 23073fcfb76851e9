import { describe, expect, it } from 'vitest';
import { capabilitiesFor } from '../../../src/clickhouse/capabilities.ts';
import { compileType, Refusal, type ServerLimits } from '../../../src/ingest/coerce-value.ts';
import { compileRowParser } from '../../../src/ingest/row-parser.ts';
import { parseType } from '../../../src/project/parse-type.ts';
import { ExactNumber, parseJsonExact } from '../../../src/util/exact-json.ts';
import { dataSource, typeNode } from './type-node.ts';

/** Coerces the value written as JSON text (exact numbers) to `type`: the insert text or the refusal message. */
function c(type: string, json: string): string {
  const v = parseJsonExact(json);
  const r = compileType(typeNode(type)).coerce(v as never);
  return r instanceof Refusal ? `refused: ${r.message}` : r;
}

/** The same through JSON.parse (the fast path), which must agree wherever it is used. */
function fast(type: string, json: string): string {
  const r = compileType(typeNode(type)).coerce(JSON.parse(json));
  return r instanceof Refusal ? `refused: ${r.message}` : r;
}

describe('coercion: String', () => {
  it('takes strings, and objects or arrays as their JSON text', () => {
    expect(c('String', '"héllo \\"x\\""')).toBe('"héllo \\"x\\""');
    expect(c('String', '{"a":[1,2.50]}')).toBe(JSON.stringify('{"a":[1,2.50]}'));
    expect(c('String', '[]')).toBe('"[]"');
  });
  it('refuses numbers and booleans (no silent stringifying)', () => {
    expect(c('String', '42')).toBe('refused: expected a string, got number 42');
    expect(c('String', 'true')).toBe('refused: expected a string, got true');
  });
  it('FixedString(N): at most N bytes', () => {
    expect(c('FixedString(3)', '"abc"')).toBe('"abc"');
    expect(c('FixedString(3)', '"äbc"')).toBe(
      'refused: expected a string of at most 3 bytes, got string "äbc" (4 bytes)',
    );
    expect(c('FixedString(3)', '1')).toBe('refused: expected a string of at most 3 bytes, got number 1');
  });
});

describe('coercion: integers', () => {
  it('takes JSON integers and integer strings', () => {
    expect(c('Int32', '-17')).toBe('-17');
    expect(c('Int32', '"-17"')).toBe('-17');
    expect(c('UInt8', '255')).toBe('255');
  });
  it('accepts whole numbers in any notation (1.0, 1e3)', () => {
    expect(c('Int32', '1.0')).toBe('1');
    expect(c('Int32', '1e3')).toBe('1000');
    expect(fast('Int32', '1e3')).toBe('1000');
  });
  it('refuses a fraction', () => {
    expect(c('Int32', '1.5')).toBe('refused: expected an integer (Int32), got 1.5: it has a fraction');
    expect(fast('Int32', '1.5')).toBe(
      'refused: expected an integer (Int32), got number 1.5: it has a fraction',
    );
  });
  it('checks the range of every width', () => {
    expect(c('Int8', '128')).toBe('refused: expected an integer from -128 to 127 (Int8), got 128');
    expect(fast('Int8', '-129')).toBe(
      'refused: expected an integer from -128 to 127 (Int8), got number -129',
    );
    expect(c('UInt16', '-1')).toBe('refused: expected an integer from 0 to 65535 (UInt16), got -1');
    expect(c('UInt32', '"4294967296"')).toBe(
      'refused: expected an integer from 0 to 4294967295 (UInt32), got string "4294967296"',
    );
  });
  it('keeps 64-bit values exact, as numbers or strings', () => {
    expect(c('Int64', '-9223372036854775808')).toBe('-9223372036854775808');
    expect(c('UInt64', '18446744073709551615')).toBe('18446744073709551615');
    expect(c('UInt64', '"18446744073709551615"')).toBe('18446744073709551615');
    expect(c('Int64', '9223372036854775808')).toBe(
      'refused: expected an integer from -9223372036854775808 to 9223372036854775807 (Int64), got 9223372036854775808',
    );
    expect(c('UInt128', '340282366920938463463374607431768211455')).toBe(
      '340282366920938463463374607431768211455',
    );
  });
  it('refuses non-integer strings, leading zeros, spaces and other values', () => {
    expect(c('Int32', '"12a"')).toBe('refused: expected an integer (Int32), got string "12a"');
    expect(c('Int32', '"007"')).toBe('refused: expected an integer (Int32), got string "007"');
    expect(c('Int32', '" 7"')).toBe('refused: expected an integer (Int32), got string " 7"');
    expect(c('Int32', '"1.0"')).toBe('refused: expected an integer (Int32), got string "1.0"');
    expect(c('Int32', 'true')).toBe('refused: expected an integer (Int32), got true');
    expect(c('Int32', '[1]')).toBe('refused: expected an integer (Int32), got an array');
  });
  it('UInt8 also takes true and false as 1 and 0', () => {
    expect(c('UInt8', 'true')).toBe('1');
    expect(c('UInt8', 'false')).toBe('0');
  });
});

describe('coercion: floats', () => {
  it('takes numbers and numeric strings', () => {
    expect(c('Float64', '1.5')).toBe('1.5');
    expect(c('Float64', '"-2.5e3"')).toBe('-2500');
    expect(c('Float32', '3')).toBe('3');
  });
  it('refuses other values and out-of-range numbers', () => {
    expect(c('Float64', '"NaN"')).toBe('refused: expected a number (Float64), got string "NaN"');
    expect(c('Float64', 'null')).toBe('refused: expected a number (Float64), got null');
    expect(c('Float64', '1e400')).toBe('refused: 1e400 is out of range for Float64');
    expect(c('Float32', '1e39')).toBe('refused: 1e39 is out of range for Float32');
  });
});

describe('coercion: Decimal', () => {
  it('keeps exact digits, from numbers and numeric strings', () => {
    expect(c('Decimal(18, 2)', '12.34')).toBe('12.34');
    expect(c('Decimal(38, 10)', '1234567890123456789012345678.0123456789')).toBe(
      '1234567890123456789012345678.0123456789',
    );
    expect(c('Decimal(18, 2)', '"-0.50"')).toBe('-0.5');
    expect(c('Decimal(18, 2)', '1.5e2')).toBe('150');
    expect(c('Decimal(18, 2)', '-0.00')).toBe('0');
    expect(c('Decimal64(4)', '0.0001')).toBe('0.0001');
    expect(fast('Decimal(18, 2)', '0.07')).toBe('0.07');
  });
  it('accepts trailing zeros beyond the scale (they add no digits)', () => {
    expect(c('Decimal(18, 2)', '1.2300')).toBe('1.23');
  });
  it('refuses too many digits after or before the point', () => {
    expect(c('Decimal(18, 2)', '1.234')).toBe(
      'refused: Decimal(18, 2) takes at most 2 digits after the point, got 1.234',
    );
    expect(c('Decimal(18, 2)', '0.1000000000000000055511151231257827')).toBe(
      'refused: Decimal(18, 2) takes at most 2 digits after the point, got 0.1000000000000000055511151231257827',
    );
    expect(c('Decimal(5, 2)', '1234')).toBe(
      'refused: Decimal(5, 2) takes at most 3 digits before the point, got 1234',
    );
    expect(c('Decimal(5, 2)', '"1e3"')).toBe(
      'refused: Decimal(5, 2) takes at most 3 digits before the point, got string "1e3"',
    );
  });
  it('refuses what is not a number', () => {
    expect(c('Decimal(18, 2)', '"12,5"')).toBe(
      'refused: expected a number (Decimal(18, 2)), got string "12,5"',
    );
    expect(c('Decimal(18, 2)', 'true')).toBe('refused: expected a number (Decimal(18, 2)), got true');
  });
});

describe('coercion: Bool, Date, UUID, Enum', () => {
  it('Bool takes true and false only', () => {
    expect(c('Bool', 'true')).toBe('true');
    expect(c('Bool', 'false')).toBe('false');
    expect(c('Bool', '1')).toBe('refused: expected true or false, got number 1');
    expect(c('Bool', '"true"')).toBe('refused: expected true or false, got string "true"');
  });
  it('Date takes YYYY-MM-DD within range', () => {
    expect(c('Date', '"2024-02-29"')).toBe('"2024-02-29"');
    expect(c('Date', '"2023-02-29"')).toBe(
      'refused: expected a date as YYYY-MM-DD (Date), got string "2023-02-29"',
    );
    expect(c('Date', '"2024-02-29T00:00:00Z"')).toBe(
      'refused: expected a date as YYYY-MM-DD (Date), got string "2024-02-29T00:00:00Z"',
    );
    expect(c('Date', '20240229')).toBe('refused: expected a date as YYYY-MM-DD (Date), got number 20240229');
    expect(c('Date', '"1969-12-31"')).toBe(
      'refused: string "1969-12-31" is out of range for Date (1970-01-01 to 2149-06-06)',
    );
    expect(c('Date32', '"1969-12-31"')).toBe('"1969-12-31"');
  });
  it('UUID: canonical form, lower-cased', () => {
    expect(c('UUID', '"0F8FAD5B-D9CB-469F-A165-70867728950E"')).toBe(
      '"0f8fad5b-d9cb-469f-a165-70867728950e"',
    );
    expect(c('UUID', '"0f8fad5bd9cb469fa16570867728950e"')).toBe(
      'refused: expected a UUID (8-4-4-4-12 hex digits), got string "0f8fad5bd9cb469fa16570867728950e"',
    );
  });
  it('Enum: a name, or a value mapped to its name', () => {
    const t = "Enum8('open' = 1, 'closed' = 2)";
    expect(c(t, '"open"')).toBe('"open"');
    expect(c(t, '2')).toBe('"closed"');
    expect(c(t, '"Open"')).toBe("refused: expected one of 'open', 'closed', got string \"Open\"");
  });
});

describe('coercion: DateTime', () => {
  const t = 'DateTime';
  it('reads YYYY-MM-DD hh:mm:ss (and with T) as UTC, whatever the server zone', () => {
    expect(c(t, '"2024-01-01 00:00:00"')).toBe('1704067200');
    expect(c(t, '"2024-01-01T00:00:01"')).toBe('1704067201');
  });
  it('reads ISO-8601 with Z or an offset, converted to UTC; drops fractions of a second', () => {
    expect(c(t, '"2024-01-01T00:00:00Z"')).toBe('1704067200');
    expect(c(t, '"2024-01-01T02:00:00+02:00"')).toBe('1704067200');
    expect(c(t, '"2023-12-31T19:00:00-0500"')).toBe('1704067200');
    expect(c(t, '"2024-01-01T05:30:00+05"')).toBe('1704069000');
    expect(c(t, '"2024-01-01T00:00:00.999Z"')).toBe('1704067200');
  });
  it('reads epoch seconds below 1e11 and milliseconds from 1e11, as numbers or digit strings', () => {
    expect(c(t, '1704067200')).toBe('1704067200');
    expect(c(t, '1704067200.75')).toBe('1704067200');
    expect(c(t, '1704067200123')).toBe('1704067200');
    expect(c(t, '"1704067200123"')).toBe('1704067200');
    expect(fast(t, '1704067200123')).toBe('1704067200');
  });
  it('reads zone-less times in the column time zone when it has one', () => {
    expect(c("DateTime('Europe/Berlin')", '"2024-07-01 12:00:00"')).toBe(
      String(Date.UTC(2024, 6, 1, 10) / 1000),
    );
    expect(c("DateTime('Europe/Berlin')", '"2024-01-01 12:00:00"')).toBe(
      String(Date.UTC(2024, 0, 1, 11) / 1000),
    );
    expect(c("DateTime('Europe/Berlin')", '"2024-07-01T12:00:00Z"')).toBe(
      String(Date.UTC(2024, 6, 1, 12) / 1000),
    );
  });
  it('refuses other text, impossible dates and out-of-range instants', () => {
    const what =
      'expected a date and time (YYYY-MM-DD hh:mm:ss, ISO-8601 with Z or an offset, or epoch seconds or milliseconds), got';
    expect(c(t, '"2024-01-01"')).toBe(`refused: ${what} string "2024-01-01"`);
    expect(c(t, '"01/02/2024 10:00"')).toBe(`refused: ${what} string "01/02/2024 10:00"`);
    expect(c(t, '"2024-13-01 00:00:00"')).toBe(`refused: ${what} string "2024-13-01 00:00:00"`);
    expect(c(t, '"2024-01-01 24:00:00"')).toBe(`refused: ${what} string "2024-01-01 24:00:00"`);
    expect(c(t, 'true')).toBe(`refused: ${what} true`);
    const range = 'is out of range for DateTime (1970-01-01 00:00:00 to 2106-02-07 06:28:15 UTC)';
    expect(c(t, '-1')).toBe(`refused: -1 ${range}`);
    expect(c(t, '"1969-12-31T23:59:59Z"')).toBe(`refused: string "1969-12-31T23:59:59Z" ${range}`);
    expect(c(t, '"2106-02-07 06:28:16"')).toBe(`refused: string "2106-02-07 06:28:16" ${range}`);
    expect(c(t, '1704067200123456')).toBe(`refused: 1704067200123456 ${range}`);
  });
});

describe('coercion: Nullable, LowCardinality, Array', () => {
  it('Nullable(T) is T plus null', () => {
    const n = compileType(typeNode('Nullable(Int32)'));
    expect(n.nullable).toBe(true);
    expect(n.coerce(5)).toBe('5');
  });
  it('LowCardinality(T) is T', () => {
    expect(c('LowCardinality(String)', '"x"')).toBe('"x"');
    expect(c('LowCardinality(Nullable(String))', 'null')).toBe('null');
  });
  it('Array(T) from a JSON array, every element coerced; the first bad element is named', () => {
    expect(c('Array(Int32)', '[1, 2, 3]')).toBe('[1,2,3]');
    expect(c('Array(Nullable(String))', '["a", null]')).toBe('["a",null]');
    expect(c('Array(Array(UInt8))', '[[1],[]]')).toBe('[[1],[]]');
    expect(c('Array(Int32)', '[1, "x"]')).toBe(
      'refused: element 2: expected an integer (Int32), got string "x"',
    );
    expect(c('Array(Int32)', '[null]')).toBe('refused: element 1: null is not allowed in Int32');
    expect(c('Array(Int32)', '"1,2"')).toBe('refused: expected an array, got string "1,2"');
  });
  it('refuses types events cannot fill yet, by name', () => {
    expect(() => compileType(typeNode('Map(Float64, UInt8)'))).toThrow(
      /Map\(Float64, UInt8\): keys of type Float64 are not supported for ingestion yet/,
    );
    expect(() => compileType(typeNode("Object('json')"))).toThrow(/Object\('json'\) is not supported/);
  });
});

describe('dates on a server whose dates end in 2105 (18.16)', () => {
  const old = capabilitiesFor('18.16.1');
  const current = capabilitiesFor('26.7.2.1');
  function on(server: ServerLimits, type: string, json: string): string {
    const r = compileType(typeNode(type), server).coerce(parseJsonExact(json) as never);
    return r instanceof Refusal ? `refused: ${r.message}` : r;
  }

  it('derives the flag from the version: servers before 21.4', () => {
    expect(old.datesEndIn2105).toBe(true);
    expect(capabilitiesFor('21.3.20.1').datesEndIn2105).toBe(true);
    expect(capabilitiesFor('21.4.1.1').datesEndIn2105).toBe(false);
    expect(current.datesEndIn2105).toBe(false);
  });

  it('Date: up to 2105-12-31 there, naming the server; 2149-06-06 elsewhere', () => {
    expect(on(old, 'Date', '"2105-12-31"')).toBe('"2105-12-31"');
    expect(on(old, 'Date', '"2106-01-01"')).toBe(
      'refused: string "2106-01-01" is out of range for Date on ClickHouse 18.16.1 (1970-01-01 to 2105-12-31)',
    );
    expect(on(old, 'Date', '"2149-06-06"')).toBe(
      'refused: string "2149-06-06" is out of range for Date on ClickHouse 18.16.1 (1970-01-01 to 2105-12-31)',
    );
    expect(on(old, 'Date', '"2106-13-01"')).toBe(
      'refused: expected a date as YYYY-MM-DD (Date), got string "2106-13-01"',
    );
    expect(on(current, 'Date', '"2149-06-06"')).toBe('"2149-06-06"');
    expect(c('Date', '"2149-06-06"')).toBe('"2149-06-06"');
    expect(on(current, 'Date', '"2149-06-07"')).toBe(
      'refused: string "2149-06-07" is out of range for Date (1970-01-01 to 2149-06-06)',
    );
  });

  it('DateTime: up to 2105-12-31 23:59:59 UTC there, from text or epoch numbers', () => {
    const range =
      'is out of range for DateTime on ClickHouse 18.16.1 (1970-01-01 00:00:00 to 2105-12-31 23:59:59 UTC)';
    expect(on(old, 'DateTime', '"2105-12-31 23:59:59"')).toBe('4291747199');
    expect(on(old, 'DateTime', '"2106-01-01 00:00:00"')).toBe(
      `refused: string "2106-01-01 00:00:00" ${range}`,
    );
    expect(on(old, 'DateTime', '"2106-02-07 06:28:15"')).toBe(
      `refused: string "2106-02-07 06:28:15" ${range}`,
    );
    expect(on(old, 'DateTime', '4291747200')).toBe(`refused: 4291747200 ${range}`);
    expect(on(old, 'DateTime', '"2105-12-31T23:00:00-01:00"')).toBe(
      `refused: string "2105-12-31T23:00:00-01:00" ${range}`,
    );
    // Beyond every server's range: still the server's range, which is the one that matters.
    expect(on(old, 'DateTime', '"2200-01-01 00:00:00"')).toBe(
      `refused: string "2200-01-01 00:00:00" ${range}`,
    );
    expect(on(old, 'DateTime', '"yesterday"')).toMatch(/^refused: expected a date and time/);
    expect(on(current, 'DateTime', '"2106-02-07 06:28:15"')).toBe('4294967295');
  });

  it('DateTime64 (20.1 to 21.3): the same limit', () => {
    const v20 = capabilitiesFor('20.8.1.1');
    expect(on(v20, 'DateTime64(3)', '"2105-12-31 23:59:59.999"')).toBe('"4291747199.999"');
    expect(on(v20, 'DateTime64(3)', '"2106-01-01 00:00:00"')).toBe(
      'refused: string "2106-01-01 00:00:00" is out of range for DateTime64(3) on ClickHouse 20.8.1.1 (1970-01-01 to 2105-12-31 23:59:59 UTC)',
    );
    expect(on(current, 'DateTime64(3)', '"2200-01-01 00:00:00"')).toBe(
      `"${Date.UTC(2200, 0, 1) / 1000}.000"`,
    );
  });

  it('inside Nullable, LowCardinality, Array, Tuple and Map too', () => {
    expect(on(old, 'Nullable(Date)', '"2106-01-01"')).toMatch(
      /out of range for Date on ClickHouse 18\.16\.1/,
    );
    expect(on(old, 'LowCardinality(Date)', '"2106-01-01"')).toMatch(/on ClickHouse 18\.16\.1/);
    expect(on(old, 'Array(Date)', '["2024-01-01", "2120-01-01"]')).toBe(
      'refused: element 2: string "2120-01-01" is out of range for Date on ClickHouse 18.16.1 (1970-01-01 to 2105-12-31)',
    );
    expect(on(old, 'Tuple(Date, UInt8)', '["2120-01-01", 1]')).toMatch(
      /^refused: element 1: .* on ClickHouse 18\.16\.1/,
    );
  });

  it('the row parser quarantines such a row naming the column, with the capabilities it is given', () => {
    const ds = dataSource('d', [
      { name: 'id', type: 'String' },
      { name: 'day', type: 'Date' },
      { name: 'at', type: 'DateTime' },
    ]);
    const event = '{"id":"a","day":"2149-06-06","at":"2106-02-07 06:28:15"}';
    expect(compileRowParser(ds, { capabilities: old }).parse(event)).toEqual({
      ok: false,
      problems: [
        {
          column: 'day',
          message:
            'string "2149-06-06" is out of range for Date on ClickHouse 18.16.1 (1970-01-01 to 2105-12-31)',
        },
        {
          column: 'at',
          message:
            'string "2106-02-07 06:28:15" is out of range for DateTime on ClickHouse 18.16.1 (1970-01-01 00:00:00 to 2105-12-31 23:59:59 UTC)',
        },
      ],
    });
    expect(compileRowParser(ds, { capabilities: current }).parseLine(event)).toEqual({
      ok: true,
      line: '{"id":"a","day":"2149-06-06","at":4294967295}',
    });
    // Without a server (tally append's local check): the types' own ranges.
    expect(compileRowParser(ds).parse(event).ok).toBe(true);
  });
});

describe('LowCardinality(Nullable(T)) is nullable', () => {
  it('compiles as nullable, like Nullable(T)', () => {
    expect(compileType(typeNode('LowCardinality(Nullable(String))')).nullable).toBe(true);
    expect(compileType(typeNode('LowCardinality(String)')).nullable).toBe(false);
  });

  it('a missing field or null is NULL in the row parser', () => {
    const p = compileRowParser(
      dataSource('lc', [
        { name: 'id', type: 'String' },
        { name: 'city', type: 'LowCardinality(Nullable(String))' },
      ]),
    );
    expect(p.parseLine('{"id":"a"}')).toEqual({ ok: true, line: '{"id":"a","city":null}' });
    expect(p.parseLine('{"id":"b","city":null}')).toEqual({ ok: true, line: '{"id":"b","city":null}' });
    expect(p.parseLine('{"id":"c","city":"Oslo"}')).toEqual({ ok: true, line: '{"id":"c","city":"Oslo"}' });
    expect(p.parse('{"id":"d","city":5}')).toEqual({
      ok: false,
      problems: [{ column: 'city', message: 'expected a string, got number 5' }],
    });
  });

  it('inside arrays, tuples and maps too', () => {
    expect(c('Array(LowCardinality(Nullable(String)))', '["a", null]')).toBe('["a",null]');
    const named = parseType('Tuple(a LowCardinality(Nullable(String)), b UInt8)');
    if (!named.ok) throw new Error(named.message);
    expect(compileType(named.type).coerce({ b: 1 })).toBe('[null,1]');
    expect(c('Map(String, LowCardinality(Nullable(String)))', '{"k":null}')).toBe('{"k":null}');
  });
});

describe('row parser', () => {
  const ds = dataSource(
    'tx',
    [
      { name: 'id', type: 'String' },
      { name: 'ts', type: 'DateTime', json: '$.meta.time' },
      { name: 'amount', type: 'Decimal(18, 2)' },
      { name: 'currency', type: 'String', defaultValue: 'USD', default: "'USD'" },
      { name: 'merchant', type: 'Nullable(String)' },
      { name: 'first_tag', type: 'String', json: '$.tags[0]', defaultValue: '', default: "''" },
      { name: 'day', type: 'Date', json: null, default: 'toDate(ts)' },
      { name: 'raw', type: 'String', json: '$' },
    ],
    { dedupKey: ['id'] },
  );
  const p = compileRowParser(ds);

  it('extracts nested keys, array elements and the whole event; fills plain defaults; leaves expressions to ClickHouse', () => {
    const raw =
      '{"id":"t1","meta":{"time":"2024-01-01T00:00:00Z"},"amount":12345678901234.56,"tags":["a","b"]}';
    const r = p.parse(raw);
    expect(r).toEqual({
      ok: true,
      cells: [
        '"t1"',
        '1704067200',
        '12345678901234.56',
        '"USD"',
        'null',
        '"a"',
        undefined,
        JSON.stringify(raw),
      ],
      key: 't1',
    });
    expect(p.columns.map((col) => col.name)).toEqual([
      'id',
      'ts',
      'amount',
      'currency',
      'merchant',
      'first_tag',
      'day',
      'raw',
    ]);
    expect(p.columns.find((col) => col.name === 'day')?.defaultExpr).toBe('toDate(ts)');
  });

  it('treats null like missing for defaults; Nullable stores NULL', () => {
    const r = p.parse('{"id":"t2","meta":{"time":1},"amount":1,"currency":null,"merchant":null,"tags":[]}');
    expect(r.ok && r.cells.slice(3, 6)).toEqual(['"USD"', 'null', '""']);
  });

  it('collects every problem of a row, by column', () => {
    const r = p.parse('{"meta":{"time":"yesterday"},"amount":1.234,"merchant":5}');
    expect(r).toEqual({
      ok: false,
      problems: [
        { column: 'id', message: 'missing, and the column has no default and is not Nullable' },
        {
          column: 'ts',
          message:
            'expected a date and time (YYYY-MM-DD hh:mm:ss, ISO-8601 with Z or an offset, or epoch seconds or milliseconds), got string "yesterday"',
        },
        { column: 'amount', message: 'Decimal(18, 2) takes at most 2 digits after the point, got 1.234' },
        { column: 'merchant', message: 'expected a string, got number 5' },
      ],
    });
  });

  it('refuses null in a column that is neither Nullable nor defaulted', () => {
    const r = p.parse('{"id":null,"meta":{"time":1},"amount":1}');
    expect(r.ok ? [] : r.problems).toEqual([
      { column: 'id', message: 'null is not allowed: the column is not Nullable and has no default' },
    ]);
  });

  it('names a path that runs into a value that is not an object or array', () => {
    const r = p.parse('{"id":"x","meta":"late","amount":1,"tags":{"0":"a"}}');
    expect(r.ok ? [] : r.problems).toEqual([
      { column: 'ts', message: 'expected an object at $.meta, got string "late"' },
      { column: 'first_tag', message: 'expected an array at $.tags, got an object' },
    ]);
  });

  it('reports malformed JSON and events that are not objects', () => {
    expect(p.parse('{"id":"x",')).toEqual({
      ok: false,
      problems: [{ message: 'malformed JSON: expected a double-quoted key at position 10' }],
    });
    expect(p.parse('')).toEqual({ ok: false, problems: [{ message: 'malformed JSON: the event is empty' }] });
    expect(p.parse('[1,2]')).toEqual({
      ok: false,
      problems: [{ message: 'the event is not a JSON object (got an array)' }],
    });
  });

  it('never reads inherited properties as fields', () => {
    const q = compileRowParser(dataSource('x', [{ name: 'toString', type: 'Nullable(String)' }]));
    expect(q.parse('{}')).toEqual({ ok: true, cells: ['null'] });
    expect(q.parse('{"__proto__":"p","toString":"s"}')).toEqual({ ok: true, cells: ['"s"'] });
  });

  it('keeps exact digits when the event holds long numbers, and agrees with the fast path otherwise', () => {
    const q = compileRowParser(
      dataSource('n', [
        { name: 'i', type: 'Int64' },
        { name: 'd', type: 'Decimal(38, 20)' },
      ]),
    );
    expect(q.parse('{"i":9007199254740993,"d":0.12345678901234567891}')).toEqual({
      ok: true,
      cells: ['9007199254740993', '0.12345678901234567891'],
    });
    expect(q.parse('{"i":12,"d":0.5}')).toEqual({ ok: true, cells: ['12', '0.5'] });
  });

  it('fills Kafka metadata columns from the message, and hidden coordinate columns', () => {
    const q = compileRowParser(
      dataSource(
        'k',
        [
          { name: 'v', type: 'Int32' },
          { name: '__topic', type: 'String', json: null },
          { name: '__partition', type: 'Int32', json: null },
          { name: '__offset', type: 'Int64', json: null },
          { name: '__timestamp', type: 'DateTime', json: null },
          { name: '__key', type: 'String', json: null },
          { name: '__headers', type: 'String', json: null },
        ],
        {
          kafka: {
            topic: 't',
            start: 'earliest',
            metadata: ['__topic'],
            loc: { file: 'f', line: 1, col: 1 },
          },
        },
      ),
    );
    const meta = {
      topic: 'events',
      partition: 3,
      offset: 42,
      timestamp: 1704067200999,
      key: 'k1',
      headers: '{"h":"v"}',
    };
    expect(q.parse('{"v":1}', meta)).toEqual({
      ok: true,
      cells: ['1', '"events"', '3', '42', '1704067200', '"k1"', '"{\\"h\\":\\"v\\"}"'],
    });
    const hidden = compileRowParser(dataSource('h', [{ name: 'v', type: 'Int32' }]), {
      hiddenColumns: ['__partition', '__offset'],
    });
    expect(hidden.columns.map((col) => col.name)).toEqual(['v', '__partition', '__offset']);
    expect(hidden.parse('{"v":1}')).toEqual({ ok: true, cells: ['1', '-1', '-1'] });
    expect(hidden.parse('{"v":1}', meta)).toEqual({ ok: true, cells: ['1', '3', '42'] });
  });

  it('refuses to compile a data source with a column events cannot fill, naming it', () => {
    expect(() => compileRowParser(dataSource('m', [{ name: 'tags', type: "Object('json')" }]))).toThrow(
      /data source `m` cannot take events: `tags`: type Object\('json'\) is not supported/,
    );
  });
});

describe('dedup keys', () => {
  it('single column: the value; several: length-prefixed parts; typed canonically', () => {
    const one = compileRowParser(dataSource('a', [{ name: 'id', type: 'UInt64' }], { dedupKey: ['id'] }));
    expect(one.parse('{"id":"18446744073709551615"}')).toMatchObject({ key: '18446744073709551615' });
    const two = compileRowParser(
      dataSource(
        'b',
        [
          { name: 'acct', type: 'LowCardinality(String)' },
          { name: 'ts', type: 'DateTime' },
          { name: 'u', type: 'UUID' },
        ],
        { dedupKey: ['acct', 'ts', 'u'] },
      ),
    );
    expect(
      two.parse('{"acct":"é:1","ts":"2024-01-01T00:00:00Z","u":"0F8FAD5B-D9CB-469F-A165-70867728950E"}'),
    ).toMatchObject({
      key: '4:é:110:170406720036:0f8fad5b-d9cb-469f-a165-70867728950e',
    });
    expect(two.dedupKey?.sql).toBe(
      "concat(toString(length(toString(`acct`))), ':', toString(`acct`), toString(length(toString(toUnixTimestamp(`ts`)))), ':', toString(toUnixTimestamp(`ts`)), toString(length(toString(`u`))), ':', toString(`u`))",
    );
  });
  it('refuses key columns whose text differs across ClickHouse versions, or that are computed', () => {
    expect(() =>
      compileRowParser(dataSource('c', [{ name: 'd', type: 'Decimal(18, 2)' }], { dedupKey: ['d'] })),
    ).toThrow(/dedup_key column `d` of `c` has type Decimal\(18, 2\)/);
    expect(() =>
      compileRowParser(
        dataSource('c', [{ name: 'd', type: 'Date', json: null, default: 'today()' }], { dedupKey: ['d'] }),
      ),
    ).toThrow(/computed by default_expr/);
  });
});

describe('exact JSON reader', () => {
  it('keeps number text and rejects what JSON.parse rejects', () => {
    expect(parseJsonExact('{"a":[1.50,-0,2e-3]}')).toEqual({
      a: [new ExactNumber('1.50'), new ExactNumber('-0'), new ExactNumber('2e-3')],
    });
    for (const bad of ['{', '{"a":01}', '{"a":1,}', "{'a':1}", '{"a":"\\x"}', '[1] 2', '"\u0001"', 'nul']) {
      expect(() => JSON.parse(bad), bad).toThrow();
      expect(() => parseJsonExact(bad), bad).toThrow();
    }
    expect(parseJsonExact('"\\u00e9\\n\\/"')).toBe('é\n/');
  });
});

describe('parseLine', () => {
  it('gives the JSONEachRow line of every column, or the cells when a computed default is missing', () => {
    const p = compileRowParser(
      dataSource(
        'l',
        [
          { name: 'id', type: 'String' },
          { name: 'n', type: 'Nullable(Int64)' },
          { name: 'day', type: 'Date', default: 'today()' },
        ],
        { dedupKey: ['id'] },
      ),
    );
    expect(p.parseLine('{"id":"a","n":9007199254740993,"day":"2024-01-02"}')).toEqual({
      ok: true,
      line: '{"id":"a","n":9007199254740993,"day":"2024-01-02"}',
      key: 'a',
    });
    expect(p.parseLine('{"id":"b"}')).toEqual({ ok: true, cells: ['"b"', 'null', undefined], key: 'b' });
    expect(p.parseLine('{"n":1}')).toMatchObject({ ok: false });
  });
});

describe('never throws', () => {
  const p = compileRowParser(
    dataSource('t', [
      { name: 'id', type: 'String' },
      { name: 'amount', type: 'Decimal(18, 2)' },
      { name: 'big', type: 'Nullable(Int64)' },
    ]),
  );
  it('refuses an object or array in a Decimal or 64-bit column with a reason', () => {
    expect(p.parse('{"id":"x","amount":{"v":1}}')).toEqual({
      ok: false,
      problems: [{ column: 'amount', message: 'expected a number (Decimal(18, 2)), got an object' }],
    });
    expect(p.parse('{"id":"x","amount":1,"big":[1,2]}')).toEqual({
      ok: false,
      problems: [{ column: 'big', message: 'expected an integer (Int64), got an array' }],
    });
  });
  it('refuses an event nested too deeply to read', () => {
    const deep = `{"id":${'['.repeat(10_000)}${']'.repeat(10_000)},"amount":1}`;
    expect(p.parse(deep)).toEqual({
      ok: false,
      problems: [{ message: 'the event is nested too deeply to read' }],
    });
    const deepDecimal = `{"id":"x","amount":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    expect(p.parse(deepDecimal).ok).toBe(false);
  });
});
