/**
 * Table engines on a cluster: `Replicated<Engine>` with the ZooKeeper path every replica of a
 * shard shares and the replica name from the node's macros, so the same DDL runs ON CLUSTER on
 * every node. Tally's own tables and the project's use the same convention (docs/scaling.md).
 *
 * On a cluster of several shards a data source is a `Distributed` table over a table per shard
 * (`shardTableName`), and every other table (Tally's own, quarantine) is kept whole on every
 * node: one ZooKeeper path for the whole cluster, a replica per node.
 */

import { quoteString } from '../sql/render-literal.ts';
import { quoteIdent } from './create-engine.ts';
import type { Engine } from './engine.ts';

/** `'/clickhouse/tables/{shard}/<db>/<table>'`: one ZooKeeper path per shard and table. */
export function replicaPath(database: string, table: string): string {
  return `/clickhouse/tables/{shard}/${database}/${table}`;
}

const SHARD_SUFFIX = '__tally_shard';

/** The table of each shard behind a data source's Distributed table, on a sharded cluster. */
export function shardTableName(table: string): string {
  return `${table}${SHARD_SUFFIX}`;
}

/** `t__tally_shard` -> `t`; any other name as it is. */
export function logicalName(name: string): string {
  return name.endsWith(SHARD_SUFFIX) ? name.slice(0, -SHARD_SUFFIX.length) : name;
}

/** Whether `name` is the table of each shard of some table. */
export function isShardTable(name: string): boolean {
  return name.endsWith(SHARD_SUFFIX);
}

/** A cluster of several shards: data sources (and their seen keys) are split over them. */
export function isShardedCluster(engine: Pick<Engine, 'cluster' | 'shards'>): boolean {
  return engine.cluster !== undefined && (engine.shards ?? 1) > 1;
}

/** `Distributed(cluster, db, <table>__tally_shard, key)`: the data source as readers and writers see it. */
export function distributedEngine(
  cluster: string,
  database: string,
  table: string,
  shardingKey: string,
): string {
  return `Distributed(${quoteIdent(cluster)}, ${quoteIdent(database)}, ${quoteIdent(shardTableName(table))}, ${shardingKey})`;
}

/**
 * `MergeTree(args)`, or on a cluster `ReplicatedMergeTree('<path>', '{replica}', args)`.
 * `args` are SQL already (quoted identifiers, tuples).
 */
export function engineCall(
  type: string,
  args: readonly string[],
  where: {
    database: string;
    table: string;
    cluster?: string | undefined;
    /** The ZooKeeper path's last element, when not the table's name (see ddl.ts createTableSql). */
    pathName?: string | undefined;
    /** Sharded cluster: one copy on every node (path shared by all shards, a replica per node). */
    everywhere?: boolean | undefined;
  },
): string {
  if (!where.cluster) return `${type}(${args.join(', ')})`;
  const name = where.pathName ?? where.table;
  const [path, replica] = where.everywhere
    ? [`/clickhouse/tables/all/${where.database}/${name}`, '{shard}-{replica}']
    : [replicaPath(where.database, name), '{replica}'];
  return `Replicated${type}(${[quoteString(path), quoteString(replica), ...args].join(', ')})`;
}

/** ` ON CLUSTER <name>`, or '' off a cluster. */
export function onClusterClause(cluster: string | undefined): string {
  return cluster ? ` ON CLUSTER ${quoteIdent(cluster)}` : '';
}
