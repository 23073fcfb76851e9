import { describe, expect, it } from 'vitest';
import { ParamError } from '../../../src/sql/param-error.ts';
import { parseParamValue, resolveParams } from '../../../src/sql/parse-param-value.ts';
import { param, pipe, ty } from './helpers.ts';

function rejects(raw: unknown, p: ReturnType<typeof param>): ParamError {
  try {
    parseParamValue(raw, p);
  } catch (e) {
    expect(e).toBeInstanceOf(ParamError);
    return e as ParamError;
  }
  throw new Error(`accepted ${String(raw)}`);
}

const INT32 = 'Int32 between -2147483648 and 2147483647';

describe('parseParamValue: integers', () => {
  const p = param('n', ty('Int32'));
  it('reads decimal digits and JSON integers', () => {
    expect(parseParamValue('42', p)).toBe(42);
    expect(parseParamValue('-2147483648', p)).toBe(-2147483648);
    expect(parseParamValue('007', p)).toBe(7);
    expect(parseParamValue('-0', p)).toBe(0);
    expect(parseParamValue(2147483647, p)).toBe(2147483647);
    expect(parseParamValue(5n, p)).toBe(5);
  });

  it.each([
    ['1.5', '"1.5"'],
    ['', '""'],
    [' 1', '" 1"'],
    ['1 ', '"1 "'],
    ['0x10', '"0x10"'],
    ['1e3', '"1e3"'],
    ['+1', '"+1"'],
    ['NaN', '"NaN"'],
    [true, 'true'],
    [null, 'null'],
    [[1], 'an array of 1 item'],
    [{}, 'an object'],
  ])('refuses %j', (raw, shown) => {
    const e = rejects(raw, p);
    expect(e.param).toBe('n');
    expect(e.code).toBe('invalid-param');
    expect(e.expected).toBe(INT32);
    expect(e.message).toBe(`param "n" is ${shown}; expected ${INT32}`);
  });

  it('refuses out-of-range values and says so', () => {
    expect(rejects('2147483648', p).message).toBe(
      `param "n" is "2147483648" (out of range); expected ${INT32}`,
    );
    expect(rejects(1.5, p).message).toBe(`param "n" is 1.5 (not an integer); expected ${INT32}`);
    expect(rejects('9'.repeat(500), p).message).toMatch(
      /^param "n" is "9{60}…" \(500 characters\); expected Int32/,
    );
  });

  it('ranges of every width, 64-bit values exact as bigints', () => {
    expect(parseParamValue('-128', param('x', ty('Int8')))).toBe(-128);
    expect(rejects('128', param('x', ty('Int8'))).expected).toBe('Int8 between -128 and 127');
    expect(rejects('-1', param('x', ty('UInt8'))).expected).toBe('UInt8 between 0 and 255');
    expect(rejects('65536', param('x', ty('UInt16'))).expected).toBe('UInt16 between 0 and 65535');
    expect(rejects('-32769', param('x', ty('Int16'))).expected).toBe('Int16 between -32768 and 32767');
    expect(parseParamValue('4294967295', param('x', ty('UInt32')))).toBe(4294967295);
    expect(parseParamValue('-9223372036854775808', param('x', ty('Int64')))).toBe(-9223372036854775808n);
    expect(parseParamValue('18446744073709551615', param('x', ty('UInt64')))).toBe(18446744073709551615n);
    expect(parseParamValue(12, param('x', ty('UInt64')))).toBe(12n);
    expect(rejects('18446744073709551616', param('x', ty('UInt64'))).expected).toBe(
      'UInt64 between 0 and 18446744073709551615',
    );
    expect(rejects('9223372036854775808', param('x', ty('Int64'))).expected).toBe(
      'Int64 between -9223372036854775808 and 9223372036854775807',
    );
  });

  it('refuses a JSON number beyond 2^53 (it is not exact) but takes the same digits as a string', () => {
    const p64 = param('x', ty('Int64'));
    expect(rejects(2 ** 60, p64).message).toContain(
      'a JSON number this large is not exact; send it as a string',
    );
    expect(parseParamValue(String(2n ** 60n), p64)).toBe(2n ** 60n);
  });

  it('applies min and max, and says the narrowed range', () => {
    const lim = param('limit', ty('UInt16'), { min: 1, max: 100 });
    expect(parseParamValue('1', lim)).toBe(1);
    const e = rejects('0', lim);
    expect(e.expected).toBe('UInt16 between 1 and 100');
    expect(e.message).toBe('param "limit" is 0 (below the minimum 1); expected UInt16 between 1 and 100');
    expect(rejects('101', lim).message).toContain('(above the maximum 100)');
    expect(rejects('-1', param('x', ty('Int64'), { min: 0 })).expected).toBe(
      'Int64 between 0 and 9223372036854775807',
    );
  });
});

