/**
 * `tally diff`: one endpoint answered by two revisions of the project on the same live data, and
 * the rows that differ. Back-to-back testing of a changed business rule.
 */

import type { Engine } from '../clickhouse/engine.ts';
import { isConnectionFailure } from '../clickhouse/engine-error.ts';
import type { Project } from '../project/model.ts';
import { limitSettings, unknownParam } from '../server/run-endpoint.ts';
import { compilePipe, resolveParams } from '../sql/index.ts';
import { parseExactJson } from '../util/exact-json.ts';

export type Row = Record<string, unknown>;

/**
 * One side's answer: its rows, or the error it gave (a bad param, a failing query);
 * `unknownColumn` when ClickHouse refused it for a column the tables do not have.
 */
export type Answer = { rows: Row[]; columns: string[] } | { error: string; unknownColumn?: true };

/**
 * ClickHouse's refusal of a name it cannot find among the columns (code 47, UNKNOWN_IDENTIFIER):
 * 18.16 says "Unknown identifier: x" or "Missing columns: 'x'", 26.x "Unknown expression
 * identifier `x`" (chDB without the code). Not a table it cannot find ("Unknown table expression
 * identifier", code 60).
 */
const UNKNOWN_COLUMN =
  /Missing columns:|Unknown (?:expression (?:or function )?)?identifier|Identifier '[^']+' cannot be resolved|There's no column/;

function isUnknownColumn(err: unknown): boolean {
  if ((err as { clickhouseCode?: string })?.clickhouseCode === '47') return true;
  return UNKNOWN_COLUMN.test(String((err as Error)?.message ?? err));
}

export interface RowChange {
  key: Record<string, unknown>;
  base: Row;
  head: Row;
  /** The columns whose values differ. */
  columns: string[];
}

export interface AnswerDiff {
  /** The columns rows are matched by; empty when rows are compared whole. */
  key: string[];
  added: Row[];
  removed: Row[];
  changed: RowChange[];
  /** A given key that repeats within an answer (its rows were paired by content, then in order). */
  keyRepeats?: boolean;
  /**
   * The same rows in another order: the first row (1-based) where they part. Not a difference
   * (an endpoint without ORDER BY has no fixed order), but said.
   */
  orderPartsAt?: number;
}

/** Runs an endpoint of `project` with `raw` params, as the server would (same limits, read-only). */
export async function answer(
  project: Project,
  engine: Engine,
  endpointName: string,
  raw: Readonly<Record<string, unknown>>,
): Promise<Answer> {
  const endpoint = project.endpoints.get(endpointName);
  if (!endpoint) return { error: `there is no endpoint ${endpointName}` };
  const pipe = project.pipes.get(endpoint.pipe);
  if (!pipe) return { error: `endpoint ${endpointName} reads the missing pipe ${endpoint.pipe}` };
  try {
    const resolved = resolveParams(pipe, raw);
    // As the server answers: a param the endpoint does not declare is refused, not ignored.
    const unknown = unknownParam(endpointName, pipe, resolved.unknown);
    if (unknown) return { error: unknown.message };
    const compiled = compilePipe(project, pipe.name, resolved, {
      capabilities: engine.capabilities,
      database: engine.database,
    });
    // Parsed keeping every digit: two UInt64 past 2^53 that differ must not compare equal.
    const text = await engine.text(compiled.sql, 'JSON', {
      params: { ...compiled.params },
      settings: limitSettings(endpoint),
    });
    const res = parseExactJson(text) as { data: Row[]; meta: Array<{ name: string }> };
    return { rows: res.data, columns: res.meta.map((m) => m.name) };
  } catch (err) {
    // A connection problem is not a difference between the revisions.
    if (isConnectionFailure(err)) throw err;
    const error = (err as Error)?.message ?? String(err);
    return isUnknownColumn(err) ? { error, unknownColumn: true } : { error };
  }
}

/**
 * Matches rows by `key` (default: the first column, when its values are distinct and non-null on
 * both sides; else rows are compared whole, as multisets, and only added and removed exist).
 */
