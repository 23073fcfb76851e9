/**
 * After a writer died on the embedded back end (writer-marker.ts), puts back what one INSERT
 * interrupted between its parts can have broken, before any event is read again:
 *
 * 1. Kafka rows past the last complete flush (`batch` mark) are deleted from the data source and
 *    its quarantine: that flush is rolled back whole and Kafka delivers it again. Only for tables
 *    with `__partition`/`__offset`, and only for partitions that have a `batch` mark.
 * 2. The `source` and `quarantine` marks are recomputed from the tables (a view may have written
 *    its mark for rows whose table part never landed, or the other way round).
 * 3. `tally_seen_<ds>` is emptied and refilled from the data source: a key is seen exactly when
 *    its row is stored.
 * 4. Every materialized target fed by the events is emptied and recomputed from its sources: a
 *    view may have counted rows the table lost, or missed rows the table kept.
 *
 * The data sources' own rows are the truth; everything derived is recomputed from them. Run with
 * no writer (ingestion, deploy, copies) on the database: it empties tables that writers feed.
 *
 *   const report = await recoverAfterCrash(project, engine);
 */
import { quoteIdent } from '../clickhouse/create-engine.ts';
import type { Engine } from '../clickhouse/engine.ts';
import { engineMessage } from '../clickhouse/engine-error.ts';
import { quarantineTableName } from '../clickhouse/quarantine-schema.ts';
import { columnsOf } from '../clickhouse/table-columns.ts';
import { recordViewsRecomputed } from '../clickhouse/view-failure-log.ts';
import { viewTargetOf } from '../deploy/introspect.ts';
import { discardName, healableViewOf, nextName } from '../deploy/names.ts';
import { TallyError } from '../errors.ts';
import type { Project } from '../project/model.ts';
import { quoteString } from '../sql/render-literal.ts';
import { scanOutsideQuotes } from '../util/sql-text-scan.ts';
import {
  OFFSETS_TABLE,
  quarantineMarkSelect,
  refillSeenSql,
  seenTableName,
  sourceMarkSelect,
} from './ingest-tables.ts';

export interface RecoveryReport {
  /** Per data source: rows of an incomplete flush deleted (table, quarantine). */
  rolledBack: Array<{ datasource: string; rows: number; quarantined: number }>;
  /** Data sources whose seen keys were rebuilt. */
  seenRebuilt: string[];
  /** Materialized targets emptied and recomputed, in the order they were filled. */
  recomputed: Array<{ target: string; rows: number }>;
  /** Targets fed by views that cannot be recomputed (they also take events of their own). */
  skipped: Array<{ target: string; reason: string }>;
  /** What recovery could not note but did not need to (a `/health` listing it may be stale). */
  warnings: string[];
  ms: number;
}

export interface RecoveryOptions {
  /**
   * Step 1, the roll-back past the last `batch` mark (default true). Off where other processes
   * write too (restart-recovery.ts): another instance's stored flush may not have its mark yet.
   */
  rollBack?: boolean;
}

