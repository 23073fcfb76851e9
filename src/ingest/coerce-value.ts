/**
 * Strict coercion of one JSON value to one ClickHouse column type. Each coercer returns the value
 * as JSONEachRow text ready to insert (exact digits, DateTime as epoch seconds) or a Refusal with
 * a message a user can act on. The rules are listed in docs/ingestion.md; the unit tests check
 * every rule and every message.
 */
import { isIPv6 } from 'node:net';
import type { Capabilities } from '../clickhouse/capabilities.ts';
import type { TypeNode } from '../project/model.ts';
import { MAX_DATE, MAX_EPOCH } from '../sql/param-type.ts';
import { ExactNumber, type JsonValue, jsonString, stringifyJson } from '../util/exact-json.ts';
import {
  DATE_TIME_MAX,
  epochSeconds,
  parseDateDays,
  parseDateTime64Text,
  parseDateTimeText,
  ZoneReader,
} from './date-time-text.ts';
import { decimalParts, decimalText, intDigits, JSON_NUMBER } from './decimal-text.ts';

export class Refusal {
  constructor(readonly message: string) {}
}

/** JSON text for the insert, or why the value does not fit. */
export type Coercer = (v: JsonValue) => string | Refusal;

export interface CompiledType {
  coerce: Coercer;
  /** Nullable at the top: null and missing become NULL. */
  nullable: boolean;
}

/**
 * What the server stores where it is narrower than the types: with `datesEndIn2105` (18.16 and
 * other servers before 21.4) a Date, DateTime or DateTime64 after 2105-12-31 23:59:59 UTC is
 * refused, naming the server. Without it (or without a server, as `tally append` checks rows
 * before it connects), the types' own ranges.
 */
export type ServerLimits = Pick<Capabilities, 'version' | 'datesEndIn2105'>;

/** A type the ingester cannot fill from an event (yet); the message names it. */
export class UnsupportedType extends Error {}

const INT_BITS: Readonly<Record<string, [signed: boolean, bits: number]>> = {
  Int8: [true, 8],
  Int16: [true, 16],
  Int32: [true, 32],
  Int64: [true, 64],
  Int128: [true, 128],
  Int256: [true, 256],
  UInt8: [false, 8],
  UInt16: [false, 16],
  UInt32: [false, 32],
  UInt64: [false, 64],
  UInt128: [false, 128],
  UInt256: [false, 256],
};

const DECIMAL_PRECISION: Readonly<Record<string, number>> = {
  Decimal32: 9,
  Decimal64: 18,
  Decimal128: 38,
  Decimal256: 76,
};

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const PLAIN_INT = /^-?(?:0|[1-9]\d*)$/;
const FLOAT32_MAX = 3.4028234663852886e38;
const DATE_RANGE = { min: 0, max: 65535, text: '1970-01-01 to 2149-06-06' };
/** Days from 1970-01-01 to 2105-12-31, the last day a server with `datesEndIn2105` stores. */
const MAX_DATE_DAYS = parseDateDays(MAX_DATE)!;
const DATE32_RANGE = { min: -25567, max: 120529, text: '1900-01-01 to 2299-12-31' };

/**
 * Compiles a coercer for a column type, for the server `server` (see ServerLimits). Throws
 * UnsupportedType for types events cannot fill.
 */
export function compileType(type: TypeNode, server?: ServerLimits): CompiledType {
  if (type.name === 'Nullable') return { coerce: compileInner(typeArg(type), server), nullable: true };
  // LowCardinality changes only how values are stored: LowCardinality(Nullable(T)) takes null.
  if (type.name === 'LowCardinality')
    return { coerce: compileInner(type, server), nullable: typeArg(type).name === 'Nullable' };
  return { coerce: compileInner(type, server), nullable: false };
}

