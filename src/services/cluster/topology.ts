/**
 * The local clusters `tally services up --cluster` runs: one ZooKeeper and four ClickHouse
 * servers from the same binary, all on loopback and on ports apart from the single-node services
 * (8123/9000, 9092), so both can run side by side:
 * - `tally_cluster`: one shard with two replicas (clickhouse-1, clickhouse-2);
 * - `tally_shards`: two shards of one replica each (clickhouse-3, clickhouse-4).
 * Their `{shard}` macros differ (`01` and `s1`/`s2`), so the same database and table on both
 * clusters get different ZooKeeper paths.
 */
export const CLUSTER_NAME = 'tally_cluster';
export const SHARDED_CLUSTER_NAME = 'tally_shards';

export interface ClusterNode {
  /** `clickhouse-1` ... : the service name and the folder under .tally/cluster/. */
  name: string;
  /** The cluster (in remote_servers) this node belongs to. */
  cluster: string;
  http: number;
  tcp: number;
  interserver: number;
  shard: string;
  replica: string;
}

export interface ClusterTopology {
  /** The replicated cluster's name (`tally_cluster`). */
  name: string;
  zookeeperPort: number;
  nodes: readonly ClusterNode[];
}

export const LOCAL_CLUSTER: ClusterTopology = {
  name: CLUSTER_NAME,
  zookeeperPort: 2182,
  nodes: [
    {
      name: 'clickhouse-1',
      cluster: CLUSTER_NAME,
      http: 8124,
      tcp: 9001,
      interserver: 9010,
      shard: '01',
      replica: 'replica-1',
    },
    {
      name: 'clickhouse-2',
      cluster: CLUSTER_NAME,
      http: 8125,
      tcp: 9002,
      interserver: 9011,
      shard: '01',
      replica: 'replica-2',
    },
    {
      name: 'clickhouse-3',
      cluster: SHARDED_CLUSTER_NAME,
      http: 8126,
      tcp: 9003,
      interserver: 9012,
      shard: 's1',
      replica: 'replica-1',
    },
    {
      name: 'clickhouse-4',
      cluster: SHARDED_CLUSTER_NAME,
      http: 8127,
      tcp: 9004,
      interserver: 9013,
      shard: 's2',
      replica: 'replica-1',
    },
  ],
};

/** The nodes of one cluster of the topology, in shard order. */
export function clusterNodes(topology: ClusterTopology, cluster: string): ClusterNode[] {
  return topology.nodes.filter((n) => n.cluster === cluster);
}

/** The HTTP URL Tally uses to reach a node. */
export function nodeUrl(node: ClusterNode): string {
  return `http://127.0.0.1:${node.http}`;
}
