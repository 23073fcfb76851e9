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

/**
 * Per partition, the highest block number any node holds for `table`. Block numbers of a
 * replicated table come from ZooKeeper and only grow: a partition whose number moved was written.
 */
export async function clusterBlocks(
  engine: Engine,
  hosts: readonly string[],
  database: string,
  table: string,
): Promise<Map<string, number>> {
  const rows = await engine.rows<{ partition_id: string; b: string | number }>(
    `SELECT partition_id, max(max_block_number) AS b FROM ${everyNode(hosts, 'parts')} WHERE database = ${stringLiteral(database)} AND table = ${stringLiteral(table)} AND active GROUP BY partition_id`,
  );
  return new Map(rows.map((r) => [r.partition_id, Number(r.b)]));
}

/** Waits until no INSERT into `database.table` that runs now on any node still runs. */
export function waitClusterInserts(
  engine: Engine,
  hosts: readonly string[],
  database: string,
  table: string,
  timeoutMs: number,
): Promise<void> {
  return waitForInserts(engine, database, [table], timeoutMs, {
    processes: everyNode(hosts, 'processes'),
    timedOut: (seconds) =>
      new TallyError(
        'cluster-busy',
        `INSERTs into ${table} still running on the cluster after ${seconds} s`,
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
