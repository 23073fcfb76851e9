/**
 * The DDL deploy sends, as text. Every name goes through quoteIdent and every string through
 * `stringLiteral`; nothing else is concatenated into SQL. With `cluster` set, statements carry
 * `ON CLUSTER` and tables get Replicated engines.
 */
import type { Capabilities } from '../clickhouse/capabilities.ts';
import { quoteIdent } from '../clickhouse/create-engine.ts';
import {
  distributedEngine,
  engineCall,
  onClusterClause,
  shardTableName,
} from '../clickhouse/replicated-engine.ts';
import type { PipeNode } from '../project/model.ts';
import type { ColumnSpec, EngineSpec, TableSpec } from './table-spec.ts';
import { querySourceRenamed } from './view-spec.ts';

export interface DdlContext {
  database: string;
  /** `clickhouse.cluster`: ON CLUSTER DDL and Replicated engines. */
  cluster?: string;
  /**
   * The cluster has several shards: a data source is a Distributed table over a table per shard
   * (`shardTableName`), views read and write the shards' tables, everything else is kept whole
   * on every node (docs/scaling.md).
   */
  sharded?: boolean;
  capabilities: Capabilities;
  /**
   * The embedded engine: every writer is in this process, so a view is attached and backfilled
   * under the in-process write gate (clickhouse/write-gate.ts) instead of a write hold.
   */
  embedded?: boolean;
  /**
   * Drops wait until the table is gone (`DROP TABLE ... SYNC`): a replicated table in an Atomic
   * database (current servers) otherwise keeps its ZooKeeper path for 8 minutes, and creating it
   * again meanwhile fails ("Replica ... already exists"). Set by `withLiveDatabase`.
   */
  syncDrops?: boolean;
}

/**
 * The context for the database as it is: on a cluster whose database is Atomic, drops are SYNC.
 * (18.16 has Ordinary databases only, and no SYNC.)
 */
export function withLiveDatabase(ctx: DdlContext, databaseEngine: string | undefined): DdlContext {
  return ctx.cluster && databaseEngine === 'Atomic' ? { ...ctx, syncDrops: true } : ctx;
}

/** A materialized pipe as ClickHouse sees it: a view that fires on inserts into `source`. */
export interface ViewSpec {
  /** The view's name (see names.ts viewName). */
  name: string;
  pipe: string;
  /** The pipe's file, for messages. */
  file?: string;
  /** The data source it writes into. */
  target: string;
  /** The data source whose inserts fire it (the first table its query reads). */
  source: string;
  /** Every data source its query reads (source first). */
  reads: string[];
  /** The SELECT, with data sources qualified as `db`.`table`. */
  query: string;
  /** Hash of what defines its output: query and target. */
  hash: string;
  /** The pipe's nodes, to locate in its file an error ClickHouse gives for the SELECT. */
  nodes?: readonly PipeNode[];
}

/** `db`.`name` */
export function qualified(ctx: Pick<DdlContext, 'database'>, name: string): string {
  return `${quoteIdent(ctx.database)}.${quoteIdent(name)}`;
}

