/**
 * What deploy asks of every node of a cluster at once, from the node it is connected to:
 * `remote('h1:p1,h2:p2', system.<table>)` reads a system table of each node (comma-separated
 * addresses are separate shards, so each node answers for itself). Works on 18.16, which has no
 * clusterAllReplicas(). A node that is down fails the query: deploy needs every node.
 */
import type { Engine } from '../clickhouse/engine.ts';
import { TallyError } from '../errors.ts';
import { stringLiteral } from './ddl.ts';
import { waitForInserts } from './hold.ts';

/** `host:port` (native protocol) of every node of the cluster, from system.clusters. */
export async function clusterHosts(engine: Engine, cluster: string): Promise<string[]> {
  const rows = await engine.rows<{ host_name: string; port: number | string }>(
    `SELECT host_name, port FROM system.clusters WHERE cluster = ${stringLiteral(cluster)} ORDER BY shard_num, replica_num`,
  );
  if (rows.length === 0) {
    throw new TallyError(
      'cluster-unknown',
      `the ClickHouse at the configured URL has no cluster named ${cluster} (system.clusters)`,
      {
        hint: 'set clickhouse.cluster to a cluster of its remote_servers, or run `tally services up --cluster`',
      },
    );
  }
  return rows.map((r) => `${r.host_name}:${r.port}`);
}

/**
 * Every node answers, or a TallyError naming those that do not. ON CLUSTER DDL waits for every
 * node (180 s by default, `distributed_ddl_task_timeout`) before failing: deploy asks first.
 */
export async function checkClusterNodes(engine: Engine, cluster: string): Promise<void> {
  const down: string[] = [];
  for (const host of await clusterHosts(engine, cluster)) {
    try {
      await engine.rows(`SELECT 1 FROM remote(${stringLiteral(host)}, system.one)`);
    } catch (err) {
      down.push(
        `${host} (${String((err as Error).message).match(/Connection refused|timed out|Timeout/i)?.[0] ?? 'no answer'})`,
      );
    }
  }
  if (down.length > 0) {
    throw new TallyError(
      'cluster-node-down',
      `deploy runs its DDL ON CLUSTER ${cluster}, which waits for every node, and ${down.join(', ')} does not answer; nothing was changed`,
      {
        exitCode: 2,
        hint: 'start the node (`tally services up --cluster` for the local cluster) and deploy again; instances keep serving and ingesting meanwhile',
      },
    );
  }
}

/** `remote('h1:p1,h2:p2', system.<table>)` over the nodes `clusterHosts` found. */
export function everyNode(hosts: readonly string[], systemTable: string): string {
  return `remote(${stringLiteral(hosts.join(','))}, system.${systemTable})`;
}

/** table -> partition id (on several shards `<shard>:<partition id>`) -> the highest block number. */
export type ClusterBlocks = Map<string, Map<string, number>>;

/** `host:port` of every node, one list per shard, in shard order. */
export async function clusterShards(engine: Engine, cluster: string): Promise<string[][]> {
  const rows = await engine.rows<{ hosts: string[] }>(
    `SELECT groupArray(concat(host_name, ':', toString(port))) AS hosts FROM (SELECT shard_num, host_name, port FROM system.clusters WHERE cluster = ${stringLiteral(cluster)} ORDER BY shard_num, replica_num) GROUP BY shard_num ORDER BY shard_num`,
  );
  return rows.map((r) => r.hosts);
}

/**
 * Per table and partition, the highest block number the replicas of each shard hold. Block
 * numbers of a replicated table come from its ZooKeeper path and only grow: a partition whose
 * number moved was written. Replicas of a shard share a path (and a counter), so the highest of
 * them counts; shards each have their own, so each shard is compared with itself (a maximum over
 * all shards would hide a write to the shard whose counter is lower). A table without parts maps
 * to an empty map.
 */
export async function clusterBlocks(
  engine: Engine,
  shards: readonly (readonly string[])[],
  database: string,
  tables: readonly string[],
): Promise<ClusterBlocks> {
  const out: ClusterBlocks = new Map(tables.map((t) => [t, new Map()]));
  const perShard = await Promise.all(
    shards.map((hosts) =>
      engine.rows<{ table: string; partition_id: string; b: string | number }>(
        `SELECT table, partition_id, max(max_block_number) AS b FROM ${everyNode(hosts, 'parts')} WHERE database = ${stringLiteral(database)} AND table IN (${tables.map(stringLiteral).join(', ')}) AND active GROUP BY table, partition_id`,
      ),
    ),
  );
  perShard.forEach((rows, i) => {
    const key = (p: string) => (shards.length > 1 ? `${i + 1}:${p}` : p);
    for (const r of rows) out.get(r.table)?.set(key(r.partition_id), Number(r.b));
  });
  return out;
}

/** Waits until no INSERT into one of `tables` of `database` that runs now on any node still runs. */
export function waitClusterInserts(
  engine: Engine,
  hosts: readonly string[],
  database: string,
  tables: readonly string[],
  timeoutMs: number,
): Promise<void> {
  return waitForInserts(engine, database, tables, timeoutMs, {
    processes: everyNode(hosts, 'processes'),
    timedOut: (seconds) =>
      new TallyError(
        'cluster-busy',
        `INSERTs into ${tables.join(', ')} still running on the cluster after ${seconds} s`,
        {
          exitCode: 2,
          hint: 'run the deploy again when ingestion is quieter',
        },
      ),
  });
}

/** True when two block maps are equal (same partitions, same numbers). */
export function sameBlocks(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [p, n] of a) if (b.get(p) !== n) return false;
  return true;
}

/** True when no table's partitions differ between two readings of `clusterBlocks`. */
export function sameClusterBlocks(a: ClusterBlocks, b: ClusterBlocks): boolean {
  if (a.size !== b.size) return false;
  for (const [t, blocks] of a) {
    const other = b.get(t);
    if (!other || !sameBlocks(blocks, other)) return false;
  }
  return true;
}
