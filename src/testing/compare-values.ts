/**
 * How an expected value in a test file compares with a value in an endpoint's JSON answer.
 * One rule beyond equality: a number equals a string holding the same number, because some
 * ClickHouse versions quote 64-bit integers in JSON (`"transactions":"3"` on 18.16, `3` on 26.x)
 * and a test file must pass on both. Two strings compare exactly ("007" is not "7"). A number of
 * the answer that a double cannot hold (an ExactNumber: a UInt64 past 2^53, an Int128, a long
 * Decimal) compares by its exact value, digit for digit.
 */
import { DoubleValue, decimalKey, ExactNumber, NUMERIC } from '../util/exact-json.ts';

export function sameValue(expected: unknown, actual: unknown): boolean {
  if (expected === actual) return true;
  if (actual instanceof DoubleValue) return sameDouble(expected, actual.value);
  if (expected instanceof DoubleValue) return sameDouble(actual, expected.value);
  if (expected instanceof ExactNumber || actual instanceof ExactNumber) return sameExact(expected, actual);
  if (expected === null || actual === null || expected === undefined || actual === undefined) return false;
  if (typeof expected === 'number' || typeof actual === 'number') {
    return sameNumber(expected, actual);
  }
  if (Array.isArray(expected) || Array.isArray(actual)) {
    if (!Array.isArray(expected) || !Array.isArray(actual) || expected.length !== actual.length) return false;
    return expected.every((e, i) => sameValue(e, actual[i]));
  }
  if (typeof expected === 'object' && typeof actual === 'object') {
    const ek = Object.keys(expected as object);
    const ak = Object.keys(actual as object);
    if (ek.length !== ak.length) return false;
    return ek.every(
      (k) =>
        Object.hasOwn(actual as object, k) &&
        sameValue((expected as Record<string, unknown>)[k], (actual as Record<string, unknown>)[k]),
    );
  }
  return false;
}

function sameNumber(a: unknown, b: unknown): boolean {
  const n = (v: unknown): number | undefined => {
    if (typeof v === 'number') return v;
    if (typeof v === 'string' && NUMERIC.test(v)) return Number(v);
    return undefined;
  };
  const x = n(a);
  const y = n(b);
  if (x === undefined || y === undefined) return false;
  if (x === y) return true;
  // Integers beyond 2^53 written in full on one side: compare their digits.
  if (typeof a === 'string' && typeof b === 'number') return sameBigDigits(a, b);
  if (typeof b === 'string' && typeof a === 'number') return sameBigDigits(b, a);
  return false;
}

/** A Float column's value: the other side, read as a double, is the same double. */
function sameDouble(v: unknown, d: number): boolean {
  const x =
    v instanceof ExactNumber
      ? Number(v.text)
      : typeof v === 'number'
        ? v
        : typeof v === 'string' && NUMERIC.test(v)
          ? Number(v)
          : undefined;
  return x === d;
}

/** Whether two values are the same number exactly, one of them an ExactNumber. */
function sameExact(a: unknown, b: unknown): boolean {
  const x = exactKey(a);
  return x !== undefined && x === exactKey(b);
}

function exactKey(v: unknown): string | undefined {
  if (v instanceof ExactNumber) return decimalKey(v.text);
  if (typeof v === 'number') return Number.isFinite(v) ? decimalKey(String(v)) : undefined;
  if (typeof v === 'string') return decimalKey(v);
  return undefined;
}

function sameBigDigits(text: string, n: number): boolean {
  const t = text.trim();
  if (!/^-?\d+$/.test(t) || !Number.isInteger(n)) return false;
  try {
    return BigInt(t) === BigInt(n);
  } catch {
    return false;
  }
}

/** Whether `actual` has every column of `expected` with the same value (extra columns allowed). */
export function rowIncludes(
  expected: Readonly<Record<string, unknown>>,
  actual: Readonly<Record<string, unknown>>,
): boolean {
  for (const k of Object.keys(expected)) {
    if (!Object.hasOwn(actual, k) || !sameValue(expected[k], actual[k])) return false;
  }
  return true;
}

/** Whether two rows have the same columns with the same values. */
export function rowEquals(
  expected: Readonly<Record<string, unknown>>,
  actual: Readonly<Record<string, unknown>>,
): boolean {
  return Object.keys(expected).length === Object.keys(actual).length && rowIncludes(expected, actual);
}

/** A value as printed in a diff: JSON, compact, an ExactNumber with its digits bare. */
export function showValue(v: unknown): string {
  if (v === undefined) return '(absent)';
  return show(v);
}

function show(v: unknown): string {
  if (v instanceof ExactNumber) return v.text;
  if (v instanceof DoubleValue) return JSON.stringify(v.value);
  if (Array.isArray(v)) return `[${v.map(show).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.entries(v)
      .filter(([, x]) => x !== undefined)
      .map(([k, x]) => `${JSON.stringify(k)}:${show(x)}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** A value of an answer as a test file holds it: an ExactNumber as a string of its digits. */
export function toPlain(v: unknown): unknown {
  if (v instanceof ExactNumber) return v.text;
  if (v instanceof DoubleValue) return v.value;
  if (Array.isArray(v)) return v.map(toPlain);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toPlain(x)]));
  }
  return v;
}