function compileInner(type: TypeNode, server: ServerLimits | undefined): Coercer {
  const name = type.name;
  if (name === 'LowCardinality') return compileInner(typeArg(type), server);
  if (name === 'Nullable') {
    const inner = compileInner(typeArg(type), server);
    return (v) => (v === null ? 'null' : inner(v));
  }
  if (name === 'String') return coerceString;
  if (name === 'FixedString') return fixedString(numberArg(type, 0));
  const ints = INT_BITS[name];
  if (ints) return integer(name, ints[0], ints[1]);
  if (name === 'Float32' || name === 'Float64') return float(name);
  if (name === 'Decimal' || name in DECIMAL_PRECISION) return decimal(type);
  if (name === 'Bool') return coerceBool;
  if (name === 'Date') return date('Date', server?.datesEndIn2105 ? lutDateRange(server) : DATE_RANGE);
  if (name === 'Date32') return date('Date32', DATE32_RANGE);
  if (name === 'DateTime') return dateTime(type, server);
  if (name === 'DateTime64') return dateTime64(type, server);
  if (name === 'UUID') return coerceUuid;
  if (name === 'IPv4') return coerceIpv4;
  if (name === 'IPv6') return coerceIpv6;
  if (name === 'Enum8' || name === 'Enum16') return enumeration(type);
  if (name === 'Array') return array(typeArg(type), server);
  if (name === 'Tuple') return tuple(type, server);
  if (name === 'Map') return map(type, server);
  throw new UnsupportedType(`type ${type.text} is not supported for ingestion yet`);
}

// ---------------------------------------------------------------------------------------------

function coerceString(v: JsonValue): string | Refusal {
  if (typeof v === 'string') return stringText(v);
  // An object or array is stored as its (compact, re-serialized) JSON text.
  if (v !== null && typeof v === 'object' && !(v instanceof ExactNumber))
    return JSON.stringify(stringifyJson(v));
  return new Refusal(`expected a string, got ${describe(v)}`);
}

/**
 * A string as JSONEachRow text, or a refusal when it holds a lone UTF-16 surrogate (text cut
 * inside a character, as `"\ud83d"`): it has no UTF-8 form, and ClickHouse refuses the whole
 * insert for it (code 25), so it must stop here, in quarantine.
 */
function stringText(s: string): string | Refusal {
  const text = jsonString(s);
  // Only an escaped string can hold a surrogate; isWellFormed is ES2024, in Node 20.
  if (text.length === s.length + 2 || (s as unknown as WellFormedString).isWellFormed()) return text;
  const at = LONE_SURROGATE.exec(s)!.index;
  return new Refusal(
    `not valid Unicode: a lone surrogate \\u${s.charCodeAt(at).toString(16)} at character ${at + 1} (text cut inside a character?)`,
  );
}

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

interface WellFormedString {
  isWellFormed(): boolean;
}

function fixedString(n: number): Coercer {
  return (v) => {
    if (typeof v !== 'string')
      return new Refusal(`expected a string of at most ${n} bytes, got ${describe(v)}`);
    const bytes = Buffer.byteLength(v);
    if (bytes > n)
      return new Refusal(`expected a string of at most ${n} bytes, got ${describe(v)} (${bytes} bytes)`);
    return stringText(v);
  };
}

function integer(name: string, signed: boolean, bits: number): Coercer {
  const lo = signed ? -(2n ** BigInt(bits - 1)) : 0n;
  const hi = signed ? 2n ** BigInt(bits - 1) - 1n : 2n ** BigInt(bits) - 1n;
  const loN = Number(lo);
  const hiN = Number(hi);
  const small = bits <= 32;
  const range = `expected an integer from ${lo} to ${hi} (${name}), got`;
  const what = `expected an integer (${name}), got`;
  return (v) => {
    if (typeof v === 'number') {
      if (!Number.isInteger(v)) return new Refusal(`${what} ${describe(v)}: it has a fraction`);
      if (small || Number.isSafeInteger(v)) {
        if (v < loN || v > hiN) return new Refusal(`${range} ${describe(v)}`);
        return String(v);
      }
      // Unreachable from JSON.parse (long numbers take the exact path); stay exact anyway.
      return checkBig(BigInt(v), lo, hi, range, describe(v));
    }
    if (v instanceof ExactNumber) {
      const p = decimalParts(v.text)!;
      if (p.frac !== '') return new Refusal(`${what} ${numberShown(v.text)}: it has a fraction`);
      return checkBig(BigInt((p.negative ? '-' : '') + p.int), lo, hi, range, numberShown(v.text));
    }
    if (typeof v === 'string') {
      if (!PLAIN_INT.test(v)) return new Refusal(`${what} ${describe(v)}`);
      return checkBig(BigInt(v), lo, hi, range, describe(v));
    }
    if (typeof v === 'boolean' && name === 'UInt8') return v ? '1' : '0';
    return new Refusal(`${what} ${describe(v)}`);
  };
}