describe('parseParamValue: floats', () => {
  const p = param('f', ty('Float64'));
  it('reads decimal and exponent notation', () => {
    expect(parseParamValue('1.5', p)).toBe(1.5);
    expect(parseParamValue('-2.5e-3', p)).toBe(-0.0025);
    expect(parseParamValue('.5', p)).toBe(0.5);
    expect(parseParamValue('5.', p)).toBe(5);
    expect(parseParamValue('1E10', p)).toBe(1e10);
    expect(parseParamValue(1.7976931348623157e308, p)).toBe(1.7976931348623157e308);
    expect(parseParamValue('5e-324', p)).toBe(5e-324);
    expect(Object.is(parseParamValue('-0', p), 0)).toBe(true);
  });

  it.each([
    ['1e309'],
    ['-1e309'],
    ['NaN'],
    ['nan'],
    ['inf'],
    ['Infinity'],
    ['0x10'],
    [''],
    [' 1'],
    ['1,5'],
    ['1.2.3'],
  ])('refuses %j', (raw) => {
    expect(rejects(raw, p).expected).toBe('Float64 (a finite number)');
  });

  it('names the reason for non-finite values', () => {
    expect(rejects('1e309', p).message).toBe(
      'param "f" is "1e309" (out of range); expected Float64 (a finite number)',
    );
    expect(rejects(Number.NaN, p).message).toBe(
      'param "f" is NaN (NaN is not accepted); expected Float64 (a finite number)',
    );
    expect(rejects(Number.POSITIVE_INFINITY, p).message).toContain('(out of range)');
  });

  it('rounds Float32 values to Float32 and refuses what does not fit', () => {
    const f32 = param('f', ty('Float32'));
    expect(parseParamValue('0.1', f32)).toBe(Math.fround(0.1));
    expect(parseParamValue('3.4028235e38', f32)).toBe(Math.fround(3.4028235e38));
    expect(rejects('3.5e38', f32).expected).toBe('Float32 (a finite number)');
  });

  it('applies min and max', () => {
    const ratio = param('r', ty('Float64'), { min: 0, max: 1 });
    expect(rejects('1.5', ratio).expected).toBe('Float64 between 0 and 1');
    expect(rejects('-1', param('r', ty('Float64'), { min: 0 })).expected).toBe('Float64 of at least 0');
    expect(rejects('2', param('r', ty('Float64'), { max: 1 })).expected).toBe('Float64 of at most 1');
  });
});

describe('parseParamValue: decimals', () => {
  const p = param('amount', ty('Decimal', 18, 2));
  const expected = 'Decimal(18, 2) with at most 16 digits before the point and 2 after';
  it('keeps exact digits as a canonical string', () => {
    expect(parseParamValue('12.34', p)).toBe('12.34');
    expect(parseParamValue('-0012.50', p)).toBe('-12.5');
    expect(parseParamValue('-0.00', p)).toBe('0');
    expect(parseParamValue('9999999999999999.99', p)).toBe('9999999999999999.99');
    expect(parseParamValue(12.34, p)).toBe('12.34');
    expect(parseParamValue(1e-2, p)).toBe('0.01');
    expect(parseParamValue(7n, p)).toBe('7');
    expect(parseParamValue('99999999999999999999999999999999999999', param('d', ty('Decimal', 38, 0)))).toBe(
      '99999999999999999999999999999999999999',
    );
    expect(parseParamValue('0.123456789', param('d', ty('Decimal32', 9)))).toBe('0.123456789');
  });

  it.each([
    ['12.345', '3 digits after the point'],
    ['10000000000000000', '17 digits before the point'],
  ])('refuses %j (%s)', (raw, reason) => {
    const e = rejects(raw, p);
    expect(e.expected).toBe(expected);
    expect(e.message).toBe(`param "amount" is "${raw}" (${reason}); expected ${expected}`);
  });

  it.each([['1e3'], ['.5'], ['1.'], [''], ['NaN'], [' 1'], ['1,5'], ['0x10'], [true]])(
    'refuses %j',
    (raw) => {
      expect(rejects(raw, p).expected).toBe(expected);
    },
  );

  it('compares min and max exactly', () => {
    const d = param('d', ty('Decimal', 10, 2), { min: 0.5 });
    expect(parseParamValue('0.5', d)).toBe('0.5');
    expect(rejects('0.49', d).expected).toBe(
      'Decimal(10, 2) with at most 8 digits before the point and 2 after of at least 0.5',
    );
  });
});

