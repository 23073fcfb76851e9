import { describe, expect, it } from 'vitest';
import { quoteString, renderLiteral } from '../../../src/sql/render-literal.ts';
import { ty } from './helpers.ts';

describe('quoteString', () => {
  it('escapes backslash, quote, NUL, newlines, tabs and every other control character', () => {
    expect(quoteString("O'Brien")).toBe("'O\\'Brien'");
    expect(quoteString('a\\b')).toBe("'a\\\\b'");
    expect(quoteString("\\'")).toBe("'\\\\\\''");
    expect(quoteString('a\0b')).toBe("'a\\0b'");
    expect(quoteString('1\n2\r3\t4')).toBe("'1\\n2\\r3\\t4'");
    expect(quoteString('\x01\x08\x1b\x1f\x7f')).toBe("'\\x01\\x08\\x1B\\x1F\\x7F'");
  });

  it('writes everything else as it is: other quotes, comments, template tags, Unicode', () => {
    expect(quoteString('" ` */ -- {{x}} {% if %} %s $1 ?')).toBe("'\" ` */ -- {{x}} {% if %} %s $1 ?'");
    expect(quoteString('é 日本 \u{1F600} \u2028')).toBe("'é 日本 \u{1F600} \u2028'");
    expect(quoteString('')).toBe("''");
  });

  it('refuses unpaired surrogates (they have no UTF-8 form)', () => {
    expect(() => quoteString('a\uD800')).toThrow(/unpaired UTF-16 surrogate/);
    expect(() => quoteString('\uDC00a')).toThrow(/unpaired/);
    expect(quoteString('\uD83D\uDE00')).toBe("'\u{1F600}'");
  });
});

