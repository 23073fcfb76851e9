/**
 * The tables and views ingestion keeps beside a data source (all named `tally_...`):
 * - `tally_ingest_offsets`: per (data source, topic, partition, kind) the highest Kafka offset
 *   known to be handled. `batch` rows are written after each flush; `source` and `quarantine`
 *   rows are written by materialized views in the same INSERT that stores the rows.
 * - `tally_ingest_log`: the ops log, one row per flush and partition.
 * - `tally_view_failures`: views that failed on stored rows (clickhouse/view-failure-log.ts).
 * - `tally_seen_<ds>` (data sources with a dedup_key): the keys stored in the last days, filled
 *   by a materialized view from the data source table itself, so a key is "seen" in the same
 *   INSERT that stores its row.
 * Everything is created idempotently; a view whose definition changed is replaced (its name
 * carries a hash of the definition). Works on ClickHouse 18.16 and current releases.
 */
import { createHash } from 'node:crypto';
import { quoteIdent } from '../clickhouse/create-engine.ts';
import type { Engine } from '../clickhouse/engine.ts';
import { quarantineTableName } from '../clickhouse/quarantine-schema.ts';
import {
  distributedEngine,
  engineCall,
  isShardedCluster,
  onClusterClause,
  shardTableName,
} from '../clickhouse/replicated-engine.ts';
import { columnsOf } from '../clickhouse/table-columns.ts';
import { ensureViewFailuresTable } from '../clickhouse/view-failure-log.ts';

export { syncInsertClause } from '../clickhouse/sync-insert.ts';

import { isHashedName, seenTableName } from '../deploy/names.ts';
import type { DataSource } from '../project/model.ts';
import { quoteString } from '../sql/render-literal.ts';
import { dedupKeyOf } from './dedup-key.ts';

export const OFFSETS_TABLE = 'tally_ingest_offsets';
export const LOG_TABLE = 'tally_ingest_log';

export { seenTableName };

/** A Memory table of one process holding a flush's keys for the seen lookup. */
export function probeTableName(ds: string, instance: string): string {
  return `tally_probe_${ds}_${hash(instance)}`;
}

/** Probe tables older than this are left over by processes that died; dropped at start. */
const STALE_PROBE_SECONDS = 86_400;

export interface IngestTablesReport {
  /** Statements run, for logs and tests. */
  created: string[];
  /** Whether the data source table has the Kafka coordinate columns exactly-once needs. */
  coordinates: boolean;
}

/**
 * Creates what ingestion needs for `ds` (its own table and quarantine table must exist: deploy
 * creates them). Safe to run any number of times and from several processes; run it after each
 * deploy, before ingesting.
 */
