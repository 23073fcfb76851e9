/**
 * THE one door for values into SQL text: a value becomes a ClickHouse literal of exactly its
 * declared type, valid on ClickHouse 18.16 and on current releases.
 */
import { TallyError } from '../errors.ts';
import type { TypeNode } from '../project/model.ts';
import { coerceValue, epochOfCanonical, type ParamValue, ValueMismatch } from './coerce-value.ts';
import { type ParamType, paramType, quoteTimezone, type TypeDialect, typeSql } from './param-type.ts';

export interface LiteralOptions {
  /**
   * Render booleans as `true`/`false` of type Bool (servers with a Bool type, 21.12+); default
   * false: `1`/`0` of type UInt8, which every server reads.
   */
  boolType?: boolean;
}

/**
 * Renders `value` as a literal of `type`, after reading it as parseParamValue does (without the
 * request size limits): `'O\'Brien'`, `toInt64(-9223372036854775808)`, `toFloat64(0.1)`,
 * `CAST('12.34' AS Decimal(18, 2))`, `1`/`true`, `toDate('2024-03-11')`,
 * `toDateTime(1710160245)` (epoch seconds: the instant, whatever the server's time zone),
 * `CAST(NULL AS Nullable(String))`, `toNullable(...)`, `[...]` and `CAST([] AS Array(String))`.
 * A value that does not fit the type is a TallyError `invalid-literal`, never SQL.
 */
export function renderLiteral(value: unknown, type: TypeNode, opts: LiteralOptions = {}): string {
  const t = paramType(type);
  let v: ParamValue;
  try {
    v = coerceValue(value, t);
  } catch (e) {
    if (!(e instanceof ValueMismatch)) throw e;
    throw new TallyError(
      'invalid-literal',
      `cannot render ${describeValue(e.got)} as a literal of type ${type.text}${e.reason ? ` (${e.reason})` : ''}`,
    );
  }
  return literalOf(v, t, { boolType: opts.boolType ?? false });
}

/**
 * A ClickHouse string literal that reads back as exactly `s`: backslash and single quote are
 * backslash-escaped, NUL is `\0`, newline/CR/tab are `\n` `\r` `\t`, every other control
 * character (and DEL) is `\xHH`; everything else, including all of Unicode, is written as its
 * UTF-8. A string with an unpaired UTF-16 surrogate has no UTF-8 form and is refused.
 */
export function quoteString(s: string): string {
  if (LONE_SURROGATE.test(s)) {
    throw new TallyError(
      'invalid-literal',
      'cannot render a string with an unpaired UTF-16 surrogate: it is not Unicode text',
    );
  }
  return `'${s.replace(SPECIAL, escapeChar)}'`;
}

/** Renders a value already read by coerceValue for `t`. */
export function literalOf(v: ParamValue, t: ParamType, dialect: TypeDialect): string {
  switch (t.kind) {
    case 'string':
      return quoteString(v as string);
    case 'int':
      // Number literals beyond 64 bits are not read exactly (2^127 is not an Int128 literal): use text.
      return t.max > 2n ** 64n ? `to${t.name}('${String(v)}')` : `to${t.name}(${String(v)})`;
    case 'float':
      return floatLiteral(v as number, t.bits);
    case 'decimal':
      return `CAST('${v as string}' AS ${typeSql(t, dialect)})`;
    case 'bool':
      return dialect.boolType ? (v ? 'true' : 'false') : v ? '1' : '0';
    case 'date':
      return `toDate('${v as string}')`;
    case 'datetime': {
      const epoch = epochOfCanonical(v as string);
      return t.timezone === undefined
        ? `toDateTime(${epoch})`
        : `toDateTime(${epoch}, ${quoteTimezone(t.timezone)})`;
    }
    case 'nullable':
      return v === null
        ? `CAST(NULL AS ${typeSql(t, dialect)})`
        : `toNullable(${literalOf(v, t.inner, dialect)})`;
    case 'array': {
      const items = v as readonly ParamValue[];
      // `[]` alone has type Array(Nothing); 18.16 casts it to Array(T) but not to Array(Array(T)),
      // where parsing the text '[]' works on every version.
      if (items.length === 0)
        return `CAST(${t.element.kind === 'array' ? "'[]'" : '[]'} AS ${typeSql(t, dialect)})`;
      return `[${items.map((item) => literalOf(item, t.element, dialect)).join(', ')}]`;
    }
  }
}

const SPECIAL = /[\\'\x00-\x1f\x7f]/g;
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
const ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  "'": "\\'",
  '\0': '\\0',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

function escapeChar(c: string): string {
  return ESCAPES[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`;
}

const MIN_NORMAL = 2.2250738585072014e-308;

function floatLiteral(x: number, bits: 32 | 64): string {
  // ClickHouse 18.16 cannot parse subnormal numbers (5e-324 is a syntax error there): write them
  // as an exact product of a normal number and a power of two.
  if (bits === 64 && x !== 0 && Math.abs(x) < MIN_NORMAL)
    return `(toFloat64(${x * 2 ** 1000}) * ${2 ** -1000})`;
  return `toFloat${bits}(${String(x)})`;
}

function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
  if (typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return String(v);
}
