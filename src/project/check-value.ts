import type { TypeNode } from './model.ts';
import { decimalShape, INTEGER_RANGES, isDecimalType } from './parse-type.ts';

/** A YAML value checked against a ClickHouse type: normalized (e.g. `7` for a String is `'7'`), or why not. */
export type CheckValueResult = { ok: true; value: unknown } | { ok: false; message: string; hint?: string };

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME_SPACE = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?$/;
const DATE_TIME_ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
// Date and DateTime values both ClickHouse 18.16 and current releases store and print correctly.
const MIN_YEAR = 1970;
const MAX_YEAR = 2105;
const MAX_EPOCH = 4291747199; // 2105-12-31 23:59:59 UTC
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const FLOAT32_MAX = 3.4028234663852886e38;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export interface CheckValueOptions {
  /**
   * A String value must be written as a string: `5` or `true` is refused rather than stored as
   * "5" / "true". For column defaults, which ingestion fills in as it would a value of the event
   * (and ingestion does not take a number for a String column).
   */
  strictStrings?: boolean;
}

/**
 * Checks a value written in YAML (a param's default, enum or min/max; a column's default) against
 * a ClickHouse type. Types whose values cannot be written in YAML (Map, Tuple, aggregates) fail
 * with a message saying so.
 */
export function checkValue(type: TypeNode, value: unknown, opts: CheckValueOptions = {}): CheckValueResult {
  const ok = (v: unknown): CheckValueResult => ({ ok: true, value: v });
  const fail = (expected: string): CheckValueResult => ({
    ok: false,
    message: `expected ${expected}, got ${describeValue(value)}`,
  });
  const inner = type.args[0]?.kind === 'type' ? type.args[0].type : undefined;
  const name = type.name;

  if (name === 'Nullable') return value === null ? ok(null) : checkValue(inner!, value, opts);
  if (value === null || value === undefined) return fail(`a ${type.text} value`);
  if (name === 'LowCardinality') return checkValue(inner!, value, opts);
  if (name === 'String') {
    if (typeof value === 'string') return ok(value);
    if (typeof value === 'number' || typeof value === 'boolean') {
      return opts.strictStrings
        ? {
            ok: false,
            message: `expected a string, got ${value}`,
            hint: `write "${value}" in quotes for the text ${value}`,
          }
        : ok(String(value));
    }
    return fail('a string');
  }
  if (name === 'FixedString') {
    const n = (type.args[0] as { value: number }).value;
    if (typeof value !== 'string') return fail('a string');
    return Buffer.byteLength(value) <= n ? ok(value) : fail(`a string of at most ${n} bytes`);
  }
  const range = INTEGER_RANGES[name];
  if (range) return checkInteger(name, range, value);
  if (name === 'Float32' || name === 'Float64') {
    // .nan and .inf are YAML numbers, but no param value can be one (the compiler refuses them).
    const max = name === 'Float32' ? FLOAT32_MAX : Number.MAX_VALUE;
    if (typeof value === 'number' && Number.isFinite(value) && Math.abs(value) <= max) return ok(value);
    return fail(typeof value === 'number' ? `a finite ${name} number` : 'a number');
  }
  if (isDecimalType(type)) return checkDecimal(type, value);
  if (name === 'Bool') return typeof value === 'boolean' ? ok(value) : fail('true or false');
  if (name === 'Date' || name === 'Date32') {
    const m = typeof value === 'string' ? DATE.exec(value) : null;
    if (validDate(m) && (name === 'Date32' || inYears(m!))) return ok(value);
    return fail(`a date such as 2024-03-12${name === 'Date' ? ` (years ${MIN_YEAR} to ${MAX_YEAR})` : ''}`);
  }
  if (name === 'DateTime' || name === 'DateTime64') {
    const text = typeof value === 'string' ? value : '';
    const m = DATE_TIME_SPACE.exec(text) ?? DATE_TIME_ISO.exec(text);
    const fractionOk = name === 'DateTime64' || m?.[7] === undefined || text.includes('T');
    if (validDate(m) && fractionOk && (name === 'DateTime64' || inYears(m!))) return ok(value);
    const epoch = typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_EPOCH;
    if (name === 'DateTime' && epoch) return ok(value);
    return fail('a date and time such as 2024-03-12 14:30:00 or 2024-03-12T14:30:00Z');
  }
  if (name === 'UUID') return typeof value === 'string' && UUID.test(value) ? ok(value) : fail('a UUID');
  if (name === 'IPv4') {
    const m = typeof value === 'string' ? IPV4.exec(value) : null;
    return m?.slice(1).every((p) => Number(p) <= 255) ? ok(value) : fail('an IPv4 address such as 10.0.0.1');
  }
  if (name === 'IPv6') {
    return typeof value === 'string' && value.includes(':') && /^[0-9a-fA-F:.]+$/.test(value)
      ? ok(value)
      : fail('an IPv6 address');
  }
  if (name === 'Enum8' || name === 'Enum16') {
    const names = type.args.map((a) => (a.kind === 'enum' ? a.name : ''));
    return typeof value === 'string' && names.includes(value)
      ? ok(value)
      : fail(`one of ${names.map((n) => `'${n}'`).join(', ')}`);
  }
  if (name === 'Array') {
    if (!Array.isArray(value)) return fail(`a list (${type.text})`);
    const out: unknown[] = [];
    for (const [i, item] of value.entries()) {
      const r = checkValue(inner!, item, opts);
      if (!r.ok) return { ...r, message: `item ${i + 1}: ${r.message}` };
      out.push(r.value);
    }
    return ok(out);
  }
  return { ok: false, message: `values of type ${type.text} cannot be written in YAML` };
}