export async function recoverAfterCrash(
  project: Project,
  engine: Engine,
  opts: RecoveryOptions = {},
): Promise<RecoveryReport> {
  const rollBack = opts.rollBack ?? true;
  const t0 = performance.now();
  const began = Date.now();
  const db = quoteIdent(engine.database);
  const ref = (t: string) => `${db}.${quoteIdent(t)}`;
  const exists = async (t: string) => (await columnsOf(engine, t)).size > 0;
  const report: RecoveryReport = {
    rolledBack: [],
    seenRebuilt: [],
    recomputed: [],
    skipped: [],
    warnings: [],
    ms: 0,
  };
  const haveOffsets = await exists(OFFSETS_TABLE);

  for (const ds of project.datasources.values()) {
    const columns = await columnsOf(engine, ds.name);
    if (columns.size === 0) continue;
    if (ds.kafka && haveOffsets) {
      const beyond = rollBack ? await pastLastFlush(engine, ds.name, ds.kafka.topic) : undefined;
      let rows = 0;
      let quarantined = 0;
      if (beyond && columns.has('__partition') && columns.has('__offset')) {
        const where = `__offset >= 0 AND __offset > ${beyond('__partition')}`;
        rows = await count(engine, `${ref(ds.name)} WHERE ${where}`);
        if (rows > 0) await deleteWhere(engine, ds.name, where);
      }
      const q = quarantineTableName(ds.name);
      const hasQuarantine = await exists(q);
      if (beyond && hasQuarantine) {
        const where = `source = 'kafka' AND topic = ${quoteString(ds.kafka.topic)} AND \`offset\` > ${beyond('`partition`')}`;
        quarantined = await count(engine, `${ref(q)} WHERE ${where}`);
        if (quarantined > 0) await deleteWhere(engine, q, where);
      }
      if (rows > 0 || quarantined > 0) report.rolledBack.push({ datasource: ds.name, rows, quarantined });

      await deleteWhere(
        engine,
        OFFSETS_TABLE,
        `datasource = ${quoteString(ds.name)} AND kind IN ('source', 'quarantine')`,
      );
      if (columns.has('__partition') && columns.has('__offset'))
        await engine.command(`INSERT INTO ${ref(OFFSETS_TABLE)} ${sourceMarkSelect(engine, ds)}`);
      if (hasQuarantine)
        await engine.command(`INSERT INTO ${ref(OFFSETS_TABLE)} ${quarantineMarkSelect(engine, ds)}`);
    }
    const refill = refillSeenSql(engine, ds);
    if (refill.length > 0 && (await exists(seenTableName(ds.name)))) {
      for (const sql of refill) await engine.command(sql);
      report.seenRebuilt.push(ds.name);
    }
  }

  // Empty every derived target first, then run only the views reading a table that was not
  // emptied: each INSERT fires the views downstream of its target, which fills those in turn.
  // The live views, not the project's: they are what fed the targets.
  const views = await liveViews(engine);
  const derived = new Set<string>();
  for (const v of views) {
    if (v.target.startsWith('tally_') || v.target.includes('__tally_')) continue;
    if (project.datasources.get(v.target)?.kafka) {
      report.skipped.push({ target: v.target, reason: 'it also takes events from Kafka' });
    } else derived.add(v.target);
  }
  if (engine.capabilities.major >= TRUNCATE_IS_FINAL_FROM) {
    for (const t of derived) await engine.command(`TRUNCATE TABLE ${ref(t)}`);
    for (const v of views) {
      if (!derived.has(v.target) || derived.has(v.source)) continue;
      await engine.command(await insertFromView(engine, v, ref(v.target)));
    }
  } else {
    await refillBySwap(engine, views, derived);
  }
  for (const t of derived) report.recomputed.push({ target: t, rows: await count(engine, ref(t)) });
  // A view that failed before (view-failure-log.ts) left its target short; recomputed, it is whole.
  const healed = [
    ...new Set(views.filter((v) => derived.has(v.target)).flatMap((v) => healableViewOf(v.name) ?? [])),
  ];
  const note = await recordViewsRecomputed(engine, healed, began).catch(
    (err: unknown) =>
      `could not record in tally_view_failures that ${healed.join(', ')} no longer miss rows (${engineMessage(err)}): /health may list them until the next recompute`,
  );
  if (note) report.warnings.push(note);
  report.ms = Math.round(performance.now() - t0);
  return report;
}

/**
 * The first release whose TRUNCATE leaves nothing to come back: older servers (18.16 here) only
 * unlink the parts from the table and delete their files minutes later, so a kill -9 in between
 * loads them again at the next start (measured in a chaos run: a target recomputed by one
 * recovery was counted twice after the next kill; ClickHouse fixed it in 22.7, PR 37981).
 */
const TRUNCATE_IS_FINAL_FROM = 23;

/**
 * Refills each derived target into a new table, swapped in by RENAME, the old one dropped (DROP
 * deletes its files at once). Upstream targets first, so a view reading another target reads
 * the new one. Old servers only: there a view finds its target by name (Ordinary databases).
 */
async function refillBySwap(engine: Engine, views: readonly LiveView[], derived: Set<string>): Promise<void> {
  const ref = (t: string) => `${quoteIdent(engine.database)}.${quoteIdent(t)}`;
  const feeders = new Map<string, LiveView[]>();
  for (const v of views)
    if (derived.has(v.target)) feeders.set(v.target, [...(feeders.get(v.target) ?? []), v]);
  const done = new Set<string>();
  while (done.size < feeders.size) {
    const ready = [...feeders].find(
      ([t, vs]) => !done.has(t) && vs.every((v) => !derived.has(v.source) || done.has(v.source)),
    );
    if (!ready) {
      throw new TallyError(
        'recovery-cycle',
        'crash recovery: the materialized views feed each other in a cycle',
        {
          hint: 'recompute the targets with `tally replay`',
        },
      );
    }
    const [target, feeding] = ready;
    const next = nextName(target);
    await engine.command(`DROP TABLE IF EXISTS ${ref(next)}`);
    await engine.command(`CREATE TABLE ${ref(next)} AS ${ref(target)}`);
    for (const v of feeding) await engine.command(await insertFromView(engine, v, ref(next)));
    await engine.command(`DROP TABLE IF EXISTS ${ref(discardName(target))}`);
    await engine.command(
      `RENAME TABLE ${ref(target)} TO ${ref(discardName(target))}, ${ref(next)} TO ${ref(target)}`,
    );
    await engine.command(`DROP TABLE ${ref(discardName(target))}`);
    done.add(target);
  }
}