/** A ClickHouse string literal. */
export function stringLiteral(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function onCluster(ctx: DdlContext): string {
  return onClusterClause(ctx.cluster);
}

/**
 * `CREATE TABLE IF NOT EXISTS` for a table spec, optionally under another name (a rebuild's next
 * table). On a cluster `pathName` names its ZooKeeper path: a replicated table keeps its path
 * when renamed, so a table that will be swapped in under another name needs a path of its own.
 * On a sharded cluster a data source's table is the one of each shard (`createTableSqls` adds
 * the Distributed table over them); any other table is kept whole on every node.
 */
export function createTableSql(spec: TableSpec, ctx: DdlContext, name = spec.name, pathName = name): string {
  const perShard = isSharded(spec, ctx);
  const table = perShard ? shardTableName(name) : name;
  const cols = spec.columns.map((c) => `  ${columnDefinition(c, !ctx.cluster)}`).join(',\n');
  return `CREATE TABLE IF NOT EXISTS ${qualified(ctx, table)}${onCluster(ctx)}\n(\n${cols}\n)\n${engineClause(spec.engine, ctx, table, perShard ? shardTableName(pathName) : pathName, ctx.sharded === true && !perShard)}`;
}

/** What creates a table: on a sharded cluster, a data source's table per shard and its Distributed table. */
export function createTableSqls(spec: TableSpec, ctx: DdlContext, shardingKey: string): string[] {
  if (!isSharded(spec, ctx)) return [createTableSql(spec, ctx)];
  return [createTableSql(spec, ctx), createDistributedSql(spec.name, ctx, shardingKey)];
}

/** The Distributed table `as` over the shards' tables of `table`. */
export function createDistributedSql(
  table: string,
  ctx: DdlContext,
  shardingKey: string,
  as = table,
): string {
  return `CREATE TABLE IF NOT EXISTS ${qualified(ctx, as)}${onCluster(ctx)} AS ${qualified(ctx, shardTableName(table))} ENGINE = ${distributedEngine(ctx.cluster!, ctx.database, table, shardingKey)}`;
}

/**
 * The Distributed table of `table` created again over its shards' tables and swapped in by one
 * RENAME: after their columns changed (18.16 refuses ALTER ... ON CLUSTER of a Distributed table
 * when the shards use internal_replication: "isn't replicated, but shard is replicated"), or after
 * a swap of the shards' tables.
 */
export function redistributeSql(table: string, ctx: DdlContext, shardingKey: string): string[] {
  const next = `${table}__tally_next`;
  const discard = `${table}__tally_discard`;
  return [
    dropTableSql(next, ctx),
    createDistributedSql(table, ctx, shardingKey, next),
    renameSql(
      [
        [table, discard],
        [next, table],
      ],
      ctx,
    ),
    dropTableSql(discard, ctx),
  ];
}

/** Whether `spec` is split over the shards (a data source on a sharded cluster). */
export function isSharded(spec: Pick<TableSpec, 'role'>, ctx: DdlContext): boolean {
  return ctx.sharded === true && spec.role === 'datasource';
}

/** The table ClickHouse stores a data source's rows in: itself, or on a sharded cluster each shard's. */
export function storageName(table: string, ctx: DdlContext): string {
  return ctx.sharded ? shardTableName(table) : table;
}

/**
 * `name Type [DEFAULT expr] [COMMENT '...']`. No comments on a cluster: 18.16 refuses to create
 * the second replica of a table with column comments ("Table structure in ZooKeeper is too
 * different from local table structure").
 */
export function columnDefinition(c: ColumnSpec, comments = true): string {
  return `${quoteIdent(c.name)} ${c.type}${c.default !== undefined ? ` DEFAULT ${c.default}` : ''}${comments && c.comment ? ` COMMENT ${stringLiteral(c.comment)}` : ''}`;
}

/** `ENGINE = ... PARTITION BY ... ORDER BY ... PRIMARY KEY ... TTL ... SETTINGS ...` */
export function engineClause(
  e: EngineSpec,
  ctx: DdlContext,
  table: string,
  pathName = table,
  everywhere = false,
): string {
  const args: string[] = [];
  if (e.version) args.push(quoteIdent(e.version));
  if (e.sumColumns && e.sumColumns.length > 0) args.push(`(${e.sumColumns.map(quoteIdent).join(', ')})`);
  const engine = engineCall(e.type, args, {
    database: ctx.database,
    table,
    cluster: ctx.cluster,
    pathName,
    everywhere,
  });
  const lines = [`ENGINE = ${engine}`];
  if (e.partitionKey) lines.push(`PARTITION BY ${e.partitionKey}`);
  lines.push(`ORDER BY ${keyTuple(e.sortingKey)}`);
  if (e.primaryKey && e.primaryKey.length > 0) lines.push(`PRIMARY KEY ${keyTuple(e.primaryKey)}`);
  if (e.ttl) lines.push(`TTL ${e.ttl}`);
  const settings = Object.entries(e.settings);
  if (settings.length > 0) lines.push(`SETTINGS ${settingsList(e.settings)}`);
  return lines.join('\n');
}

/** `(a, b)`, `tuple()` for none; a plain column name is quoted, an expression kept as written. */
export function keyTuple(items: readonly string[]): string {
  if (items.length === 0) return 'tuple()';
  return `(${items.map(keyItem).join(', ')})`;
}

function keyItem(item: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(item) ? quoteIdent(item) : item;
}

function settingsList(settings: Record<string, string | number>): string {
  return Object.entries(settings)
    .map(([k, v]) => `${settingName(k)} = ${typeof v === 'number' ? String(v) : stringLiteral(v)}`)
    .join(', ');
}

function settingName(k: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`invalid setting name ${JSON.stringify(k)}`);
  return k;
}

