/**
 * Request values -> typed param values. Every value that reaches SQL has passed through here
 * (or through renderLiteral, which uses the same reader): strict about form, range and size.
 */
import { TallyError } from '../errors.ts';
import type { Param, Pipe } from '../project/model.ts';
import { plural } from '../util/plural.ts';
import {
  type CoerceLimits,
  canonicalDecimal,
  coerceValue,
  compareDecimal,
  type ParamValue,
  ValueMismatch,
} from './coerce-value.ts';
import { ParamError } from './param-error.ts';
import { type ParamType, paramType, typeLabel } from './param-type.ts';

/** Longest String param, in UTF-8 bytes. */
export const MAX_STRING_BYTES = 65536;
/** Most items in an Array param, over all nesting levels. */
export const MAX_ARRAY_ITEMS = 10_000;

const LIMITS: CoerceLimits = { maxStringBytes: MAX_STRING_BYTES, maxArrayItems: MAX_ARRAY_ITEMS };

/**
 * Reads a raw request value as a value of the param's declared type, then applies its `enum`,
 * `min` and `max` (to each item of an array). Accepts strings (URL query values), JSON values,
 * and values this function returned before. Throws ParamError.
 *
 * Forms: integers as `-?digits` or JSON integers (64-bit values beyond 2^53 as strings or
 * bigints); floats as decimal or exponent notation, finite only (no `inf`, `nan`); Decimal as
 * exact digits within its precision and scale; Boolean `true`/`false`/`1`/`0`; Date
 * `YYYY-MM-DD`; DateTime as ingestion reads one: `YYYY-MM-DD hh:mm:ss` or with `T`, an optional
 * fraction (dropped) and an optional `Z` or offset (none: UTC), normalised to UTC; or epoch
 * seconds; Array(T) a JSON array, or a string
 * that is either a JSON array (`[...]`) or comma-separated values without quoting (`''` is
 * empty); Nullable(T) null or a T. Strings must be Unicode (no unpaired surrogates) and at most
 * 64 KiB of UTF-8; arrays at most 10,000 items.
 */
export function parseParamValue(raw: unknown, param: Param): ParamValue {
  const t = paramType(param.type);
  if (raw === undefined) {
    throw new ParamError(
      'missing-param',
      param.name,
      expectedOf(param),
      `param "${param.name}" has no value; expected ${expectedOf(param)}`,
    );
  }
  let value: ParamValue;
  try {
    value = coerceValue(raw, t, LIMITS);
  } catch (e) {
    if (e instanceof ValueMismatch) throw mismatchError(param, e);
    throw e;
  }
  checkConstraints(value, t, param, []);
  return value;
}

/** A pipe's params for one request. */
export interface ResolvedParams {
  /** The value of every param that has one: given in the request, else its default. */
  readonly values: Readonly<Record<string, ParamValue>>;
  /** The params the request gave: what `defined(p)` tests in templates. */
  readonly given: ReadonlySet<string>;
  /** Request keys the pipe does not declare; ignored, reported so the server can warn. */
  readonly unknown: readonly string[];
}

/**
 * Validates a request's raw params against the pipe's declarations: each given value through
 * parseParamValue, defaults for the rest; a missing required param is a ParamError naming it.
 * Keys that are not declared params are ignored and listed in `unknown`.
 */
export function resolveParams(
  pipe: Pick<Pipe, 'name' | 'params'>,
  raw: Readonly<Record<string, unknown>>,
): ResolvedParams {
  const values: Record<string, ParamValue> = {};
  const given = new Set<string>();
  for (const [name, param] of pipe.params) {
    const v = Object.hasOwn(raw, name) ? raw[name] : undefined;
    if (v !== undefined) {
      values[name] = parseParamValue(v, param);
      given.add(name);
    } else if (param.default !== undefined) {
      values[name] = parseDefault(pipe.name, param);
    } else if (param.required) {
      throw new ParamError(
        'missing-param',
        name,
        expectedOf(param),
        `param "${name}" is required; expected ${expectedOf(param)}`,
      );
    }
  }
  for (const name of given) {
    for (const other of pipe.params.get(name)!.requires ?? []) {
      if (given.has(other)) continue;
      const needed = pipe.params.get(other)!;
      throw new ParamError(
        'missing-param',
        other,
        expectedOf(needed),
        `param "${name}" is given without "${other}", which it requires: give ${other} too (${expectedOf(needed)})`,
      );
    }
  }
  const unknown = Object.keys(raw).filter((k) => !pipe.params.has(k));
  return Object.freeze({
    values: Object.freeze(values),
    given: given as ReadonlySet<string>,
    unknown: Object.freeze(unknown),
  });
}

/** True for what resolveParams returns (as opposed to a plain record of values). */
export function isResolvedParams(p: unknown): p is ResolvedParams {
  return (
    typeof p === 'object' &&
    p !== null &&
    (p as ResolvedParams).given instanceof Set &&
    'values' in p &&
    'unknown' in p
  );
}

/** A param's default, read like a request value; a bad default is the project's error, not the caller's. */
export function parseDefault(pipeName: string, param: Param): ParamValue {
  try {
    return parseParamValue(param.default, param);
  } catch (e) {
    if (!(e instanceof ParamError)) throw e;
    throw new TallyError(
      'invalid-param-default',
      `pipe ${pipeName}: the default of param "${param.name}" does not fit: ${e.message}`,
      {
        location: param.loc,
      },
    );
  }
}