export async function ensureIngestTables(engine: Engine, ds: DataSource): Promise<IngestTablesReport> {
  const db = quoteIdent(engine.database);
  const on = onClusterClause(engine.cluster);
  const created: string[] = [];
  const run = async (sql: string) => {
    await engine.command(sql);
    created.push(sql);
  };
  // Sharded cluster: the data source's views fire on each shard's table; Tally's own tables are
  // kept whole on every node (clickhouse/replicated-engine.ts).
  const sharded = isShardedCluster(engine);
  const storage = sharded ? shardTableName(ds.name) : ds.name;
  const engineOf = (table: string, type: string, args: string[] = []) =>
    engineCall(type, args, {
      database: engine.database,
      table,
      cluster: engine.cluster,
      everywhere: sharded,
    });
  await createTableOnce(
    engine,
    OFFSETS_TABLE,
    `CREATE TABLE IF NOT EXISTS ${db}.${OFFSETS_TABLE}${on} (datasource String, topic String, \`partition\` Int32, kind String, \`offset\` Int64, updated_at DateTime) ENGINE = ${engineOf(OFFSETS_TABLE, 'ReplacingMergeTree', ['`offset`'])} ORDER BY (datasource, topic, \`partition\`, kind)`,
  );
  await createTableOnce(
    engine,
    LOG_TABLE,
    `CREATE TABLE IF NOT EXISTS ${db}.${LOG_TABLE}${on} (time DateTime, datasource String, source String, topic String, \`partition\` Int32, first_offset Int64, last_offset Int64, rows UInt64, quarantined UInt64, duplicates UInt64, skipped UInt64, bytes UInt64, duration_ms UInt32, lag Int64, instance String) ENGINE = ${engineOf(LOG_TABLE, 'MergeTree')} PARTITION BY toYYYYMM(time) ORDER BY (datasource, time)`,
  );
  await ensureViewFailuresTable(engine);
  // The ops log row of a Kafka flush is also its `batch` mark: one INSERT writes both.
  const logSelect = `SELECT datasource, topic, \`partition\`, 'batch' AS kind, last_offset AS \`offset\`, time AS updated_at FROM ${db}.${LOG_TABLE} WHERE source = 'kafka'`;
  await ensureWatermarkView(
    engine,
    'tally_ingest_log_mv_',
    logSelect,
    await viewsOf(engine, LOG_TABLE),
    run,
    false,
  );

  const tableColumns = await columnsOf(engine, ds.name);
  const coordinates = tableColumns.has('__partition') && tableColumns.has('__offset');
  const views = await viewsOf(engine, storage);

  const key = dedupKeyOf(ds);
  if (key) {
    const seen = seenTableName(ds.name);
    // Sharded: the keys sit beside their rows, in a table per shard that the shard's own view
    // fills in the same INSERT; the lookup reads every shard through a Distributed table, so a
    // key stored a moment ago on another shard is found (with one replica per shard, no
    // replication delay to wait for).
    const seenStore = sharded ? shardTableName(seen) : seen;
    const seenRef = `${db}.${quoteIdent(seenStore)}`;
    const select = seenSelect(engine, ds, storage)!;
    const mv = seenViewName(engine, ds)!;
    if (!views.current.has(mv)) {
      const existed = (await columnsOf(engine, seen)).size > 0;
      await run(
        `CREATE TABLE IF NOT EXISTS ${seenRef}${on} (key String, seen_at DateTime) ENGINE = ${engineCall('ReplacingMergeTree', [], { database: engine.database, table: seenStore, cluster: engine.cluster })} PARTITION BY toYYYYMMDD(seen_at) ORDER BY key`,
      );
      if (sharded) {
        await run(
          `CREATE TABLE IF NOT EXISTS ${db}.${quoteIdent(seen)}${on} AS ${seenRef} ENGINE = ${distributedEngine(engine.cluster!, engine.database, seen, 'cityHash64(key)')}`,
        );
      }
      for (const old of views.all.filter((v) => isHashedName(v, `${seen}_mv_`))) {
        await run(`DROP TABLE IF EXISTS ${db}.${quoteIdent(old)}${on}`);
      }
      await run(
        `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.${quoteIdent(mv)}${on} TO ${seenRef} AS ${select}`,
      );
      // The keys of rows stored before the view existed (or under another key definition).
      for (const sql of refillSeenSql(engine, ds, existed)) await run(sql);
    }
  }

  if (key) {
    // Probe tables are Memory tables of one node (each instance reads through its own node).
    const stale = await engine.rows<{ name: string }>(
      `SELECT name FROM system.tables WHERE database = ${quoteString(engine.database)} AND engine = 'Memory' AND metadata_modification_time < now() - ${STALE_PROBE_SECONDS}`,
    );
    for (const { name } of stale) {
      if (isHashedName(name, `tally_probe_${ds.name}_`))
        await run(`DROP TABLE IF EXISTS ${db}.${quoteIdent(name)}`);
    }
  }

  if (ds.kafka && coordinates) {
    await ensureWatermarkView(
      engine,
      `tally_wm_${ds.name}_`,
      sourceMarkSelect(engine, ds, storage)!,
      views,
      run,
      sourceMarkSelect(engine, ds)!,
    );
  }
  if (ds.kafka) {
    const qviews = await viewsOf(engine, quarantineTableName(ds.name));
    await ensureWatermarkView(
      engine,
      `tally_wmq_${ds.name}_`,
      quarantineMarkSelect(engine, ds)!,
      qviews,
      run,
    );
  }
  return { created, coordinates };
}

