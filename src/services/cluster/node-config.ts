import { xml } from '../clickhouse-config.ts';
import type { ClusterNode, ClusterTopology } from './topology.ts';

/**
 * What makes a ClickHouse server a node of the local clusters, added to the single-node config:
 * - `remote_servers`: every cluster of the topology, each shard with its replicas
 *   (`internal_replication`, so a Distributed table writes one replica of a shard and
 *   ReplicatedMergeTree copies it to the others);
 * - `zookeeper`: where replicas agree on parts and where ON CLUSTER DDL is queued;
 * - `macros`: `{shard}` and `{replica}` of this node, which Replicated engine paths use;
 * - `distributed_ddl`: 18.16 runs ON CLUSTER queries only with this section;
 * - the interserver port, on loopback, where replicas fetch parts from each other.
 */
export function renderNodeConfig(node: ClusterNode, topology: ClusterTopology): string {
  const clusters = [...new Set(topology.nodes.map((n) => n.cluster))].map((cluster) => {
    const nodes = topology.nodes.filter((n) => n.cluster === cluster);
    const shards = [...new Set(nodes.map((n) => n.shard))].map((shard) => {
      const replicas = nodes
        .filter((n) => n.shard === shard)
        .map((n) => `                <replica><host>127.0.0.1</host><port>${n.tcp}</port></replica>`)
        .join('\n');
      return `            <shard>
                <internal_replication>true</internal_replication>
${replicas}
            </shard>`;
    });
    return `        <${xml(cluster)}>
${shards.join('\n')}
        </${xml(cluster)}>`;
  });
  return `    <interserver_http_port>${node.interserver}</interserver_http_port>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <remote_servers>
${clusters.join('\n')}
    </remote_servers>
    <zookeeper>
        <node><host>127.0.0.1</host><port>${topology.zookeeperPort}</port></node>
        <session_timeout_ms>10000</session_timeout_ms>
    </zookeeper>
    <macros>
        <cluster>${xml(node.cluster)}</cluster>
        <shard>${xml(node.shard)}</shard>
        <replica>${xml(node.replica)}</replica>
    </macros>
    <distributed_ddl>
        <path>/clickhouse/task_queue/ddl</path>
    </distributed_ddl>
`;
}
