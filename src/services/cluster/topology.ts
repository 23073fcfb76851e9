/**
 * The local cluster `tally services up --cluster` runs: one ZooKeeper and two ClickHouse servers
 * from the same binary, one shard with two replicas, all on loopback and on ports apart from the
 * single-node services (8123/9000, 9092), so both can run side by side.
 */
export const CLUSTER_NAME = 'tally_cluster';

export interface ClusterNode {
  /** `clickhouse-1`, `clickhouse-2`: the service name and the folder under .tally/cluster/. */
  name: string;
  http: number;
  tcp: number;
  interserver: number;
  shard: string;
  replica: string;
}

export interface ClusterTopology {
  name: string;
  zookeeperPort: number;
  nodes: readonly ClusterNode[];
}

export const LOCAL_CLUSTER: ClusterTopology = {
  name: CLUSTER_NAME,
  zookeeperPort: 2182,
  nodes: [
    { name: 'clickhouse-1', http: 8124, tcp: 9001, interserver: 9010, shard: '01', replica: 'replica-1' },
    { name: 'clickhouse-2', http: 8125, tcp: 9002, interserver: 9011, shard: '01', replica: 'replica-2' },
  ],
};

/** The HTTP URL Tally uses to reach a node. */
export function nodeUrl(node: ClusterNode): string {
  return `http://127.0.0.1:${node.http}`;
}
