/**
 * What a declared ClickHouse type means for a param value: the kinds of values Tally can take
 * from a request and render as a literal. Built once per TypeNode from its structure (never from
 * its text), so the SQL type names it emits are rebuilt from validated parts.
 */
import { TallyError } from '../errors.ts';
import type { TypeArg, TypeNode } from '../project/model.ts';

export type ParamType =
  | { kind: 'string' }
  | {
      kind: 'int';
      name: string;
      min: bigint;
      max: bigint /** 64 bits or more: values are bigints */;
      big: boolean;
    }
  | { kind: 'float'; bits: 32 | 64 }
  | { kind: 'decimal'; precision: number; scale: number }
  | { kind: 'bool' }
  | { kind: 'date' }
  | { kind: 'datetime'; timezone?: string }
  | { kind: 'nullable'; inner: ParamType }
  | { kind: 'array'; element: ParamType };

/** How a server spells types that differ between versions. */
export interface TypeDialect {
  /** The server has a `Bool` type (21.12+); older servers store booleans as UInt8. */
  boolType: boolean;
}

/**
 * Dates Tally accepts: the range both ClickHouse 18.16 and current releases store and print
 * correctly (18.16's date tables end in 2105; newer servers reach 2149 for Date and 2106-02-07
 * for DateTime).
 */
export const MIN_DATE = '1970-01-01';
export const MAX_DATE = '2105-12-31';
/** 2105-12-31 23:59:59 UTC as epoch seconds. */
export const MAX_EPOCH = 4291747199;

const INT_BITS: Readonly<Record<string, number>> = {
  Int8: 8,
  Int16: 16,
  Int32: 32,
  Int64: 64,
  Int128: 128,
  Int256: 256,
  UInt8: 8,
  UInt16: 16,
  UInt32: 32,
  UInt64: 64,
  UInt128: 128,
  UInt256: 256,
};

const DECIMAL_PRECISION: Readonly<Record<string, number>> = {
  Decimal32: 9,
  Decimal64: 18,
  Decimal128: 38,
  Decimal256: 76,
};

const cache = new WeakMap<TypeNode, ParamType>();

/**
 * The param type of a declared ClickHouse type: String, (U)Int8..256, Float32/64, Decimal(P, S)
 * and DecimalN(S), Bool (or Boolean), Date, DateTime and DateTime('tz'), Nullable(T), Array(T);
 * LowCardinality(T) is read as T. Anything else is a TallyError `unsupported-param-type`.
 */
export function paramType(type: TypeNode): ParamType {
  let pt = cache.get(type);
  if (!pt) {
    pt = build(type);
    cache.set(type, pt);
  }
  return pt;
}

/** The ClickHouse type name of a param type, as SQL (`Decimal(18, 2)`, `Array(Nullable(String))`). */
export function typeSql(t: ParamType, dialect: TypeDialect): string {
  switch (t.kind) {
    case 'string':
      return 'String';
    case 'int':
      return t.name;
    case 'float':
      return `Float${t.bits}`;
    case 'decimal':
      return `Decimal(${t.precision}, ${t.scale})`;
    case 'bool':
      return dialect.boolType ? 'Bool' : 'UInt8';
    case 'date':
      return 'Date';
    case 'datetime':
      return t.timezone === undefined ? 'DateTime' : `DateTime(${quoteTimezone(t.timezone)})`;
    case 'nullable':
      return `Nullable(${typeSql(t.inner, dialect)})`;
    case 'array':
      return `Array(${typeSql(t.element, dialect)})`;
  }
}

/** The type's name for messages: as the project declares it, with `Boolean` for booleans. */
export function typeLabel(t: ParamType): string {
  switch (t.kind) {
    case 'bool':
      return 'Boolean';
    case 'nullable':
      return `Nullable(${typeLabel(t.inner)})`;
    case 'array':
      return `Array(${typeLabel(t.element)})`;
    default:
      return typeSql(t, { boolType: true });
  }
}

/** A time zone name as a SQL string; names are IANA identifiers, checked before they get here. */
export function quoteTimezone(tz: string): string {
  return `'${tz}'`;
}

function build(type: TypeNode): ParamType {
  const { name, args } = type;
  if (name === 'String') return noArgs(type, { kind: 'string' });
  const bits = INT_BITS[name];
  if (bits !== undefined) {
    const signed = !name.startsWith('U');
    const min = signed ? -(2n ** BigInt(bits - 1)) : 0n;
    const max = signed ? 2n ** BigInt(bits - 1) - 1n : 2n ** BigInt(bits) - 1n;
    return noArgs(type, { kind: 'int', name, min, max, big: bits > 32 });
  }
  if (name === 'Float32' || name === 'Float64')
    return noArgs(type, { kind: 'float', bits: name === 'Float32' ? 32 : 64 });
  if (name === 'Bool' || name === 'Boolean') return noArgs(type, { kind: 'bool' });
  if (name === 'Date') return noArgs(type, { kind: 'date' });
  if (name === 'DateTime') {
    if (args.length === 0) return { kind: 'datetime' };
    const tz = args[0];
    if (args.length === 1 && tz?.kind === 'string' && /^[A-Za-z0-9_+\-/]+$/.test(tz.value)) {
      return { kind: 'datetime', timezone: tz.value };
    }
    throw unsupported(type, "DateTime takes one time zone name, such as DateTime('UTC')");
  }
  if (name === 'Decimal') {
    const [p, s] = numbers(type, 2);
    return decimal(type, p, s);
  }
  const fixed = DECIMAL_PRECISION[name];
  if (fixed !== undefined) {
    const [s] = numbers(type, 1);
    return decimal(type, fixed, s);
  }
  if (name === 'Nullable' || name === 'LowCardinality' || name === 'Array') {
    const inner = args[0];
    if (args.length !== 1 || inner?.kind !== 'type') throw unsupported(type, `${name} takes one type`);
    const pt = paramType(inner.type);
    if (name === 'Array') return { kind: 'array', element: pt };
    if (name === 'LowCardinality') return pt;
    if (pt.kind === 'nullable' || pt.kind === 'array')
      throw unsupported(type, 'Nullable takes a scalar type');
    return { kind: 'nullable', inner: pt };
  }
  throw unsupported(type);
}

function noArgs(type: TypeNode, pt: ParamType): ParamType {
  if (type.args.length > 0) throw unsupported(type, `${type.name} takes no arguments`);
  return pt;
}

function numbers(type: TypeNode, n: number): number[] {
  const out = type.args.map((a: TypeArg) =>
    a.kind === 'number' && Number.isInteger(a.value) ? a.value : Number.NaN,
  );
  if (out.length !== n || out.some(Number.isNaN))
    throw unsupported(type, `${type.name} takes ${n} integer argument${n > 1 ? 's' : ''}`);
  return out;
}

function decimal(type: TypeNode, precision: number | undefined, scale: number | undefined): ParamType {
  if (
    precision === undefined ||
    scale === undefined ||
    precision < 1 ||
    precision > 76 ||
    scale < 0 ||
    scale > precision
  ) {
    throw unsupported(type, 'Decimal(P, S) needs 1 <= P <= 76 and 0 <= S <= P');
  }
  return { kind: 'decimal', precision, scale };
}

function unsupported(type: TypeNode, detail?: string): TallyError {
  return new TallyError(
    'unsupported-param-type',
    `${type.text} is not a param type${detail ? ` (${detail})` : ''}: params take String, Int8..Int256, UInt8..UInt256, Float32, Float64, Decimal(P, S), Boolean, Date, DateTime, Nullable(T) and Array(T)`,
  );
}