describe('renderLiteral', () => {
  it('String', () => {
    expect(renderLiteral("it's", ty('String'))).toBe("'it\\'s'");
  });

  it('integers as typed conversions, 64-bit exact', () => {
    expect(renderLiteral(5, ty('Int32'))).toBe('toInt32(5)');
    expect(renderLiteral('-128', ty('Int8'))).toBe('toInt8(-128)');
    expect(renderLiteral(255, ty('UInt8'))).toBe('toUInt8(255)');
    expect(renderLiteral('-9223372036854775808', ty('Int64'))).toBe('toInt64(-9223372036854775808)');
    expect(renderLiteral(18446744073709551615n, ty('UInt64'))).toBe('toUInt64(18446744073709551615)');
    expect(renderLiteral(-(2n ** 127n), ty('Int128'))).toBe(
      "toInt128('-170141183460469231731687303715884105728')",
    );
    expect(() => renderLiteral('1.5', ty('Int32'))).toThrow(/cannot render "1.5" as a literal of type Int32/);
    expect(() => renderLiteral(256, ty('UInt8'))).toThrow(/\(out of range\)/);
  });

  it('floats: finite only, subnormals as an exact product (18.16 cannot parse them)', () => {
    expect(renderLiteral(0.1, ty('Float64'))).toBe('toFloat64(0.1)');
    expect(renderLiteral('1e21', ty('Float64'))).toBe('toFloat64(1e+21)');
    expect(renderLiteral(-0, ty('Float64'))).toBe('toFloat64(0)');
    expect(renderLiteral(0.1, ty('Float32'))).toBe('toFloat32(0.10000000149011612)');
    expect(renderLiteral(5e-324, ty('Float64'))).toBe(
      '(toFloat64(5.293955920339377e-23) * 9.332636185032189e-302)',
    );
    expect(5.293955920339377e-23 * 9.332636185032189e-302).toBe(5e-324);
    expect(() => renderLiteral(Number.NaN, ty('Float64'))).toThrow(/NaN is not accepted/);
    expect(() => renderLiteral(Number.POSITIVE_INFINITY, ty('Float64'))).toThrow(/out of range/);
  });

  it('Decimal as a CAST of its exact digits to the declared type', () => {
    expect(renderLiteral('12.34', ty('Decimal', 18, 2))).toBe("CAST('12.34' AS Decimal(18, 2))");
    expect(renderLiteral('-0.50', ty('Decimal', 9, 2))).toBe("CAST('-0.5' AS Decimal(9, 2))");
    expect(renderLiteral('1', ty('Decimal64', 4))).toBe("CAST('1' AS Decimal(18, 4))");
    expect(() => renderLiteral('1.234', ty('Decimal', 9, 2))).toThrow(/3 digits after the point/);
  });

  it('Boolean as 1/0 (UInt8, every server) or true/false where the server has Bool', () => {
    expect(renderLiteral(true, ty('Bool'))).toBe('1');
    expect(renderLiteral('false', ty('Boolean'))).toBe('0');
    expect(renderLiteral(true, ty('Bool'), { boolType: true })).toBe('true');
    expect(renderLiteral(0, ty('Bool'), { boolType: true })).toBe('false');
  });

  it('Date and DateTime (epoch seconds: the same instant in any server time zone)', () => {
    expect(renderLiteral('2024-03-11', ty('Date'))).toBe("toDate('2024-03-11')");
    expect(renderLiteral('2024-03-11 12:30:45', ty('DateTime'))).toBe('toDateTime(1710160245)');
    expect(renderLiteral('2024-03-11T12:30:45Z', ty('DateTime', 'Europe/Berlin'))).toBe(
      "toDateTime(1710160245, 'Europe/Berlin')",
    );
    expect(renderLiteral('1970-01-01 00:00:00', ty('DateTime'))).toBe('toDateTime(0)');
    expect(() => renderLiteral('2024-02-30', ty('Date'))).toThrow(/not a calendar date/);
  });

  it('Nullable: typed NULL, or the inner literal made nullable', () => {
    expect(renderLiteral(null, ty('Nullable', ty('String')))).toBe('CAST(NULL AS Nullable(String))');
    expect(renderLiteral('x', ty('Nullable', ty('String')))).toBe("toNullable('x')");
    expect(renderLiteral(null, ty('Nullable', ty('Bool')))).toBe('CAST(NULL AS Nullable(UInt8))');
    expect(renderLiteral(null, ty('Nullable', ty('Bool')), { boolType: true })).toBe(
      'CAST(NULL AS Nullable(Bool))',
    );
    expect(renderLiteral('1', ty('Nullable', ty('Decimal', 9, 1)))).toBe(
      "toNullable(CAST('1' AS Decimal(9, 1)))",
    );
  });

  it('Array: items of the element type; empty arrays typed', () => {
    expect(renderLiteral(['a', "b'"], ty('Array', ty('String')))).toBe("['a', 'b\\'']");
    expect(renderLiteral([], ty('Array', ty('String')))).toBe('CAST([] AS Array(String))');
    expect(renderLiteral('1,2', ty('Array', ty('UInt64')))).toBe('[toUInt64(1), toUInt64(2)]');
    expect(renderLiteral([], ty('Array', ty('Array', ty('String'))))).toBe(
      "CAST('[]' AS Array(Array(String)))",
    );
    expect(renderLiteral([[], ['x']], ty('Array', ty('Array', ty('String'))))).toBe(
      "[CAST([] AS Array(String)), ['x']]",
    );
    expect(renderLiteral([null, 'x'], ty('Array', ty('Nullable', ty('String'))))).toBe(
      "[CAST(NULL AS Nullable(String)), toNullable('x')]",
    );
    expect(renderLiteral([], ty('Array', ty('Nullable', ty('Decimal', 18, 2))))).toBe(
      'CAST([] AS Array(Nullable(Decimal(18, 2))))',
    );
  });

  it('refuses types that are not param types', () => {
    expect(() => renderLiteral('x', ty('UUID'))).toThrow(/UUID is not a param type/);
    expect(() => renderLiteral('x', ty('Map', ty('String'), ty('String')))).toThrow(/not a param type/);
    expect(() => renderLiteral(1, ty('Nullable', ty('Array', ty('Int8'))))).toThrow(
      /Nullable takes a scalar type/,
    );
  });

  it('reads LowCardinality(T) as T', () => {
    expect(renderLiteral('x', ty('LowCardinality', ty('String')))).toBe("'x'");
  });
});