function checkBig(b: bigint, lo: bigint, hi: bigint, range: string, shown: string): string | Refusal {
  if (b < lo || b > hi) return new Refusal(`${range} ${shown}`);
  return b.toString();
}

function float(name: 'Float32' | 'Float64'): Coercer {
  const what = `expected a number (${name}), got`;
  return (v) => {
    let n: number;
    if (typeof v === 'number') n = v;
    else if (v instanceof ExactNumber) n = Number(v.text);
    else if (typeof v === 'string' && JSON_NUMBER.test(v)) n = Number(v);
    else return new Refusal(`${what} ${describe(v)}`);
    if (!Number.isFinite(n) || (name === 'Float32' && Math.abs(n) > FLOAT32_MAX)) {
      const shown =
        typeof v === 'number' ? String(v) : v instanceof ExactNumber ? numberShown(v.text) : describe(v);
      return new Refusal(`${shown} is out of range for ${name}`);
    }
    return String(n);
  };
}

/**
 * Decimal text already in the form decimalText gives (no exponent, no leading zero, no trailing
 * zero after the point, not `-0`) and within the type's digits: `12.5`, `-0.25`, `100`.
 */
const AS_WRITTEN = /^-?(?:0|[1-9]\d*)(?:\.\d*[1-9])?$/;

function fitsAsWritten(text: string, maxInt: number, scale: number): boolean {
  if (!AS_WRITTEN.test(text) || text === '-0') return false;
  const dot = text.indexOf('.');
  const end = dot < 0 ? text.length : dot;
  const start = text.charCodeAt(0) === 45 ? 1 : 0; // '-'
  const int = end - start === 1 && text.charCodeAt(start) === 48 ? 0 : end - start; // '0' counts no digit
  return int <= maxInt && (dot < 0 ? 0 : text.length - dot - 1) <= scale;
}

function decimal(type: TypeNode): Coercer {
  const { precision, scale } = decimalShape(type);
  const maxInt = precision - scale;
  const what = `expected a number (${type.text}), got`;
  return (v) => {
    let text: string;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return new Refusal(`${what} ${describe(v)}`);
      text = String(v);
    } else if (v instanceof ExactNumber) text = v.text;
    else if (typeof v === 'string' && JSON_NUMBER.test(v)) text = v;
    else return new Refusal(`${what} ${describe(v)}`);
    // Most values are already written as decimalText would write them: taken as they are.
    if (fitsAsWritten(text, maxInt, scale)) return text;
    const p = decimalParts(text)!;
    if (p.frac.length > scale || intDigits(p) > maxInt) {
      const shown = typeof v === 'string' ? describe(v) : numberShown(text);
      if (p.frac.length > scale) {
        return new Refusal(`${type.text} takes at most ${scale} digits after the point, got ${shown}`);
      }
      return new Refusal(`${type.text} takes at most ${maxInt} digits before the point, got ${shown}`);
    }
    return decimalText(p);
  };
}

function decimalShape(type: TypeNode): { precision: number; scale: number } {
  if (type.name === 'Decimal') {
    const precision = numberArg(type, 0);
    const scale = type.args.length > 1 ? numberArg(type, 1) : 0;
    return { precision, scale };
  }
  return { precision: DECIMAL_PRECISION[type.name]!, scale: numberArg(type, 0) };
}

function coerceBool(v: JsonValue): string | Refusal {
  if (v === true) return 'true';
  if (v === false) return 'false';
  return new Refusal(`expected true or false, got ${describe(v)}`);
}

/** The Date range of a server whose dates end in 2105, named in refusals. */
function lutDateRange(server: ServerLimits): DateRange {
  return { min: 0, max: MAX_DATE_DAYS, text: `1970-01-01 to ${MAX_DATE}`, on: server.version };
}

interface DateRange {
  min: number;
  max: number;
  text: string;
  /** The server version, when the server's range is narrower than the type's. */
  on?: string;
}

