/**
 * The strict reader behind parseParamValue and renderLiteral: turns a raw value (a string from a
 * URL, a JSON value, or a value this module produced before) into the canonical value of a
 * param type, or says why it cannot.
 */

import { plural } from '../util/plural.ts';
import { MAX_DATE, MAX_EPOCH, MIN_DATE, type ParamType } from './param-type.ts';

/**
 * A validated param value. Strings for String, Decimal (exact digits, `-12.5`), Date
 * (`2024-03-11`) and DateTime (`2024-03-11 12:30:45`, UTC); numbers for integers up to 32 bits
 * and floats; bigints for 64-bit and wider integers; booleans; null for Nullable; arrays.
 */
export type ParamValue = string | number | bigint | boolean | null | readonly ParamValue[];

export interface CoerceLimits {
  /** Longest String, in UTF-8 bytes. */
  maxStringBytes: number;
  /** Most array items, counted over all nesting levels. */
  maxArrayItems: number;
}

export const NO_LIMITS: CoerceLimits = {
  maxStringBytes: Number.POSITIVE_INFINITY,
  maxArrayItems: Number.POSITIVE_INFINITY,
};

/** A raw value that does not fit; `path` locates it inside arrays (0-based indexes). */
export class ValueMismatch extends Error {
  constructor(
    readonly got: unknown,
    readonly reason?: string,
    readonly path: readonly number[] = [],
  ) {
    super(reason ?? 'value mismatch');
  }
}

const FLOAT = /^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const DECIMAL = /^-?\d+(\.\d+)?$/;
const INTEGER = /^-?\d+$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/**
 * The forms ingestion reads a DateTime in (ingest/date-time-text.ts): a space or `T`, an
 * optional fraction, an optional `Z` or offset (`+02:00`, `+0200`, `+02`); no zone is UTC.
 */
const DATETIME_TEXT =
  /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}(?::?\d{2})?)?$/;
const EPOCH = /^\d{1,10}$/;
/** A lone UTF-16 surrogate: with the `u` flag a well-formed pair is one code point and does not match. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
const DATETIME_RANGE = `outside ${MIN_DATE} 00:00:00 .. ${MAX_DATE} 23:59:59 UTC`;
/** Longest numeric text read at all (anything longer is out of every range). */
const MAX_NUMBER_TEXT = 400;

/** Reads `raw` as a value of type `t`; throws ValueMismatch. */
export function coerceValue(raw: unknown, t: ParamType, limits: CoerceLimits = NO_LIMITS): ParamValue {
  return coerce(raw, t, limits, { items: 0 });
}

function coerce(raw: unknown, t: ParamType, limits: CoerceLimits, count: { items: number }): ParamValue {
  switch (t.kind) {
    case 'string':
      return readString(raw, limits);
    case 'int':
      return readInt(raw, t);
    case 'float':
      return readFloat(raw, t.bits);
    case 'decimal':
      return readDecimal(raw, t.precision, t.scale);
    case 'bool':
      return readBool(raw);
    case 'date':
      return readDate(raw);
    case 'datetime':
      return readDateTime(raw);
    case 'nullable':
      return raw === null ? null : coerce(raw, t.inner, limits, count);
    case 'array':
      return readArray(raw, t.element, limits, count);
  }
}

function readString(raw: unknown, limits: CoerceLimits): string {
  if (typeof raw !== 'string') throw new ValueMismatch(raw);
  if (LONE_SURROGATE.test(raw))
    throw new ValueMismatch(raw, 'it holds an unpaired UTF-16 surrogate, which is not Unicode text');
  if (raw.length > limits.maxStringBytes / 3) {
    const bytes = Buffer.byteLength(raw, 'utf8');
    if (bytes > limits.maxStringBytes) throw new ValueMismatch(raw, `it is ${bytes} bytes long`);
  }
  return raw;
}

function readInt(raw: unknown, t: Extract<ParamType, { kind: 'int' }>): number | bigint {
  let v: bigint;
  if (typeof raw === 'bigint') v = raw;
  else if (typeof raw === 'number') {
    if (!Number.isInteger(raw))
      throw new ValueMismatch(raw, Number.isFinite(raw) ? 'not an integer' : undefined);
    if (!Number.isSafeInteger(raw)) {
      throw new ValueMismatch(raw, 'a JSON number this large is not exact; send it as a string');
    }
    v = BigInt(raw);
  } else if (typeof raw === 'string' && raw.length <= MAX_NUMBER_TEXT && INTEGER.test(raw)) v = BigInt(raw);
  else throw new ValueMismatch(raw);
  if (v < t.min || v > t.max) throw new ValueMismatch(raw, 'out of range');
  return t.big ? v : Number(v);
}