describe('parseParamValue: booleans, dates, strings', () => {
  it('Boolean: true, false, 1, 0 and nothing else', () => {
    const p = param('b', ty('Boolean'));
    expect([true, 'true', 1, '1'].map((v) => parseParamValue(v, p))).toEqual([true, true, true, true]);
    expect([false, 'false', 0, '0'].map((v) => parseParamValue(v, p))).toEqual([false, false, false, false]);
    for (const raw of ['TRUE', 'yes', '', '2', 2, null]) {
      expect(rejects(raw, p).expected).toBe('Boolean: true, false, 1 or 0');
    }
    expect(parseParamValue('true', param('b', ty('Bool')))).toBe(true);
  });

  it('Date: valid calendar dates in range', () => {
    const p = param('d', ty('Date'));
    expect(parseParamValue('2024-02-29', p)).toBe('2024-02-29');
    expect(parseParamValue('1970-01-01', p)).toBe('1970-01-01');
    expect(parseParamValue('2105-12-31', p)).toBe('2105-12-31');
    const cases: Array<[unknown, string]> = [
      ['2023-02-29', ' (not a calendar date)'],
      ['2024-02-30', ' (not a calendar date)'],
      ['2024-13-01', ' (not a calendar date)'],
      ['2024-00-10', ' (not a calendar date)'],
      ['1969-12-31', ' (outside 1970-01-01 .. 2105-12-31)'],
      ['2106-01-01', ' (outside 1970-01-01 .. 2105-12-31)'],
      ['2024-3-1', ''],
      ['2024-03-11 00:00:00', ''],
      ['20240311', ''],
      [20240311, ''],
    ];
    for (const [raw, reason] of cases) {
      const e = rejects(raw, p);
      expect(e.expected).toBe('Date as YYYY-MM-DD');
      expect(e.message).toBe(`param "d" is ${JSON.stringify(raw)}${reason}; expected Date as YYYY-MM-DD`);
    }
  });

  it('DateTime: space form (UTC), ISO-8601 with a zone (to UTC), epoch seconds', () => {
    const p = param('t', ty('DateTime'));
    expect(parseParamValue('2024-03-11 12:30:45', p)).toBe('2024-03-11 12:30:45');
    expect(parseParamValue('2024-03-11T12:30:45Z', p)).toBe('2024-03-11 12:30:45');
    expect(parseParamValue('2024-03-11T12:30:45.999Z', p)).toBe('2024-03-11 12:30:45');
    expect(parseParamValue('2024-03-11T14:30:45+02:00', p)).toBe('2024-03-11 12:30:45');
    expect(parseParamValue('2024-03-10T23:30:45-13:00', p)).toBe('2024-03-11 12:30:45');
    expect(parseParamValue('1710160245', p)).toBe('2024-03-11 12:30:45');
    expect(parseParamValue(1710160245, p)).toBe('2024-03-11 12:30:45');
    expect(parseParamValue('0', p)).toBe('1970-01-01 00:00:00');
    expect(parseParamValue('2105-12-31 23:59:59', p)).toBe('2105-12-31 23:59:59');
    expect(parseParamValue(new Date('2024-03-11T12:30:45.5Z'), p)).toBe('2024-03-11 12:30:45');
    expect(parseParamValue('1969-12-31T23:00:00-01:00', p)).toBe('1970-01-01 00:00:00');
    // As ingestion reads them: `T` without a zone is UTC, as the space form is; +hhmm and +hh.
    expect(parseParamValue('2024-03-11T12:30:45', p)).toBe('2024-03-11 12:30:45');
    expect(parseParamValue('2024-03-11 14:30:45+0200', p)).toBe('2024-03-11 12:30:45');
    expect(parseParamValue('2024-03-11 14:30:45.25+02', p)).toBe('2024-03-11 12:30:45');
  });

  it('DateTime: refuses everything else', () => {
    const p = param('t', ty('DateTime'));
    const expected = 'DateTime as YYYY-MM-DD hh:mm:ss (UTC), ISO-8601 with Z or an offset, or epoch seconds';
    const cases: Array<[unknown, string]> = [
      ['2024-03-11T12:30', ''],
      ['2024-03-11 12:30:45 UTC', ''],
      ['2024-03-11 24:00:00', ' (not a time of day)'],
      ['2024-03-11 12:60:00', ' (not a time of day)'],
      ['2024-03-11 12:30:60', ' (not a time of day)'],
      ['2024-02-30 00:00:00', ' (not a calendar date)'],
      ['2024-03-11T12:30:45+24:00', ' (not a time zone offset)'],
      ['1970-01-01T00:00:00+01:00', ' (outside 1970-01-01 00:00:00 .. 2105-12-31 23:59:59 UTC)'],
      ['0070-01-01 00:00:00', ' (outside 1970-01-01 00:00:00 .. 2105-12-31 23:59:59 UTC)'],
      ['2106-01-01 00:00:00', ' (outside 1970-01-01 00:00:00 .. 2105-12-31 23:59:59 UTC)'],
      [-1, ' (outside 1970-01-01 00:00:00 .. 2105-12-31 23:59:59 UTC)'],
      ['-1', ''],
      ['12345678901', ''],
      ['2024-03-11', ''],
      ['now', ''],
      ['', ''],
      [1.5, ''],
    ];
    for (const [raw, reason] of cases) {
      const e = rejects(raw, p);
      expect(e.expected).toBe(expected);
      expect(e.message).toBe(`param "t" is ${JSON.stringify(raw)}${reason}; expected ${expected}`);
    }
  });

  it('String: any Unicode text up to 64 KiB of UTF-8, nothing but strings', () => {
    const p = param('s', ty('String'));
    for (const s of ['', "O'Brien", 'a\0b', '\u{1F600}', '\\', "' OR 1=1 --"])
      expect(parseParamValue(s, p)).toBe(s);
    expect(parseParamValue('x'.repeat(65536), p)).toHaveLength(65536);
    const long = rejects('é'.repeat(32769), p);
    expect(long.expected).toBe('String of at most 65536 bytes');
    expect(long.message).toContain('(it is 65538 bytes long)');
    expect(rejects('a\uD800b', p).message).toContain('unpaired UTF-16 surrogate');
    expect(rejects(12, p).message).toBe('param "s" is 12; expected String of at most 65536 bytes');
  });

  it('enum: one of the listed values, read as the type', () => {
    const cur = param('currency', ty('String'), { enum: ['EUR', 'USD'] });
    expect(parseParamValue('EUR', cur)).toBe('EUR');
    const e = rejects('GBP', cur);
    expect(e.expected).toBe('String, one of "EUR", "USD"');
    expect(e.message).toBe(
      'param "currency" is "GBP" (not one of the allowed values); expected String, one of "EUR", "USD"',
    );
    const n = param('n', ty('UInt8'), { enum: [1, 2, 3] });
    expect(parseParamValue('2', n)).toBe(2);
    expect(rejects('4', n).expected).toBe('UInt8, one of 1, 2, 3');
  });
});