/** ` on ClickHouse 18.16.1` for a range the server narrows; '' for the type's own. */
function onServer(version: string | undefined): string {
  return version === undefined ? '' : ` on ClickHouse ${version}`;
}

function date(name: string, range: DateRange): Coercer {
  return (v) => {
    if (typeof v !== 'string')
      return new Refusal(`expected a date as YYYY-MM-DD (${name}), got ${describe(v)}`);
    const days = parseDateDays(v);
    if (days === undefined) return new Refusal(`expected a date as YYYY-MM-DD (${name}), got ${describe(v)}`);
    if (days < range.min || days > range.max) {
      return new Refusal(`${describe(v)} is out of range for ${name}${onServer(range.on)} (${range.text})`);
    }
    return JSON.stringify(v);
  };
}

/** The time zone named by the string argument at `index` of a DateTime type, if any. */
function zoneArg(type: TypeNode, index: number): ZoneReader | undefined {
  const a = type.args[index];
  if (a?.kind !== 'string') return undefined;
  try {
    return new ZoneReader(a.value);
  } catch {
    throw new UnsupportedType(`unknown time zone '${a.value}' in ${type.text}`);
  }
}

function dateTime(type: TypeNode, server: ServerLimits | undefined): Coercer {
  const zone = zoneArg(type, 0);
  const what = `expected a date and time (YYYY-MM-DD hh:mm:ss, ISO-8601 with Z or an offset, or epoch seconds or milliseconds), got`;
  const lut = server?.datesEndIn2105 === true;
  const max = lut ? MAX_EPOCH : DATE_TIME_MAX;
  const range = lut
    ? `is out of range for DateTime${onServer(server!.version)} (1970-01-01 00:00:00 to ${MAX_DATE} 23:59:59 UTC)`
    : `is out of range for DateTime (1970-01-01 00:00:00 to 2106-02-07 06:28:15 UTC)`;
  return (v) => {
    let r: ReturnType<typeof epochSeconds>;
    if (typeof v === 'number') r = epochSeconds(v);
    else if (v instanceof ExactNumber) r = epochSeconds(Number(v.text));
    else if (typeof v === 'string') r = parseDateTimeText(v, zone);
    else return new Refusal(`${what} ${describe(v)}`);
    if (r.ok && r.seconds <= max) return String(r.seconds);
    const shown = v instanceof ExactNumber ? numberShown(v.text) : describe(v);
    return new Refusal(r.ok || r.reason === 'range' ? `${shown} ${range}` : `${what} ${shown}`);
  };
}

function dateTime64(type: TypeNode, server: ServerLimits | undefined): Coercer {
  const precision = numberArg(type, 0);
  if (!Number.isInteger(precision) || precision < 0 || precision > 9)
    throw new UnsupportedType(`${type.text}: the precision must be 0 to 9`);
  const zone = zoneArg(type, 1);
  const what = `expected a date and time (YYYY-MM-DD hh:mm:ss[.fraction], ISO-8601 with Z or an offset, or epoch seconds with a fraction, or epoch milliseconds), got`;
  const lut = server?.datesEndIn2105 === true;
  const range = lut
    ? `${onServer(server!.version)} (1970-01-01 to ${MAX_DATE} 23:59:59 UTC)`
    : ' (1970-01-01 to 2299-12-31 UTC)';
  return (v) => {
    let r: ReturnType<typeof parseDateTime64Text>;
    if (typeof v === 'number') r = parseDateTime64Text(String(v), precision, zone, true);
    else if (v instanceof ExactNumber) r = parseDateTime64Text(plainNumber(v.text), precision, zone, true);
    else if (typeof v === 'string') r = parseDateTime64Text(v, precision, zone, false);
    else return new Refusal(`${what} ${describe(v)}`);
    const shown = v instanceof ExactNumber ? numberShown(v.text) : describe(v);
    if (r.ok && (!lut || wholeSeconds(r.text) <= MAX_EPOCH)) return JSON.stringify(r.text);
    if (!r.ok && r.reason === 'precision')
      return new Refusal(`${type.text} keeps ${precision} digits after the second, got ${shown}`);
    if (r.ok || r.reason === 'range') return new Refusal(`${shown} is out of range for ${type.text}${range}`);
    return new Refusal(`${what} ${shown}`);
  };
}