const FLOAT32_MAX = 3.4028234663852886e38;

function readFloat(raw: unknown, bits: 32 | 64): number {
  let x: number;
  if (typeof raw === 'number') x = raw;
  else if (typeof raw === 'string' && raw.length <= MAX_NUMBER_TEXT && FLOAT.test(raw)) x = Number(raw);
  else throw new ValueMismatch(raw);
  if (Number.isNaN(x)) throw new ValueMismatch(raw, 'NaN is not accepted');
  if (!Number.isFinite(x) || (bits === 32 && Math.abs(x) > FLOAT32_MAX && !Number.isFinite(Math.fround(x)))) {
    throw new ValueMismatch(raw, 'out of range');
  }
  if (bits === 32) x = Math.fround(x);
  // Negative zero is read as zero: it compares equal and would only surprise.
  return x === 0 ? 0 : x;
}

function readDecimal(raw: unknown, precision: number, scale: number): string {
  let text: string;
  if (typeof raw === 'string' && raw.length <= MAX_NUMBER_TEXT && DECIMAL.test(raw)) text = raw;
  else if (typeof raw === 'number' && Number.isFinite(raw)) text = expandExponent(String(raw));
  else if (typeof raw === 'bigint') text = raw.toString();
  else throw new ValueMismatch(raw);
  const d = splitDecimal(text);
  const intDigits = d.int === '0' ? 0 : d.int.length;
  if (intDigits > precision - scale) {
    throw new ValueMismatch(raw, `${plural(intDigits, 'digit')} before the point`);
  }
  if (d.frac.length > scale) throw new ValueMismatch(raw, `${d.frac.length} digits after the point`);
  return joinDecimal(d);
}

function readBool(raw: unknown): boolean {
  if (raw === true || raw === 'true' || raw === 1 || raw === '1') return true;
  if (raw === false || raw === 'false' || raw === 0 || raw === '0') return false;
  throw new ValueMismatch(raw);
}

function readDate(raw: unknown): string {
  const text = raw instanceof Date && Number.isFinite(raw.getTime()) ? raw.toISOString().slice(0, 10) : raw;
  const m = typeof text === 'string' ? DATE.exec(text) : null;
  if (!m) throw new ValueMismatch(raw);
  const [, y, mo, d] = m.map(Number) as [number, number, number, number];
  if (!isCalendarDate(y, mo, d)) throw new ValueMismatch(raw, 'not a calendar date');
  const s = text as string;
  if (s < MIN_DATE || s > MAX_DATE) throw new ValueMismatch(raw, `outside ${MIN_DATE} .. ${MAX_DATE}`);
  return s;
}

function readDateTime(raw: unknown): string {
  const epoch = epochOf(raw);
  if (epoch < 0 || epoch > MAX_EPOCH) {
    throw new ValueMismatch(raw, DATETIME_RANGE);
  }
  return formatEpoch(epoch);
}

/** Epoch seconds of a DateTime value; fractions of a second are dropped (DateTime counts seconds). */
function epochOf(raw: unknown): number {
  if (raw instanceof Date) {
    const ms = raw.getTime();
    if (!Number.isFinite(ms)) throw new ValueMismatch(raw);
    return Math.floor(ms / 1000);
  }
  if (typeof raw === 'number') {
    if (!Number.isSafeInteger(raw)) throw new ValueMismatch(raw);
    return raw;
  }
  if (typeof raw !== 'string') throw new ValueMismatch(raw);
  if (EPOCH.test(raw)) return Number(raw);
  const m = DATETIME_TEXT.exec(raw);
  if (!m) throw new ValueMismatch(raw);
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  // Date.UTC reads years 0..99 as 1900..1999; such years are out of range anyway.
  if (y < 1900) throw new ValueMismatch(raw, DATETIME_RANGE);
  if (!isCalendarDate(y, mo, d)) throw new ValueMismatch(raw, 'not a calendar date');
  if (h > 23 || mi > 59 || s > 59) throw new ValueMismatch(raw, 'not a time of day');
  let offset = 0;
  const zone = m[8];
  if (zone !== undefined && zone !== 'Z') {
    const oh = Number(zone.slice(1, 3));
    const om = zone.length > 3 ? Number(zone.slice(-2)) : 0;
    if (oh > 23 || om > 59) throw new ValueMismatch(raw, 'not a time zone offset');
    offset = (zone[0] === '-' ? -1 : 1) * (oh * 3600 + om * 60);
  }
  return Date.UTC(y, mo - 1, d, h, mi, s) / 1000 - offset;
}