describe('parseParamValue: Nullable and Array', () => {
  it('Nullable takes null or the inner type', () => {
    const p = param('x', ty('Nullable', ty('Int32')));
    expect(parseParamValue(null, p)).toBeNull();
    expect(parseParamValue('5', p)).toBe(5);
    expect(rejects('', p).expected).toBe(`${INT32}, or null`);
  });

  it('Array from a JSON array, a JSON array string, or comma-separated values', () => {
    const ints = param('ids', ty('Array', ty('Int32')));
    expect(parseParamValue([1, '2'], ints)).toEqual([1, 2]);
    expect(parseParamValue('[1, 2, 3]', ints)).toEqual([1, 2, 3]);
    expect(parseParamValue('1,2,3', ints)).toEqual([1, 2, 3]);
    expect(parseParamValue('', ints)).toEqual([]);
    expect(parseParamValue('[]', ints)).toEqual([]);
    const strs = param('tags', ty('Array', ty('String')));
    expect(parseParamValue("a,b c,'d'", strs)).toEqual(['a', 'b c', "'d'"]);
    expect(parseParamValue('["a,b", "c"]', strs)).toEqual(['a,b', 'c']);
    const nested = param('m', ty('Array', ty('Array', ty('String'))));
    expect(parseParamValue('[["a"], []]', nested)).toEqual([['a'], []]);
  });

  it('names the bad item, refuses oversized and malformed arrays', () => {
    const ints = param('ids', ty('Array', ty('Int32')));
    const expected = `Array(Int32) as a JSON array or comma-separated values, at most 10000 items, each ${INT32}`;
    const e = rejects('1,2,x', ints);
    expect(e.expected).toBe(expected);
    expect(e.message).toBe(`param "ids" item 3 is "x"; expected ${expected}`);
    expect(rejects('1, 2', ints).message).toContain('item 2 is " 2"');
    expect(rejects('[1, 2', ints).message).toContain('(not a valid JSON array)');
    expect(rejects('{"a":1}', ints).message).toContain('item 1 is "{\\"a\\":1}"');
    expect(rejects(Array(10001).fill(1), ints).message).toContain('(more than 10000 items)');
    expect(parseParamValue(Array(10000).fill(1), ints)).toHaveLength(10000);
    const nested = param('m', ty('Array', ty('Array', ty('Int8'))));
    expect(rejects('1,2', nested).message).toContain('(nested arrays must be given as a JSON array)');
    expect(rejects([[1], [2, 300]], nested).message).toContain('item 2.2 is 300 (out of range)');
    expect(rejects([Array(6000).fill(1), Array(6000).fill(1)], nested).message).toContain(
      '(more than 10000 items)',
    );
  });

  it('applies enum, min and max to each item', () => {
    const p = param('ids', ty('Array', ty('Int32')), { min: 1 });
    expect(rejects('1,0', p).message).toContain('item 2 is 0 (below the minimum 1)');
  });

  it('is idempotent on its own results', () => {
    const cases: Array<[ReturnType<typeof param>, unknown]> = [
      [param('a', ty('Int64')), '-5'],
      [param('b', ty('Decimal', 9, 3)), '1.5'],
      [param('c', ty('DateTime')), '2024-03-11T12:30:45Z'],
      [param('d', ty('Array', ty('Nullable', ty('Date')))), ['2024-01-01', null]],
      [param('e', ty('Float32')), '0.1'],
    ];
    for (const [p, raw] of cases) {
      const once = parseParamValue(raw, p);
      expect(parseParamValue(once, p)).toEqual(once);
    }
  });
});

