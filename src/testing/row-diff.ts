/**
 * Differences between expected and actual rows, reduced to what differs: rows that match are
 * left out, and a changed row lists only the columns whose values differ. Pure.
 */
import { rowEquals, rowIncludes, sameValue } from './compare-values.ts';

export type Row = Readonly<Record<string, unknown>>;

export interface FieldDiff {
  column: string;
  /** Absent: the expected row lacks the column. */
  expected?: unknown;
  /** Absent: the answer lacks the column. */
  actual?: unknown;
  hasExpected: boolean;
  hasActual: boolean;
}

export type RowDiff =
  /** Rows paired up (same position, or the closest) whose values differ. */
  | { kind: 'changed'; expectedIndex: number; actualIndex: number; fields: FieldDiff[] }
  /** An expected row the answer does not have. */
  | { kind: 'missing'; expectedIndex: number; row: Row }
  /** A row of the answer the expectation does not have. */
  | { kind: 'extra'; actualIndex: number; row: Row };

/** Beyond this many rows on both sides, ordered rows are aligned by position, not by LCS. */
const LCS_LIMIT = 2_000_000;

/**
 * Exact rows: `ordered` aligns the two lists on their longest common subsequence (so one missing
 * row shows as one missing row, not as every later row changed) and pairs what is left between
 * the anchors; unordered first removes the rows present on both sides, then pairs the rest by
 * similarity.
 */
export function diffRows(expected: readonly Row[], actual: readonly Row[], ordered: boolean): RowDiff[] {
  return ordered ? diffOrdered(expected, actual) : diffUnordered(expected, actual);
}

/**
 * `contains`: every expected (partial) row must match a different actual row. Returns the
 * expected rows that found none, each paired with the closest unused actual row when there is one.
 */
export function diffContains(expected: readonly Row[], actual: readonly Row[]): RowDiff[] {
  const match = matchPartial(expected, actual);
  const used = new Set(match.filter((m) => m >= 0));
  const out: RowDiff[] = [];
  expected.forEach((row, i) => {
    if (match[i]! >= 0) return;
    const best = closest(row, actual, used, true);
    if (best === undefined) out.push({ kind: 'missing', expectedIndex: i, row });
    else {
      used.add(best);
      out.push({
        kind: 'changed',
        expectedIndex: i,
        actualIndex: best,
        fields: fieldDiffs(row, actual[best]!, true),
      });
    }
  });
  return out;
}

/** For each expected row, the index of the actual row it matches (-1: none): a maximum matching. */
export function matchPartial(expected: readonly Row[], actual: readonly Row[]): number[] {
  const owner = new Array<number>(actual.length).fill(-1);
  const candidates = expected.map((e) => {
    const out: number[] = [];
    actual.forEach((a, j) => {
      if (rowIncludes(e, a)) out.push(j);
    });
    return out;
  });
  // Kuhn's augmenting paths: a greedy pick could take the only row a later expectation fits.
  const tryAssign = (i: number, seen: Set<number>): boolean => {
    for (const j of candidates[i]!) {
      if (seen.has(j)) continue;
      seen.add(j);
      if (owner[j] === -1 || tryAssign(owner[j]!, seen)) {
        owner[j] = i;
        return true;
      }
    }
    return false;
  };
  for (let i = 0; i < expected.length; i++) tryAssign(i, new Set());
  const match = new Array<number>(expected.length).fill(-1);
  owner.forEach((i, j) => {
    if (i >= 0) match[i] = j;
  });
  return match;
}

/** The columns of two rows that differ (with `partial`, only the expected row's columns count). */
export function fieldDiffs(expected: Row, actual: Row, partial = false): FieldDiff[] {
  const out: FieldDiff[] = [];
  const columns = partial ? Object.keys(expected) : union(Object.keys(expected), Object.keys(actual));
  for (const column of columns) {
    const hasExpected = Object.hasOwn(expected, column);
    const hasActual = Object.hasOwn(actual, column);
    if (hasExpected && hasActual && sameValue(expected[column], actual[column])) continue;
    out.push({
      column,
      hasExpected,
      hasActual,
      ...(hasExpected ? { expected: expected[column] } : {}),
      ...(hasActual ? { actual: actual[column] } : {}),
    });
  }
  return out;
}