/** What a valid value of this param looks like, for messages. */
export function expectedOf(param: Param): string {
  const t = paramType(param.type);
  return describe(t, param);
}

// ---------------------------------------------------------------------------------------------

function describe(t: ParamType, param: Param): string {
  const allowed = param.enum && param.enum.length > 0 ? `, one of ${param.enum.map(show).join(', ')}` : '';
  switch (t.kind) {
    case 'string':
      return allowed ? `String${allowed}` : `String of at most ${MAX_STRING_BYTES} bytes`;
    case 'int': {
      if (allowed) return `${t.name}${allowed}`;
      const lo = param.min === undefined ? t.min : maxBig(t.min, BigInt(Math.ceil(param.min)));
      const hi = param.max === undefined ? t.max : minBig(t.max, BigInt(Math.floor(param.max)));
      return `${t.name} between ${lo} and ${hi}`;
    }
    case 'float':
    case 'decimal': {
      const base =
        t.kind === 'float'
          ? `Float${t.bits}`
          : `Decimal(${t.precision}, ${t.scale}) with at most ${t.precision - t.scale} digits before the point and ${t.scale} after`;
      if (allowed) return `${base}${allowed}`;
      if (param.min !== undefined && param.max !== undefined)
        return `${base} between ${param.min} and ${param.max}`;
      if (param.min !== undefined) return `${base} of at least ${param.min}`;
      if (param.max !== undefined) return `${base} of at most ${param.max}`;
      return t.kind === 'float' ? `${base} (a finite number)` : base;
    }
    case 'bool':
      return 'Boolean: true, false, 1 or 0';
    case 'date':
      return `Date as YYYY-MM-DD${allowed}`;
    case 'datetime':
      return `DateTime as YYYY-MM-DD hh:mm:ss (UTC), ISO-8601 with Z or an offset, or epoch seconds${allowed}`;
    case 'nullable':
      return `${describe(t.inner, param)}, or null`;
    case 'array':
      return `${typeLabel(t)} as a JSON array or comma-separated values, at most ${MAX_ARRAY_ITEMS} items, each ${describe(t.element, param)}`;
  }
}

function mismatchError(param: Param, e: ValueMismatch): ParamError {
  const expected = expectedOf(param);
  const where = e.path.length > 0 ? ` item ${e.path.map((i) => i + 1).join('.')}` : '';
  const reason = e.reason ? ` (${e.reason})` : '';
  return new ParamError(
    'invalid-param',
    param.name,
    expected,
    `param "${param.name}"${where} is ${show(e.got)}${reason}; expected ${expected}`,
  );
}

function checkConstraints(value: ParamValue, t: ParamType, param: Param, path: number[]): void {
  if (value === null) return;
  if (t.kind === 'nullable') {
    checkConstraints(value, t.inner, param, path);
    return;
  }
  if (t.kind === 'array') {
    const items = value as readonly ParamValue[];
    for (let i = 0; i < items.length; i++) checkConstraints(items[i]!, t.element, param, [...path, i]);
    return;
  }
  if (param.enum && param.enum.length > 0 && !inEnum(value, t, param.enum)) {
    throw mismatchError(param, new ValueMismatch(value, 'not one of the allowed values', path));
  }
  const below = param.min !== undefined && compareTo(value, t, param.min) < 0;
  const above = param.max !== undefined && compareTo(value, t, param.max) > 0;
  if (below) throw mismatchError(param, new ValueMismatch(value, `below the minimum ${param.min}`, path));
  if (above) throw mismatchError(param, new ValueMismatch(value, `above the maximum ${param.max}`, path));
}

function inEnum(value: ParamValue, t: ParamType, allowed: readonly unknown[]): boolean {
  const key = valueKey(value);
  return allowed.some((a) => {
    try {
      return valueKey(coerceValue(a, t)) === key;
    } catch {
      return false;
    }
  });
}

/** Compares a numeric value with a min/max bound; non-numeric types are not bounded (0). */
function compareTo(value: ParamValue, t: ParamType, bound: number): number {
  if (t.kind === 'int') {
    const v = value as number | bigint;
    if (Number.isInteger(bound)) {
      const b = BigInt(bound);
      return BigInt(v) < b ? -1 : BigInt(v) > b ? 1 : 0;
    }
    return Number(v) < bound ? -1 : 1;
  }
  if (t.kind === 'float') return Math.sign((value as number) - bound);
  if (t.kind === 'decimal') return compareDecimal(value as string, canonicalDecimal(bound));
  return 0;
}

function valueKey(v: ParamValue): string {
  return `${typeof v}:${String(v)}`;
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'bigint') return String(v);
  if (typeof v === 'string')
    return v.length > 60
      ? `${JSON.stringify(v.slice(0, 60)).slice(0, -1)}…" (${v.length} characters)`
      : JSON.stringify(v);
  if (Array.isArray(v)) return `an array of ${plural(v.length, 'item')}`;
  if (v instanceof Date) return Number.isFinite(v.getTime()) ? v.toISOString() : 'an invalid Date';
  if (typeof v === 'object' && v !== null) return 'an object';
  return String(v);
}

function maxBig(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

function minBig(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