/** The whole seconds of DateTime64 text written by parseDateTime64Text (`1546300800.123`). */
function wholeSeconds(text: string): number {
  const dot = text.indexOf('.');
  return Number(dot < 0 ? text : text.slice(0, dot));
}

const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function coerceIpv4(v: JsonValue): string | Refusal {
  if (typeof v === 'string' && IPV4.test(v)) return JSON.stringify(v);
  return new Refusal(`expected an IPv4 address (a.b.c.d), got ${describe(v)}`);
}

function coerceIpv6(v: JsonValue): string | Refusal {
  // node:net's isIPv6 is strict about the forms ClickHouse reads (also ::ffff:1.2.3.4); an IPv4
  // address is stored as its IPv4-mapped IPv6 form, as ClickHouse does.
  if (typeof v === 'string' && IPV4.test(v)) return JSON.stringify(`::ffff:${v}`);
  if (typeof v === 'string' && isIPv6(v) && !v.includes('%')) return JSON.stringify(v);
  return new Refusal(`expected an IPv6 address (or an IPv4 one), got ${describe(v)}`);
}

/** Unnamed: a JSON array, one value per element; named: an object (or an array in order). */
function tuple(type: TypeNode, server: ServerLimits | undefined): Coercer {
  const elements = type.args.map((a, i) => {
    if (a.kind !== 'type') throw new UnsupportedType(`type ${type.text}: element ${i + 1} is not a type`);
    return { name: a.field, type: a.type, compiled: compileType(a.type, server) };
  });
  const named = elements.every((e) => e.name !== undefined);
  const one = (
    e: (typeof elements)[number],
    label: string,
    item: JsonValue | undefined,
  ): string | Refusal => {
    if (item === undefined || item === null) {
      if (e.compiled.nullable) return 'null';
      return new Refusal(
        `${label}: ${item === undefined ? 'missing' : 'null'}, and ${e.type.text} is not Nullable`,
      );
    }
    const r = e.compiled.coerce(item);
    return r instanceof Refusal ? new Refusal(`${label}: ${r.message}`) : r;
  };
  const what = named ? 'an object (or an array in order)' : 'an array';
  return (v) => {
    const out: string[] = [];
    if (Array.isArray(v)) {
      if (v.length !== elements.length)
        return new Refusal(`expected ${elements.length} elements for ${type.text}, got ${v.length}`);
      for (let i = 0; i < elements.length; i++) {
        const e = elements[i]!;
        const r = one(e, e.name ?? `element ${i + 1}`, v[i]);
        if (r instanceof Refusal) return r;
        out.push(r);
      }
    } else if (named && v !== null && typeof v === 'object' && !(v instanceof ExactNumber)) {
      const obj = v as { [k: string]: JsonValue };
      const extra = Object.keys(obj).find((k) => !elements.some((e) => e.name === k));
      if (extra !== undefined) return new Refusal(`${type.text} has no element ${JSON.stringify(extra)}`);
      for (const e of elements) {
        const r = one(e, e.name!, obj[e.name!]);
        if (r instanceof Refusal) return r;
        out.push(r);
      }
    } else return new Refusal(`expected ${what} for ${type.text}, got ${describe(v)}`);
    // Always an array, in order: inserts set input_format_json_named_tuples_as_objects = 0
    // where the server has it (see syncInsertClause), and 18.16 reads only arrays.
    return `[${out.join(',')}]`;
  };
}

