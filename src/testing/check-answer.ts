/**
 * Whether an endpoint's answer meets a case's expectation, and if not, what differs. Pure: the
 * runner gets the answer over the in-process HTTP app, this module judges it.
 */

import { plural } from '../util/plural.ts';
import { toPlain } from './compare-values.ts';
import { diffContains, diffRows, matchPartial, type Row, type RowDiff } from './row-diff.ts';
import type { Expectation, TestValue } from './test-file.ts';

/** What the endpoint answered, as a client sees it. */
export interface Answer {
  status: number;
  /** `data` of a JSON answer. */
  rows?: Row[];
  /** `error` of an error answer (or the body, when it is not JSON). */
  error?: string;
}

export interface Failure {
  message: string;
  /** Only what differs; `partial` when expected rows are parts of rows (`contains`). */
  diff?: { entries: RowDiff[]; partial: boolean; expected: readonly Row[]; actual: readonly Row[] };
}

export function checkAnswer(expected: Expectation, answer: Answer): Failure[] {
  const wantsError =
    expected.error !== undefined || (expected.status !== undefined && expected.status >= 400);
  if (wantsError) {
    const statusOk = expected.status === undefined ? answer.status >= 400 : answer.status === expected.status;
    const failures: Failure[] = [];
    if (!statusOk) {
      const want =
        expected.status === undefined ? 'an error status (400 or more)' : `status ${expected.status}`;
      failures.push({
        message: `expected ${want}, got ${answer.status}${answer.error !== undefined ? `: ${answer.error}` : rowsNote(answer)}`,
      });
    }
    if (
      expected.error !== undefined &&
      answer.status >= 400 &&
      !(answer.error ?? '').toLowerCase().includes(expected.error.toLowerCase())
    ) {
      failures.push({
        message: `expected the error to contain ${JSON.stringify(expected.error)}, got ${JSON.stringify(answer.error ?? '')}`,
      });
    }
    return failures;
  }

  const status = expected.status ?? 200;
  if (answer.status !== status) {
    return [
      {
        message: `expected status ${status}, got ${answer.status}${answer.error !== undefined ? `: ${answer.error}` : ''}`,
      },
    ];
  }
  const actual = answer.rows ?? [];
  const failures: Failure[] = [];
  if (expected.rows) {
    const entries = diffRows(expected.rows, actual, expected.ordered);
    if (entries.length > 0) {
      failures.push({
        message: `rows differ: ${summarize(entries)} (expected ${plural(expected.rows.length, 'row')}, got ${actual.length})`,
        diff: { entries, partial: false, expected: expected.rows, actual },
      });
    }
  }
  if (expected.contains) {
    const entries = diffContains(expected.contains, actual);
    if (entries.length > 0) {
      failures.push({
        message: `${entries.length} of ${plural(expected.contains.length, 'row')} expected not found among the ${plural(actual.length, 'row')} of the answer`,
        diff: { entries, partial: true, expected: expected.contains, actual },
      });
    }
  }
  if (expected.rowCount !== undefined && actual.length !== expected.rowCount) {
    failures.push({ message: `expected ${plural(expected.rowCount, 'row')}, got ${actual.length}` });
  }
  return failures;
}

/**
 * The expectation rewritten to what the endpoint answered (`tally test --update`), as the keys
 * of `expected:` to set; or why it cannot be: an answer of another kind (rows for an error case,
 * an error for a rows case) means the case itself needs a look.
 */
export function updatedExpectation(
  expected: Expectation,
  answer: Answer,
): { set: Record<string, TestValue> } | { refused: string } {
  const wantsError =
    expected.error !== undefined || (expected.status !== undefined && expected.status >= 400);
  if (wantsError) {
    if (answer.status < 400) {
      return { refused: `the endpoint answered ${answer.status} with rows; this case expects an error` };
    }
    const set: Record<string, TestValue> = {};
    if (expected.status !== undefined) set.status = answer.status;
    if (expected.error !== undefined) set.error = answer.error ?? '';
    return { set };
  }
  if (answer.status !== (expected.status ?? 200)) {
    return {
      refused: `the endpoint answered ${answer.status}${answer.error ? ` (${answer.error})` : ''}; fix the case or the endpoint`,
    };
  }
  const rows = answer.rows ?? [];
  // As the file will hold them: numbers a double cannot hold as strings of their digits.
  const actual = rows.map((r) => toPlain(r) as Record<string, TestValue>);
  const set: Record<string, TestValue> = {};
  if (expected.rows) set.rows = actual;
  if (expected.contains) {
    // Keep the columns each expected row names: rewrite only the rows that found no match, each
    // to its closest row of the answer.
    const match = matchPartial(expected.contains, rows);
    const used = new Set(match.filter((m) => m >= 0));
    const next: Array<Record<string, TestValue>> = [];
    const missing = diffContains(expected.contains, rows);
    for (let i = 0; i < expected.contains.length; i++) {
      const row = expected.contains[i]! as Record<string, TestValue>;
      if (match[i]! >= 0) {
        next.push(row);
        continue;
      }
      const d = missing.find((m) => m.kind !== 'extra' && m.expectedIndex === i);
      // Its closest row of the answer, else the first one no other expected row took.
      const j =
        d?.kind === 'changed' && !used.has(d.actualIndex)
          ? d.actualIndex
          : actual.findIndex((_, k) => !used.has(k));
      if (j < 0) {
        // Dropping it would leave a case that checks less (an empty `contains` checks nothing).
        return {
          refused: `row ${i + 1} of contains matches no row of the answer, and no row is left to put in its place; write it by hand`,
        };
      }
      const source = actual[j]!;
      used.add(j);
      next.push(Object.fromEntries(Object.keys(row).map((k) => [k, source[k] ?? null])));
    }
    set.contains = next;
  }
  if (expected.rowCount !== undefined) set.row_count = actual.length;
  return { set };
}

function summarize(entries: readonly RowDiff[]): string {
  const n = { changed: 0, missing: 0, extra: 0 };
  for (const e of entries) n[e.kind]++;
  const parts: string[] = [];
  if (n.changed) parts.push(`${n.changed} changed`);
  if (n.missing) parts.push(`${n.missing} missing`);
  if (n.extra) parts.push(`${n.extra} extra`);
  return parts.join(', ');
}

function rowsNote(answer: Answer): string {
  return answer.rows ? ` with ${plural(answer.rows.length, 'row')}` : '';
}
