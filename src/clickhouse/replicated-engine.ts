/**
 * Table engines on a cluster: `Replicated<Engine>` with the ZooKeeper path every replica of a
 * shard shares and the replica name from the node's macros, so the same DDL runs ON CLUSTER on
 * every node. Tally's own tables and the project's use the same convention (docs/scaling.md).
 */

import { quoteString } from '../sql/render-literal.ts';
import { quoteIdent } from './create-engine.ts';

/** `'/clickhouse/tables/{shard}/<db>/<table>'`: one ZooKeeper path per shard and table. */
export function replicaPath(database: string, table: string): string {
  return `/clickhouse/tables/{shard}/${database}/${table}`;
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
  },
): string {
  if (!where.cluster) return `${type}(${args.join(', ')})`;
  const path = quoteString(replicaPath(where.database, where.pathName ?? where.table));
  return `Replicated${type}(${[path, quoteString('{replica}'), ...args].join(', ')})`;
}

/** ` ON CLUSTER <name>`, or '' off a cluster. */
export function onClusterClause(cluster: string | undefined): string {
  return cluster ? ` ON CLUSTER ${quoteIdent(cluster)}` : '';
}
