/**
 * What the project's database holds right now, read from system tables in a few queries. Works
 * on 18.16 (which has partition_key/sorting_key/primary_key in system.tables but no TTL, no uuid,
 * no target_table) and on current servers; what 18.16 lacks is parsed from `engine_full` and
 * `create_table_query`.
 */
import type { Engine } from '../clickhouse/engine.ts';
import {
  isShardedCluster,
  isShardTable,
  logicalName,
  shardTableName,
} from '../clickhouse/replicated-engine.ts';
import { closingParen, splitTopLevel, topLevelKeyword } from '../util/sql-text-scan.ts';
import { clusterShards } from './cluster-nodes.ts';
import { stringLiteral } from './ddl.ts';

export interface LiveColumn {
  name: string;
  type: string;
  /** '', 'DEFAULT', 'MATERIALIZED', 'ALIAS' */
  defaultKind: string;
  defaultExpression: string;
  comment: string;
}

export interface LiveTable {
  name: string;
  /** `MergeTree`, `ReplacingMergeTree`, `MaterializedView`, `View`... */
  engine: string;
  engineFull: string;
  createQuery: string;
  /** Text inside the engine's parentheses (`ReplacingMergeTree(version)` -> `version`). */
  engineArgs: string;
  partitionKey: string;
  sortingKey: string;
  primaryKey: string;
  ttl?: string;
  settings: Record<string, string>;
  columns: LiveColumn[];
  /** Materialized views that fire on inserts into this table. */
  dependents: string[];
  /** A materialized view's TO table. */
  viewTarget?: string;
  /** Rows in active parts (MergeTree family). */
  rows: number;
  /**
   * A sharded data source (folded from its Distributed table and its shards' tables): the
   * Distributed table's columns (`name type, ...`) and engine, to tell when it lags them.
   */
  distributed?: { columns: string; engineFull: string };
  /**
   * Set by the planner for a table recovery renames back to its name: views that read it by name
   * fire again once it is back, whatever system.tables says of the renamed table now.
   */
  renamedBack?: boolean;
}

export interface LiveState {
  database: string;
  /** `Atomic` (current servers) or `Ordinary` (18.16); '' when the database does not exist. */
  databaseEngine: string;
  tables: Map<string, LiveTable>;
}

interface TableRow {
  name: string;
  engine: string;
  engine_full: string;
  create_table_query: string;
  partition_key: string;
  sorting_key: string;
  primary_key: string;
  dependencies_table: string[];
}

interface ColumnRow {
  table: string;
  name: string;
  type: string;
  default_kind: string;
  default_expression: string;
  comment: string;
}

/** Reads every table, view and column of `database` (default: the engine's). */
export async function introspect(engine: Engine, database = engine.database): Promise<LiveState> {
  const db = stringLiteral(database);
  const [dbRows, tableRows, columnRows, partRows] = await Promise.all([
    engine.rows<{ engine: string }>(`SELECT engine FROM system.databases WHERE name = ${db}`),
    engine.rows<TableRow>(
      `SELECT name, engine, engine_full, create_table_query, partition_key, sorting_key, primary_key, dependencies_table FROM system.tables WHERE database = ${db}`,
    ),
    engine.rows<ColumnRow>(
      `SELECT table, name, type, default_kind, default_expression, comment FROM system.columns WHERE database = ${db}`,
    ),
    engine.rows<{ table: string; rows: string | number }>(
      `SELECT table, sum(rows) AS rows FROM system.parts WHERE database = ${db} AND active GROUP BY table`,
    ),
  ]);
  const rows = new Map(partRows.map((r) => [r.table, Number(r.rows)]));
  const tables = new Map<string, LiveTable>();
  for (const t of tableRows) {
    const parsed = parseEngineFull(t.engine, t.engine_full);
    const target = t.engine === 'MaterializedView' ? viewTargetOf(t.create_table_query) : undefined;
    tables.set(t.name, {
      name: t.name,
      engine: t.engine,
      engineFull: t.engine_full,
      createQuery: t.create_table_query,
      engineArgs: parsed.args,
      partitionKey: t.partition_key,
      sortingKey: t.sorting_key,
      primaryKey: t.primary_key,
      ...(parsed.ttl ? { ttl: parsed.ttl } : {}),
      settings: parsed.settings,
      columns: [],
      dependents: t.dependencies_table ?? [],
      ...(target ? { viewTarget: target } : {}),
      rows: rows.get(t.name) ?? 0,
    });
  }
  for (const c of columnRows) {
    tables.get(c.table)?.columns.push({
      name: c.name,
      type: c.type,
      defaultKind: c.default_kind,
      defaultExpression: c.default_expression,
      comment: c.comment,
    });
  }
  if (isShardedCluster(engine)) await foldShards(engine, database, tables);
  return { database, databaseEngine: dbRows[0]?.engine ?? '', tables };
}

/**
 * On a sharded cluster each data source is a Distributed table `X` over a table per shard
 * `X__tally_shard`: the planner sees one table `X` with the shards' engine, keys and columns,
 * the views that fire on it, and the rows of every shard. A shard table without its Distributed
 * table stays as it is (the planner then creates `X`, which adds the missing one).
 */