/**
 * `INSERT INTO into (columns) SELECT columns FROM (<the view's SELECT>)`, by the names the
 * view's SELECT outputs (which is how a view writes into its target).
 */
async function insertFromView(engine: Engine, v: LiveView, into: string): Promise<string> {
  const meta = (await engine.query(`SELECT * FROM (${v.select}) LIMIT 0`)).meta;
  const cols = meta.map((c) => quoteIdent(c.name)).join(', ');
  return `INSERT INTO ${into} (${cols}) SELECT ${cols} FROM (${v.select})`;
}

/**
 * An expression of the partition column giving the last offset of the last complete flush, or
 * the largest Int64 for a partition without one (nothing to roll back there: its rows may come
 * from before the marks existed, or from a topic whose marks were reset). Undefined: no marks.
 */
async function pastLastFlush(
  engine: Engine,
  datasource: string,
  topic: string,
): Promise<((partitionColumn: string) => string) | undefined> {
  const marks = await engine.rows<{ p: number | string; o: number | string }>(
    `SELECT \`partition\` AS p, max(\`offset\`) AS o FROM ${quoteIdent(engine.database)}.${OFFSETS_TABLE} WHERE datasource = ${quoteString(datasource)} AND topic = ${quoteString(topic)} AND kind = 'batch' GROUP BY \`partition\``,
  );
  if (marks.length === 0) return undefined;
  return (col) =>
    `multiIf(${marks.map((m) => `${col} = ${Number(m.p)}, toInt64(${String(m.o)})`).join(', ')}, toInt64(9223372036854775807))`;
}

interface LiveView {
  name: string;
  source: string;
  target: string;
  select: string;
}

/** The database's materialized views with a TO target: what fires them and what they run. */
async function liveViews(engine: Engine): Promise<LiveView[]> {
  const rows = await engine.rows<{
    name: string;
    engine: string;
    create_table_query: string;
    deps: string[];
  }>(
    `SELECT name, engine, create_table_query, dependencies_table AS deps FROM system.tables WHERE database = ${quoteString(engine.database)}`,
  );
  const sourceOf = new Map<string, string>();
  for (const r of rows) for (const d of r.deps ?? []) sourceOf.set(d, r.name);
  const out: LiveView[] = [];
  for (const r of rows) {
    if (r.engine !== 'MaterializedView') continue;
    const target = viewTargetOf(r.create_table_query);
    const source = sourceOf.get(r.name);
    const select = viewSelectOf(r.create_table_query);
    if (target && source && select) out.push({ name: r.name, source, target, select });
  }
  return out;
}

/**
 * The SELECT of `CREATE MATERIALIZED VIEW ... TO t [(columns)] AS <select>`: what follows the
 * first `AS` outside brackets and quotes (18.16 has no system.tables.as_select).
 */
export function viewSelectOf(createQuery: string): string | undefined {
  const at = scanOutsideQuotes(
    createQuery,
    0,
    (i, depth) => depth === 0 && /\s/.test(createQuery[i]!) && /^\s+AS\s/i.test(createQuery.slice(i, i + 64)),
  );
  return at < 0
    ? undefined
    : createQuery
        .slice(at)
        .replace(/^\s+AS\s+/i, '')
        .trim();
}

async function count(engine: Engine, from: string): Promise<number> {
  const r = await engine.rows<{ n: number | string }>(`SELECT count() AS n FROM ${from}`);
  return Number(r[0]?.n ?? 0);
}

/**
 * ALTER TABLE ... DELETE, waited for: a mutation runs in the background, and the marks recomputed
 * next must not see the rows it deletes. (`mutations_sync` would do it, but 18.16 lacks it.)
 */
async function deleteWhere(engine: Engine, table: string, where: string, timeoutMs = 300_000): Promise<void> {
  await engine.command(
    `ALTER TABLE ${quoteIdent(engine.database)}.${quoteIdent(table)} DELETE WHERE ${where}`,
  );
  const until = Date.now() + timeoutMs;
  for (;;) {
    const pending = await count(
      engine,
      `system.mutations WHERE database = ${quoteString(engine.database)} AND table = ${quoteString(table)} AND is_done = 0`,
    );
    if (pending === 0) return;
    if (Date.now() > until)
      throw new TallyError(
        'recovery-stuck',
        `crash recovery: the deletion in ${table} did not finish within ${timeoutMs / 1000} s`,
        { hint: `see system.mutations for ${table}; start again once it is done` },
      );
    await new Promise((r) => setTimeout(r, 50));
  }
}
