/**
 * `tally_view_failures`: the record of materialized views that failed on rows already stored
 * (ingestion writes `failed`), and of their targets recomputed since (a deploy's replace-view
 * step, which `tally replay --apply` also runs, writes `recomputed`). A view is missing rows when
 * it failed after it was last recomputed. Kept in ClickHouse, not in a process, so that `/health`
 * of every instance, and of one started after the failure, says so until a recompute.
 */
import { quoteString } from '../sql/render-literal.ts';
import { quoteIdent } from './create-engine.ts';
import type { Engine } from './engine.ts';
import { engineMessage } from './engine-error.ts';
import { engineCall, isShardedCluster, onClusterClause } from './replicated-engine.ts';
import { syncInsertClause } from './sync-insert.ts';
import { columnsOf } from './table-columns.ts';

export const VIEW_FAILURES_TABLE = 'tally_view_failures';

/** A view that failed on rows stored since its target was last recomputed. */
export interface ViewFailure {
  /** Failed writes that named this view. */
  failures: number;
  /** Epoch ms of the first and the last of them. */
  firstAt: number;
  lastAt: number;
  /** The last failure's message. */
  error: string;
}

/** The CREATE statement (idempotent; on a cluster a replicated table kept whole on every node). */
export function viewFailuresTableSql(engine: Pick<Engine, 'database' | 'cluster' | 'shards'>): string {
  const engineSql = engineCall('MergeTree', [], {
    database: engine.database,
    table: VIEW_FAILURES_TABLE,
    cluster: engine.cluster,
    everywhere: isShardedCluster(engine),
  });
  return `CREATE TABLE IF NOT EXISTS ${table(engine)}${onClusterClause(engine.cluster)} (at_ms UInt64, datasource String, view String, kind String, error String, instance String, ${FAILURES_COLUMN}) ENGINE = ${engineSql} ORDER BY (view, at_ms)`;
}

/**
 * How many failed writes a `failed` row stands for (ingest/view-failure-recorder.ts writes one
 * row per view per interval). Rows written before the column existed stand for one each.
 */
const FAILURES_COLUMN = 'failures UInt32 DEFAULT 1';

/**
 * Makes the table, or brings one made by an earlier version up to date (the `failures` column).
 * On a cluster the table is replicated, so an ALTER on this node reaches every replica; two
 * processes adding the column at once is fine (the second finds it there).
 */