export function diffAnswers(
  base: readonly Row[],
  head: readonly Row[],
  columns: readonly string[],
  key?: readonly string[],
): AnswerDiff {
  const k = key && key.length > 0 ? [...key] : defaultKey(base, head, columns);
  const out: AnswerDiff = k.length === 0 ? wholeRowDiff(base, head) : keyedDiff(base, head, k);
  if (isIdentical(out)) {
    const at = base.findIndex((r, i) => canonical(r) !== canonical(head[i]));
    if (at >= 0) out.orderPartsAt = at + 1;
  }
  return out;
}

function keyedDiff(base: readonly Row[], head: readonly Row[], k: readonly string[]): AnswerDiff {
  const keyOf = (r: Row) => canonical(k.map((c) => r[c]));
  const baseBy = groupBy(base, keyOf);
  const headBy = groupBy(head, keyOf);
  const out: AnswerDiff = { key: [...k], added: [], removed: [], changed: [] };
  for (const [id, rows] of headBy) {
    const before = baseBy.get(id) ?? [];
    let after = rows;
    let left = before;
    if (rows.length > 1 || before.length > 1) {
      // A given key that repeats: rows equal whole are paired first, the rest in order.
      out.keyRepeats = true;
      const same = wholeRowDiff(before, rows);
      after = same.added;
      left = same.removed;
    }
    after.forEach((r, i) => {
      const b = left[i];
      if (!b) out.added.push(r);
      else {
        const cols = changedColumns(b, r);
        if (cols.length > 0) out.changed.push({ key: pick(r, k), base: b, head: r, columns: cols });
      }
    });
    for (const b of left.slice(after.length)) out.removed.push(b);
  }
  for (const [id, rows] of baseBy) {
    if (headBy.has(id)) continue;
    if (rows.length > 1) out.keyRepeats = true;
    out.removed.push(...rows);
  }
  return out;
}

export function isIdentical(d: AnswerDiff): boolean {
  return d.added.length === 0 && d.removed.length === 0 && d.changed.length === 0;
}

function defaultKey(base: readonly Row[], head: readonly Row[], columns: readonly string[]): string[] {
  const first = columns[0];
  if (first === undefined) return [];
  const distinct = (rows: readonly Row[]) => {
    const seen = new Set<string>();
    for (const r of rows) {
      const v = r[first];
      if (v === null || v === undefined) return false;
      const c = canonical(v);
      if (seen.has(c)) return false;
      seen.add(c);
    }
    return true;
  };
  return distinct(base) && distinct(head) ? [first] : [];
}

function wholeRowDiff(base: readonly Row[], head: readonly Row[]): AnswerDiff {
  const counts = new Map<string, { n: number; row: Row }>();
  for (const r of base) {
    const c = canonical(r);
    const e = counts.get(c);
    counts.set(c, { n: (e?.n ?? 0) + 1, row: r });
  }
  const added: Row[] = [];
  for (const r of head) {
    const e = counts.get(canonical(r));
    if (e && e.n > 0) e.n--;
    else added.push(r);
  }
  const removed: Row[] = [];
  for (const e of counts.values()) for (let i = 0; i < e.n; i++) removed.push(e.row);
  return { key: [], added, removed, changed: [] };
}

function changedColumns(a: Row, b: Row): string[] {
  const cols = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...cols].filter((c) => canonical(a[c]) !== canonical(b[c]));
}

function groupBy(rows: readonly Row[], keyOf: (r: Row) => string): Map<string, Row[]> {
  const m = new Map<string, Row[]>();
  for (const r of rows) {
    const k = keyOf(r);
    const list = m.get(k);
    if (list) list.push(r);
    else m.set(k, [r]);
  }
  return m;
}

function pick(r: Row, cols: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(cols.map((c) => [c, r[c]]));
}

/** JSON with object keys sorted, so equal values compare equal whatever their key order. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : x,
  );
}