function diffOrdered(expected: readonly Row[], actual: readonly Row[]): RowDiff[] {
  const anchors =
    expected.length * actual.length <= LCS_LIMIT ? lcs(expected, actual) : samePositions(expected, actual);
  const out: RowDiff[] = [];
  let ei = 0;
  let ai = 0;
  for (const [ea, aa] of [...anchors, [expected.length, actual.length] as const]) {
    // Between two anchors: pair rows by position, the rest are missing or extra.
    const pairs = Math.min(ea - ei, aa - ai);
    for (let k = 0; k < pairs; k++) {
      out.push({
        kind: 'changed',
        expectedIndex: ei + k,
        actualIndex: ai + k,
        fields: fieldDiffs(expected[ei + k]!, actual[ai + k]!),
      });
    }
    for (let k = ei + pairs; k < ea; k++) out.push({ kind: 'missing', expectedIndex: k, row: expected[k]! });
    for (let k = ai + pairs; k < aa; k++) out.push({ kind: 'extra', actualIndex: k, row: actual[k]! });
    ei = ea + 1;
    ai = aa + 1;
  }
  return out;
}

function diffUnordered(expected: readonly Row[], actual: readonly Row[]): RowDiff[] {
  const used = new Set<number>();
  const left: number[] = [];
  expected.forEach((e, i) => {
    const j = actual.findIndex((a, k) => !used.has(k) && rowEquals(e, a));
    if (j >= 0) used.add(j);
    else left.push(i);
  });
  const out: RowDiff[] = [];
  for (const i of left) {
    const best = closest(expected[i]!, actual, used, false);
    if (best === undefined) out.push({ kind: 'missing', expectedIndex: i, row: expected[i]! });
    else {
      used.add(best);
      out.push({
        kind: 'changed',
        expectedIndex: i,
        actualIndex: best,
        fields: fieldDiffs(expected[i]!, actual[best]!),
      });
    }
  }
  actual.forEach((row, j) => {
    if (!used.has(j)) out.push({ kind: 'extra', actualIndex: j, row });
  });
  return out;
}

/** The unused actual row sharing the most values with `row` (at least one), if any. */
function closest(
  row: Row,
  actual: readonly Row[],
  used: ReadonlySet<number>,
  partial: boolean,
): number | undefined {
  let best: number | undefined;
  let bestScore = 0;
  actual.forEach((a, j) => {
    if (used.has(j)) return;
    const score = Object.keys(row).filter((k) => Object.hasOwn(a, k) && sameValue(row[k], a[k])).length;
    const penalty = partial ? 0 : 0.001 * Math.abs(Object.keys(a).length - Object.keys(row).length);
    if (score - penalty > bestScore) {
      best = j;
      bestScore = score - penalty;
    }
  });
  return best;
}

/** Index pairs of the longest common subsequence of equal rows, in order. */
function lcs(a: readonly Row[], b: readonly Row[]): Array<readonly [number, number]> {
  const n = a.length;
  const m = b.length;
  const eq = (i: number, j: number) => rowEquals(a[i]!, b[j]!);
  // Suffix lengths, one row of the table per expected row.
  const len: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      len[i]![j] = eq(i, j) ? len[i + 1]![j + 1]! + 1 : Math.max(len[i + 1]![j]!, len[i]![j + 1]!);
    }
  }
  const out: Array<readonly [number, number]> = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (eq(i, j)) {
      out.push([i, j]);
      i++;
      j++;
    } else if (len[i + 1]![j]! >= len[i]![j + 1]!) i++;
    else j++;
  }
  return out;
}

function samePositions(a: readonly Row[], b: readonly Row[]): Array<readonly [number, number]> {
  const out: Array<readonly [number, number]> = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (rowEquals(a[i]!, b[i]!)) out.push([i, i]);
  return out;
}

function union(a: readonly string[], b: readonly string[]): string[] {
  return [...a, ...b.filter((k) => !a.includes(k))];
}