/**
 * The ClickHouse expression for a column default given as a value (already checked). DDL only:
 * these values come from the project's own files, never from requests.
 */
export function defaultExpression(type: TypeNode, value: unknown): string {
  if (value === null) return 'NULL';
  if (Array.isArray(value)) {
    const inner = type.name === 'Array' && type.args[0]?.kind === 'type' ? type.args[0].type : type;
    return `[${value.map((v) => defaultExpression(inner, v)).join(', ')}]`;
  }
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (typeof value === 'number') return String(value);
  const base = unwrap(type);
  const s = String(value);
  if (base.name in INTEGER_RANGES || isDecimalType(base)) return s;
  if (base.name === 'DateTime' || base.name === 'DateTime64') return `parseDateTimeBestEffort(${quote(s)})`;
  return quote(s);
}

function unwrap(t: TypeNode): TypeNode {
  const inner = t.args[0];
  return (t.name === 'Nullable' || t.name === 'LowCardinality') && inner?.kind === 'type'
    ? unwrap(inner.type)
    : t;
}

function quote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function checkInteger(name: string, [lo, hi]: readonly [bigint, bigint], value: unknown): CheckValueResult {
  const expected = `an integer from ${lo} to ${hi} (${name})`;
  const fail = (extra = ''): CheckValueResult => ({
    ok: false,
    message: `expected ${expected}, got ${describeValue(value)}${extra}`,
  });
  let big: bigint;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return fail();
    if (!Number.isSafeInteger(value)) return fail('; write integers this large in quotes');
    big = BigInt(value);
  } else if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) {
    big = BigInt(value.trim());
  } else {
    return fail();
  }
  if (big < lo || big > hi) return fail();
  return { ok: true, value: Number.isSafeInteger(Number(big)) ? Number(big) : big.toString() };
}

function checkDecimal(type: TypeNode, value: unknown): CheckValueResult {
  const { precision, scale } = decimalShape(type)!;
  const expected = `a decimal number with at most ${precision - scale} digits before the point and ${scale} after (${type.text})`;
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
  const m = /^-?(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) return { ok: false, message: `expected ${expected}, got ${describeValue(value)}` };
  const intDigits = m[1]!.replace(/^0+(?=\d)/, '');
  const fraction = (m[2] ?? '').replace(/0+$/, '');
  if ((intDigits === '0' ? 0 : intDigits.length) > precision - scale || fraction.length > scale) {
    return { ok: false, message: `expected ${expected}, got ${describeValue(value)}` };
  }
  return { ok: true, value };
}

function inYears(m: RegExpExecArray): boolean {
  const y = Number(m[1]);
  return y >= MIN_YEAR && y <= MAX_YEAR;
}

function validDate(m: RegExpExecArray | null): boolean {
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (mo < 1 || mo > 12 || d < 1 || d > new Date(Date.UTC(y, mo, 0)).getUTCDate()) return false;
  if (m[4] !== undefined && (Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 59)) return false;
  return true;
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (typeof v === 'string') return `"${v}"`;
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}