/**
 * The view as users read it (`--check` shows this), and what a cluster deploy runs. On a sharded
 * cluster it fires on each shard's table of its source and writes each shard's table of its
 * target (other tables its query reads stay the Distributed ones: whole).
 */
export function createViewSql(view: ViewSpec, ctx: DdlContext): string {
  const query = ctx.sharded
    ? querySourceRenamed(view, ctx.database, shardTableName(view.source))
    : view.query;
  return `CREATE MATERIALIZED VIEW IF NOT EXISTS ${qualified(ctx, view.name)}${onCluster(ctx)} TO ${qualified(ctx, storageName(view.target, ctx))}\nAS ${query.trim()}`;
}

/**
 * Attaches a materialized view from its full definition. Unlike CREATE it does not need the
 * source table to exist at that moment, which is what the backfill protocol relies on: the view
 * is attached while its source is held under another name, and binds to the name (see docs/deploy.md).
 * An Atomic database (current ClickHouse) wants a UUID in ATTACH; an Ordinary one (18.16) does not.
 */
export function attachViewSql(
  name: string,
  target: string,
  columns: readonly { name: string; type: string }[],
  query: string,
  ctx: DdlContext,
  uuid?: string,
): string {
  const cols = columns.map((c) => `  ${quoteIdent(c.name)} ${c.type}`).join(',\n');
  return `ATTACH MATERIALIZED VIEW ${qualified(ctx, name)}${uuid ? ` UUID ${stringLiteral(uuid)}` : ''} TO ${qualified(ctx, target)}\n(\n${cols}\n)\nAS ${query.trim()}`;
}

export function dropTableSql(name: string, ctx: DdlContext): string {
  return `DROP TABLE IF EXISTS ${qualified(ctx, name)}${onCluster(ctx)}${ctx.syncDrops ? ' SYNC' : ''}`;
}

/** One statement, so the renames happen together. */
export function renameSql(pairs: readonly (readonly [string, string])[], ctx: DdlContext): string {
  return `RENAME TABLE ${pairs.map(([a, b]) => `${qualified(ctx, a)} TO ${qualified(ctx, b)}`).join(', ')}${onCluster(ctx)}`;
}

export function alterSql(table: string, command: string, ctx: DdlContext): string {
  return `ALTER TABLE ${qualified(ctx, table)}${onCluster(ctx)} ${command}`;
}

export function addColumnCmd(c: ColumnSpec, after?: string, comments = true): string {
  return `ADD COLUMN ${columnDefinition(c, comments)}${after ? ` AFTER ${quoteIdent(after)}` : ''}`;
}

export function dropColumnCmd(name: string): string {
  return `DROP COLUMN ${quoteIdent(name)}`;
}

/** Type change of a column; the default is restated because 18.16 drops it otherwise. */
export function modifyColumnTypeCmd(c: ColumnSpec): string {
  return `MODIFY COLUMN ${quoteIdent(c.name)} ${c.type}${c.default !== undefined ? ` DEFAULT ${c.default}` : ''}`;
}

export function modifyDefaultCmd(c: ColumnSpec, caps: Capabilities): string {
  if (c.default !== undefined) return `MODIFY COLUMN ${quoteIdent(c.name)} DEFAULT ${c.default}`;
  return caps.alterRemoveDefault
    ? `MODIFY COLUMN ${quoteIdent(c.name)} REMOVE DEFAULT`
    : `MODIFY COLUMN ${quoteIdent(c.name)} ${c.type}`;
}

export function commentColumnCmd(c: ColumnSpec): string {
  return `COMMENT COLUMN ${quoteIdent(c.name)} ${stringLiteral(c.comment ?? '')}`;
}

export function modifyTtlCmd(ttl: string | undefined): string {
  return ttl ? `MODIFY TTL ${ttl}` : 'REMOVE TTL';
}

export function modifySettingCmd(settings: Record<string, string | number>): string {
  return `MODIFY SETTING ${settingsList(settings)}`;
}

export function stopMergesSql(table: string, ctx: DdlContext): string {
  return `SYSTEM STOP MERGES ${qualified(ctx, table)}`;
}

export function startMergesSql(table: string, ctx: DdlContext): string {
  return `SYSTEM START MERGES ${qualified(ctx, table)}`;
}