function readArray(
  raw: unknown,
  element: ParamType,
  limits: CoerceLimits,
  count: { items: number },
): ParamValue[] {
  let items: readonly unknown[];
  if (Array.isArray(raw)) items = raw;
  else if (typeof raw === 'string') items = splitArrayText(raw, element);
  else throw new ValueMismatch(raw);
  count.items += items.length;
  if (count.items > limits.maxArrayItems)
    throw new ValueMismatch(raw, `more than ${limits.maxArrayItems} items`);
  return items.map((item, i) => {
    try {
      return coerce(item, element, limits, count);
    } catch (e) {
      if (e instanceof ValueMismatch) throw new ValueMismatch(e.got, e.reason, [i, ...e.path]);
      throw e;
    }
  });
}

/** `[...]` is a JSON array; anything else is a comma-separated list (no quoting), `''` is empty. */
function splitArrayText(raw: string, element: ParamType): readonly unknown[] {
  if (raw.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new ValueMismatch(raw, 'not a valid JSON array');
    }
    if (!Array.isArray(parsed)) throw new ValueMismatch(raw, 'not a valid JSON array');
    return parsed;
  }
  if (raw === '') return [];
  if (element.kind === 'array') throw new ValueMismatch(raw, 'nested arrays must be given as a JSON array');
  return raw.split(',');
}

// ---------------------------------------------------------------------------------------------
// Decimals as digit strings

interface DecimalParts {
  negative: boolean;
  /** Integer digits without leading zeros (`0` for none). */
  int: string;
  /** Fraction digits without trailing zeros. */
  frac: string;
}

function splitDecimal(text: string): DecimalParts {
  const negative = text.startsWith('-');
  const [i = '', f = ''] = (negative ? text.slice(1) : text).split('.');
  const int = i.replace(/^0+/, '') || '0';
  const frac = f.replace(/0+$/, '');
  return { negative: negative && (int !== '0' || frac !== ''), int, frac };
}

function joinDecimal(d: DecimalParts): string {
  return `${d.negative ? '-' : ''}${d.int}${d.frac ? `.${d.frac}` : ''}`;
}

/** Canonical decimal text of a decimal string or a finite number (`1e-7` -> `0.0000001`). */
export function canonicalDecimal(value: string | number | bigint): string {
  const text = typeof value === 'number' ? expandExponent(String(value)) : String(value);
  return joinDecimal(splitDecimal(text));
}

/** Compares two canonical decimal strings exactly: -1, 0 or 1. */
export function compareDecimal(a: string, b: string): number {
  const x = splitDecimal(a);
  const y = splitDecimal(b);
  if (x.negative !== y.negative) return x.negative ? -1 : 1;
  const sign = x.negative ? -1 : 1;
  if (x.int.length !== y.int.length) return x.int.length < y.int.length ? -sign : sign;
  if (x.int !== y.int) return x.int < y.int ? -sign : sign;
  const len = Math.max(x.frac.length, y.frac.length);
  const fx = x.frac.padEnd(len, '0');
  const fy = y.frac.padEnd(len, '0');
  return fx === fy ? 0 : fx < fy ? -sign : sign;
}

/** `1.5e-7` -> `0.00000015`, `1e+21` -> `1000000000000000000000`; other text unchanged. */
function expandExponent(text: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?e([+-]?\d+)$/i.exec(text);
  if (!m) return text;
  const [, sign = '', int = '', frac = '', exp = '0'] = m;
  const digits = int + frac;
  const point = int.length + Number(exp);
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

// ---------------------------------------------------------------------------------------------
// Dates

function isCalendarDate(y: number, m: number, d: number): boolean {
  if (m < 1 || m > 12 || d < 1) return false;
  const days = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return d <= days;
}

/** `YYYY-MM-DD hh:mm:ss` (UTC) of epoch seconds. */
export function formatEpoch(epoch: number): string {
  return new Date(epoch * 1000).toISOString().slice(0, 19).replace('T', ' ');
}

/** Epoch seconds of a canonical `YYYY-MM-DD hh:mm:ss` (UTC). */
export function epochOfCanonical(value: string): number {
  return (
    Date.UTC(
      Number(value.slice(0, 4)),
      Number(value.slice(5, 7)) - 1,
      Number(value.slice(8, 10)),
      Number(value.slice(11, 13)),
      Number(value.slice(14, 16)),
      Number(value.slice(17, 19)),
    ) / 1000
  );
}