/** A JSON object; each key read as the key type (from its text), each value as the value type. */
function map(type: TypeNode, server: ServerLimits | undefined): Coercer {
  const [k, val] = type.args;
  if (k?.kind !== 'type' || val?.kind !== 'type')
    throw new UnsupportedType(`type ${type.text} lacks its key and value types`);
  const key = compileType(k.type, server);
  const value = compileType(val.type, server);
  const keyName = k.type.name === 'LowCardinality' ? typeArg(k.type).name : k.type.name;
  const numericKey = keyName in INT_BITS;
  if (
    keyName !== 'String' &&
    keyName !== 'FixedString' &&
    !numericKey &&
    keyName !== 'UUID' &&
    keyName !== 'Date'
  )
    throw new UnsupportedType(
      `type ${type.text}: keys of type ${k.type.text} are not supported for ingestion yet`,
    );
  return (v) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof ExactNumber)
      return new Refusal(`expected an object for ${type.text}, got ${describe(v)}`);
    const out: string[] = [];
    for (const [name, item] of Object.entries(v as { [k: string]: JsonValue })) {
      const kr = key.coerce(name);
      if (kr instanceof Refusal) return new Refusal(`key ${JSON.stringify(name)}: ${kr.message}`);
      let vr: string | Refusal;
      if (item === null)
        vr = value.nullable ? 'null' : new Refusal(`null, and ${val.type.text} is not Nullable`);
      else vr = value.coerce(item);
      if (vr instanceof Refusal) return new Refusal(`key ${JSON.stringify(name)}: ${vr.message}`);
      // JSON object keys are strings; ClickHouse reads a number key from its text.
      out.push(`${numericKey ? JSON.stringify(kr) : kr}:${vr}`);
    }
    return `{${out.join(',')}}`;
  };
}

function coerceUuid(v: JsonValue): string | Refusal {
  if (typeof v === 'string' && UUID.test(v)) return JSON.stringify(v.toLowerCase());
  return new Refusal(`expected a UUID (8-4-4-4-12 hex digits), got ${describe(v)}`);
}

function enumeration(type: TypeNode): Coercer {
  const byName = new Map<string, string>();
  const byValue = new Map<number, string>();
  for (const a of type.args) {
    if (a.kind === 'enum') {
      byName.set(a.name, JSON.stringify(a.name));
      byValue.set(a.value, JSON.stringify(a.name));
    }
  }
  const names = [...byName.keys()].map((n) => `'${n}'`).join(', ');
  return (v) => {
    const hit =
      typeof v === 'string'
        ? byName.get(v)
        : typeof v === 'number'
          ? byValue.get(v)
          : v instanceof ExactNumber
            ? byValue.get(Number(v.text))
            : undefined;
    return hit ?? new Refusal(`expected one of ${names}, got ${describe(v)}`);
  };
}

function array(element: TypeNode, server: ServerLimits | undefined): Coercer {
  const inner = compileType(element, server);
  return (v) => {
    if (!Array.isArray(v)) return new Refusal(`expected an array, got ${describe(v)}`);
    const out: string[] = [];
    for (let i = 0; i < v.length; i++) {
      const item = v[i]!;
      if (item === null && inner.nullable) {
        out.push('null');
        continue;
      }
      if (item === null) return new Refusal(`element ${i + 1}: null is not allowed in ${element.text}`);
      const r = inner.coerce(item);
      if (r instanceof Refusal) return new Refusal(`element ${i + 1}: ${r.message}`);
      out.push(r);
    }
    return `[${out.join(',')}]`;
  };
}

// ---------------------------------------------------------------------------------------------

function typeArg(type: TypeNode): TypeNode {
  const a = type.args[0];
  if (a?.kind !== 'type') throw new UnsupportedType(`type ${type.text} lacks its inner type`);
  return a.type;
}

function numberArg(type: TypeNode, i: number): number {
  const a = type.args[i];
  if (a?.kind !== 'number') throw new UnsupportedType(`type ${type.text} lacks a number argument`);
  return a.value;
}

/**
 * Number text as a message shows it: cut after 40 characters, so a refusal of a number with
 * millions of digits does not store them twice in quarantine (the raw event has them).
 */
export function numberShown(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}... (${text.length} characters)` : text;
}

/** Number text without an exponent (`1.5e9` -> `1500000000`), as epoch text is read. */
function plainNumber(text: string): string {
  const p = decimalParts(text);
  return p ? decimalText(p) : text;
}

/** How a refused value is shown in a message: `number 1.5`, `string "abc"`, `null`, `an object`. */
export function describe(v: JsonValue | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number') return `number ${v}`;
  if (v instanceof ExactNumber) return `number ${numberShown(v.text)}`;
  if (typeof v === 'string') {
    const shown = v.length > 40 ? `${v.slice(0, 40)}...` : v;
    return `string ${JSON.stringify(shown)}`;
  }
  return Array.isArray(v) ? 'an array' : 'an object';
}