export async function ensureViewFailuresTable(engine: Engine): Promise<void> {
  let columns = await columnsOf(engine, VIEW_FAILURES_TABLE);
  if (columns.size === 0) {
    await engine.command(viewFailuresTableSql(engine));
    columns = await columnsOf(engine, VIEW_FAILURES_TABLE);
  }
  if (columns.has('failures')) return;
  try {
    await engine.command(`ALTER TABLE ${table(engine)} ADD COLUMN ${FAILURES_COLUMN}`);
  } catch (err) {
    // Another process added it first: on a cluster its ALTER may reach this replica a moment
    // after ours was refused for it.
    const deadline = Date.now() + (engine.cluster ? 15_000 : 0);
    for (;;) {
      if ((await columnsOf(engine, VIEW_FAILURES_TABLE)).has('failures')) return;
      if (Date.now() >= deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/**
 * Records that `view` failed on rows of `datasource` that were stored anyway: `failures` failed
 * writes (1 unless given), the last seen at `at` (epoch ms, after the failing insert returned)
 * with `error`. Times are the processes' own clocks, which must agree (NTP) to well under the
 * time between a failure and the recompute that heals it.
 */
export async function recordViewFailure(
  engine: Engine,
  failure: {
    datasource: string;
    view: string;
    at: number;
    error: string;
    instance: string;
    failures?: number;
  },
): Promise<void> {
  const row = {
    at_ms: failure.at,
    datasource: failure.datasource,
    view: failure.view,
    kind: 'failed',
    error: failure.error,
    instance: failure.instance,
    failures: failure.failures ?? 1,
  };
  await engine.command(
    `INSERT INTO ${table(engine)}${await syncInsertClause(engine)} FORMAT JSONEachRow\n${JSON.stringify(row)}`,
  );
}

/**
 * Records that the targets of `views` were recomputed from their sources by a step that began at
 * `atMs` (epoch ms): failures before it are healed; one during it may not be (a recompute's
 * shadow view failing on rows that arrive meanwhile), so it stays listed. Nothing to record where
 * the table was never made: no ingestion has run, so no view has failed.
 *
 * Then the rows the record makes moot (these views' rows before `atMs`) are deleted, so a view
 * that failed on every flush for hours does not leave the table growing: what is returned is a
 * note when that deletion could not be started (harmless: the rows are only read, never needed).
 */
export async function recordViewsRecomputed(
  engine: Engine,
  views: readonly string[],
  atMs: number,
): Promise<string | undefined> {
  if (views.length === 0) return undefined;
  const lines = views.map((view) =>
    JSON.stringify({ at_ms: atMs, datasource: '', view, kind: 'recomputed', error: '', instance: '' }),
  );
  try {
    await engine.command(
      `INSERT INTO ${table(engine)}${await syncInsertClause(engine)} FORMAT JSONEachRow\n${lines.join('\n')}`,
    );
  } catch (err) {
    if (/doesn't exist|does not exist|UNKNOWN_TABLE/i.test(String((err as Error).message))) return undefined;
    throw err;
  }
  return pruneHealed(engine, views, atMs).then(
    () => undefined,
    (err: unknown) =>
      `could not delete the healed rows of ${views.join(', ')} from ${VIEW_FAILURES_TABLE}: ${engineMessage(err)}`,
  );
}

/**
 * Deletes `views`' rows older than `beforeMs` (a mutation, run by ClickHouse in the background;
 * on a cluster the replicated table passes it to every replica). Not started when there are none:
 * an old server rewrites every part for a mutation, matching or not.
 */
async function pruneHealed(engine: Engine, views: readonly string[], beforeMs: number): Promise<void> {
  const where = `view IN (${views.map(quoteString).join(', ')}) AND at_ms < ${Math.floor(beforeMs)}`;
  const [r] = await engine.rows<{ n: string | number }>(
    `SELECT count() AS n FROM ${table(engine)} WHERE ${where}`,
  );
  if (Number(r?.n ?? 0) === 0) return;
  await engine.command(`ALTER TABLE ${table(engine)} DELETE WHERE ${where}`);
}

/**
 * Per data source, its views that failed since their targets were last recomputed. A `failed`
 * row with `failures` 0 was written by an earlier version (18.16 fills a JSONEachRow field left
 * out with 0, not with the column's DEFAULT): it stands for one failure.
 */
export async function readViewsMissingRows(
  engine: Engine,
): Promise<Map<string, Record<string, ViewFailure>>> {
  const rows = await engine.rows<{
    datasource: string;
    view: string;
    failures: string | number;
    first_ms: string | number;
    last_ms: string | number;
    error: string;
  }>(
    `SELECT datasource, view, sum(if(failures = 0, 1, failures)) AS failures, min(at_ms) AS first_ms, max(at_ms) AS last_ms, argMax(error, at_ms) AS error
     FROM ${table(engine)}
     ANY LEFT JOIN (SELECT view, max(at_ms) AS cleared_ms FROM ${table(engine)} WHERE kind = 'recomputed' GROUP BY view) AS recomputes USING view
     WHERE kind = 'failed' AND at_ms > ifNull(cleared_ms, 0)
     GROUP BY datasource, view`,
  );
  const out = new Map<string, Record<string, ViewFailure>>();
  for (const r of rows) {
    const views = out.get(r.datasource) ?? {};
    views[r.view] = {
      failures: Number(r.failures),
      firstAt: Number(r.first_ms),
      lastAt: Number(r.last_ms),
      error: r.error,
    };
    out.set(r.datasource, views);
  }
  return out;
}

/** Per view, when its target was last recomputed (the `recomputed` record's at_ms). */
export async function readLastRecomputes(engine: Engine): Promise<Map<string, number>> {
  const rows = await engine.rows<{ view: string; at: string | number }>(
    `SELECT view, max(at_ms) AS at FROM ${table(engine)} WHERE kind = 'recomputed' GROUP BY view`,
  );
  return new Map(rows.map((r) => [r.view, Number(r.at)]));
}

/** A failure as the process that met it holds it: `recordedAt` once its row is in the table. */
export type NotedViewFailure = ViewFailure & { recordedAt?: number };

/**
 * The views missing rows as an instance reports them: what the table said at its last read
 * (`read.at`: when that read began), plus what this process met that the read could not have
 * seen (its row written after the read began, still being written, or refused). Without a read
 * that succeeded, this process's own failures alone.
 */
export function viewsMissingRows(
  read: { at: number; views: Readonly<Record<string, ViewFailure>> } | undefined,
  noted: Readonly<Record<string, NotedViewFailure>> | undefined,
): Record<string, ViewFailure> {
  const out: Record<string, ViewFailure> = { ...read?.views };
  for (const [view, n] of Object.entries(noted ?? {})) {
    // In the table before the read began: the read has it, or a recompute since cleared it.
    if (read && n.recordedAt !== undefined && n.recordedAt <= read.at) continue;
    const r = out[view];
    out[view] = r
      ? {
          failures: Math.max(r.failures, n.failures),
          firstAt: Math.min(r.firstAt, n.firstAt),
          lastAt: Math.max(r.lastAt, n.lastAt),
          error: n.lastAt >= r.lastAt ? n.error : r.error,
        }
      : { failures: n.failures, firstAt: n.firstAt, lastAt: n.lastAt, error: n.error };
  }
  return out;
}

function table(engine: Pick<Engine, 'database'>): string {
  return `${quoteIdent(engine.database)}.${VIEW_FAILURES_TABLE}`;
}