/**
 * The name of the view that fills `tally_seen_<ds>`; it carries a hash of its SELECT, so a changed
 * dedup key is a view of another name (undefined without a dedup key).
 */
export function seenViewName(engine: Engine, ds: DataSource): string | undefined {
  const select = seenSelect(engine, ds, isShardedCluster(engine) ? shardTableName(ds.name) : ds.name);
  return select === undefined ? undefined : `${seenTableName(ds.name)}_mv_${hash(select)}`;
}

/**
 * What the seen view writes: the key of every stored row (undefined without a dedup key). `from`:
 * the table read, on a sharded cluster each shard's for the view and the whole one for a refill.
 */
export function seenSelect(engine: Engine, ds: DataSource, from = ds.name): string | undefined {
  const key = dedupKeyOf(ds);
  if (!key) return undefined;
  return `SELECT ${key.sql} AS key, now() AS seen_at FROM ${quoteIdent(engine.database)}.${quoteIdent(from)}`;
}

/**
 * Empties `tally_seen_<ds>` (when it has rows to lose) and fills it with the key of every stored
 * row: after the seen view changed, or after a crash left it out of step with the table.
 */
export function refillSeenSql(engine: Engine, ds: DataSource, truncate = true): string[] {
  const select = seenSelect(engine, ds);
  if (!select) return [];
  const db = quoteIdent(engine.database);
  const seen = seenTableName(ds.name);
  const store = isShardedCluster(engine) ? shardTableName(seen) : seen;
  return [
    ...(truncate ? [`TRUNCATE TABLE ${db}.${quoteIdent(store)}${onClusterClause(engine.cluster)}`] : []),
    `INSERT INTO ${db}.${quoteIdent(seen)} (key, seen_at) ${select}`,
  ];
}

/** What the `source` mark view writes: the highest stored offset per partition (Kafka data sources). */
export function sourceMarkSelect(engine: Engine, ds: DataSource, from = ds.name): string | undefined {
  if (!ds.kafka) return undefined;
  const table = `${quoteIdent(engine.database)}.${quoteIdent(from)}`;
  return `SELECT ${quoteString(ds.name)} AS datasource, ${quoteString(ds.kafka.topic)} AS topic, toInt32(__partition) AS \`partition\`, 'source' AS kind, toInt64(max(__offset)) AS \`offset\`, now() AS updated_at FROM ${table} WHERE __offset >= 0 GROUP BY __partition`;
}

/** What the `quarantine` mark view writes: the highest quarantined offset per partition. */
export function quarantineMarkSelect(engine: Engine, ds: DataSource): string | undefined {
  if (!ds.kafka) return undefined;
  const q = `${quoteIdent(engine.database)}.${quoteIdent(quarantineTableName(ds.name))}`;
  return `SELECT ${quoteString(ds.name)} AS datasource, topic, \`partition\`, 'quarantine' AS kind, max(\`offset\`) AS \`offset\`, now() AS updated_at FROM ${q} WHERE source = 'kafka' GROUP BY topic, \`partition\``;
}

/**
 * Runs a CREATE TABLE IF NOT EXISTS unless this node has the table: on a cluster it is an ON
 * CLUSTER statement, which waits for every node, and an instance must start while a replica is down.
 */
async function createTableOnce(engine: Engine, table: string, sql: string): Promise<void> {
  if (engine.cluster && (await columnsOf(engine, table)).size > 0) return;
  await engine.command(sql);
}