async function foldShards(engine: Engine, database: string, tables: Map<string, LiveTable>): Promise<void> {
  const local = (name: string) => tables.get(shardTableName(name));
  const folded = [...tables.values()].filter((t) => t.engine === 'Distributed' && local(t.name));
  if (folded.length === 0) return;
  // One replica of each shard: `a|b` are replicas, `,` separates shards (remote() picks one of each).
  const hosts = (await clusterShards(engine, engine.cluster!))
    .map((replicas) => replicas.join('|'))
    .join(',');
  const counts = await engine.rows<{ table: string; rows: string | number }>(
    `SELECT table, sum(rows) AS rows FROM remote(${stringLiteral(hosts)}, system.parts) WHERE database = ${stringLiteral(database)} AND active AND endsWith(table, ${stringLiteral(shardTableName(''))}) GROUP BY table`,
  );
  const rows = new Map(counts.map((r) => [r.table, Number(r.rows)]));
  for (const d of folded) {
    const shard = local(d.name)!;
    tables.set(d.name, {
      ...shard,
      name: d.name,
      rows: rows.get(shard.name) ?? 0,
      distributed: {
        columns: d.columns.map((c) => `${c.name} ${c.type}`).join(', '),
        engineFull: d.engineFull,
      },
    });
    tables.delete(shard.name);
  }
  for (const t of tables.values()) {
    if (t.viewTarget && isShardTable(t.viewTarget) && tables.has(logicalName(t.viewTarget)))
      t.viewTarget = logicalName(t.viewTarget);
  }
}

/**
 * Just the tables, views and which views read or write which table: what a hold needs to know
 * (one query, where `introspect` makes four).
 */
export async function viewGraph(engine: Engine, database = engine.database): Promise<LiveState> {
  const rows = await engine.rows<
    Pick<TableRow, 'name' | 'engine' | 'create_table_query' | 'dependencies_table'>
  >(
    `SELECT name, engine, create_table_query, dependencies_table FROM system.tables WHERE database = ${stringLiteral(database)}`,
  );
  const tables = new Map<string, LiveTable>();
  for (const t of rows) {
    const target = t.engine === 'MaterializedView' ? viewTargetOf(t.create_table_query) : undefined;
    tables.set(
      t.name,
      bareLiveTable(t.name, t.engine, {
        createQuery: t.create_table_query,
        dependents: t.dependencies_table ?? [],
        ...(target ? { viewTarget: target } : {}),
      }),
    );
  }
  return { database, databaseEngine: '', tables };
}

/** A live table known by its name and engine only (the view graph; tests), with `extra` set. */
export function bareLiveTable(name: string, engine: string, extra: Partial<LiveTable> = {}): LiveTable {
  return {
    name,
    engine,
    engineFull: '',
    createQuery: '',
    engineArgs: '',
    partitionKey: '',
    sortingKey: '',
    primaryKey: '',
    settings: {},
    columns: [],
    dependents: [],
    rows: 0,
    ...extra,
  };
}

/** Splits `engine_full` into the engine's arguments, its TTL and its SETTINGS. */
export function parseEngineFull(
  engine: string,
  full: string,
): { args: string; ttl?: string; settings: Record<string, string> } {
  let args = '';
  let rest = full.startsWith(engine) ? full.slice(engine.length) : full;
  if (rest.startsWith('(')) {
    const closed = closingParen(rest, 0);
    const end = closed < 0 ? rest.length - 1 : closed;
    args = rest.slice(1, end);
    rest = rest.slice(end + 1);
  }
  const settings: Record<string, string> = {};
  const s = topLevelKeyword(rest, 'SETTINGS');
  let beforeSettings = rest;
  if (s >= 0) {
    for (const raw of splitTopLevel(rest.slice(s + ' SETTINGS '.length))) {
      const part = raw.trim();
      const eq = part.indexOf('=');
      if (eq > 0) settings[part.slice(0, eq).trim()] = unquote(part.slice(eq + 1).trim());
    }
    beforeSettings = rest.slice(0, s);
  }
  const t = topLevelKeyword(beforeSettings, 'TTL');
  const ttl = t >= 0 ? beforeSettings.slice(t + ' TTL '.length).trim() : undefined;
  return { args: args.trim(), ...(ttl ? { ttl } : {}), settings };
}

/** `CREATE MATERIALIZED VIEW db.v [UUID '...'] TO db.t ...` -> `t` */
export function viewTargetOf(createQuery: string): string | undefined {
  const ident = '(?:`(?:[^`\\\\]|\\\\.)*`|[A-Za-z0-9_]+)';
  const re = new RegExp(
    `^CREATE MATERIALIZED VIEW\\s+${ident}(?:\\.${ident})?\\s+(?:UUID\\s+'[^']*'\\s+)?TO\\s+(?:${ident}\\.)?(${ident})`,
    'i',
  );
  const m = re.exec(createQuery.trim());
  if (!m) return undefined;
  const name = m[1]!;
  return name.startsWith('`') ? name.slice(1, -1).replace(/\\(.)/g, '$1') : name;
}

function unquote(v: string): string {
  return v.startsWith("'") && v.endsWith("'") ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v;
}