describe('resolveParams', () => {
  const p = pipe(
    'balance',
    [
      param('account_id', ty('String'), { required: true }),
      param('limit', ty('UInt32'), { default: 10 }),
      param('as_of', ty('DateTime')),
    ],
    [],
  );

  it('applies defaults, tells given from defaulted, lists unknown keys', () => {
    const r = resolveParams(p, { account_id: 'a1', extra: '1', token: 'x' });
    expect(r.values).toEqual({ account_id: 'a1', limit: 10 });
    expect([...r.given]).toEqual(['account_id']);
    expect(r.unknown).toEqual(['extra', 'token']);
    expect(Object.isFrozen(r.values)).toBe(true);
    const all = resolveParams(p, { account_id: 'a1', limit: '5', as_of: '0' });
    expect(all.values).toEqual({ account_id: 'a1', limit: 5, as_of: '1970-01-01 00:00:00' });
    expect([...all.given].sort()).toEqual(['account_id', 'as_of', 'limit']);
  });

  it('names a missing required param', () => {
    let err: unknown;
    try {
      resolveParams(p, { limit: '5' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ParamError);
    expect(err).toMatchObject({
      code: 'missing-param',
      param: 'account_id',
      expected: 'String of at most 65536 bytes',
      message: 'param "account_id" is required; expected String of at most 65536 bytes',
    });
  });

  it('treats undefined as absent and ignores inherited keys', () => {
    const raw = Object.create({ account_id: 'inherited' }) as Record<string, unknown>;
    expect(() => resolveParams(p, raw)).toThrow(/account_id/);
    expect(resolveParams(p, { account_id: 'a', as_of: undefined }).given.has('as_of')).toBe(false);
  });

  it('reports a default that does not fit as the project’s error, at the param', () => {
    const bad = pipe('bad', [param('n', ty('UInt8'), { default: 300 })], []);
    expect(() => resolveParams(bad, {})).toThrow(
      expect.objectContaining({
        code: 'invalid-param-default',
        location: expect.objectContaining({ line: 1 }),
      }),
    );
  });
});