/** A view feeding `tally_ingest_offsets`, backfilled from what the table already holds. */
async function ensureWatermarkView(
  engine: Engine,
  prefix: string,
  select: string,
  views: Views,
  run: (sql: string) => Promise<void>,
  /** What fills the marks from the rows already there (the view's select, unless it differs); none: false. */
  backfill: string | false = select,
): Promise<void> {
  const db = quoteIdent(engine.database);
  const name = `${prefix}${hash(select)}`;
  if (views.current.has(name)) return;
  const on = onClusterClause(engine.cluster);
  for (const old of views.all.filter((v) => isHashedName(v, prefix))) {
    await run(`DROP TABLE IF EXISTS ${db}.${quoteIdent(old)}${on}`);
  }
  await run(
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.${quoteIdent(name)}${on} TO ${db}.${OFFSETS_TABLE} AS ${select}`,
  );
  if (backfill) await run(`INSERT INTO ${db}.${OFFSETS_TABLE} ${backfill}`);
}

interface Views {
  /** Views of the database whose names start with `tally_`. */
  all: string[];
  /** Those among them that `table` feeds (its dependencies). */
  current: Set<string>;
}

/**
 * Tally's views, and which of them are attached to `table`. A view left behind by a table swap
 * (deploy renames tables) counts as missing, so it is recreated against the table of that name.
 */
async function viewsOf(engine: Engine, table: string): Promise<Views> {
  const db = quoteString(engine.database);
  const all = await engine.rows<{ name: string }>(
    `SELECT name FROM system.tables WHERE database = ${db} AND engine = 'MaterializedView'`,
  );
  const deps = await engine.rows<{ d: string[] }>(
    `SELECT dependencies_table AS d FROM system.tables WHERE database = ${db} AND name = ${quoteString(table)}`,
  );
  return {
    all: all.map((r) => r.name).filter((n) => n.startsWith('tally_')),
    current: new Set(deps[0]?.d ?? []),
  };
}

/**
 * Forgets where ingestion of `datasource` stands in Kafka (all its marks, or those of one
 * topic): for a topic that was recreated (its offsets start again). A mutation: ClickHouse
 * applies it shortly after. The next start resumes from the consumer group's offsets.
 */
export async function resetOffsets(engine: Engine, datasource: string, topic?: string): Promise<void> {
  const where = `datasource = ${quoteString(datasource)}${topic === undefined ? '' : ` AND topic = ${quoteString(topic)}`}`;
  await engine.command(`ALTER TABLE ${quoteIdent(engine.database)}.${OFFSETS_TABLE} DELETE WHERE ${where}`);
}

/**
 * Drops the days of `tally_seen_<ds>` older than the dedup window (whole days: a key is
 * remembered for at least `windowDays`, at most one day more). Returns the partitions dropped.
 */
export async function pruneSeen(
  engine: Engine,
  ds: string,
  windowDays: number,
  now = new Date(),
): Promise<string[]> {
  // Sharded: each shard's table, every shard at once (18.16 runs DROP PARTITION ON CLUSTER).
  const seen = isShardedCluster(engine) ? shardTableName(seenTableName(ds)) : seenTableName(ds);
  const on = isShardedCluster(engine) ? onClusterClause(engine.cluster) : '';
  const cutoff = new Date(now.getTime() - windowDays * 86_400_000);
  const day = Number(cutoff.toISOString().slice(0, 10).replace(/-/g, ''));
  const parts = await engine.rows<{ p: string }>(
    `SELECT DISTINCT partition AS p FROM system.parts WHERE database = ${quoteString(engine.database)} AND table = ${quoteString(seen)} AND active`,
  );
  const dropped: string[] = [];
  for (const { p } of parts) {
    if (/^\d{8}$/.test(p) && Number(p) < day) {
      await engine.command(
        `ALTER TABLE ${quoteIdent(engine.database)}.${quoteIdent(seen)}${on} DROP PARTITION ${Number(p)}`,
      );
      dropped.push(p);
    }
  }
  return dropped;
}

function hash(s: string): string {
  return createHash('sha1').update(s).digest('hex').slice(0, 8);
}
