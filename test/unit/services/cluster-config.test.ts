import { describe, expect, it } from 'vitest';
import { renderNodeConfig } from '../../../src/services/cluster/node-config.ts';
import { clusterNodes, LOCAL_CLUSTER, nodeUrl } from '../../../src/services/cluster/topology.ts';
import { renderZooKeeperConfig, zookeeperPaths } from '../../../src/services/cluster/zookeeper-config.ts';

describe('the local cluster', () => {
  it('uses ports apart from the single-node services (8123, 9000, 9092, 9093) and from each other', () => {
    const ports = [
      LOCAL_CLUSTER.zookeeperPort,
      ...LOCAL_CLUSTER.nodes.flatMap((n) => [n.http, n.tcp, n.interserver]),
    ];
    expect(new Set(ports).size).toBe(ports.length);
    for (const taken of [8123, 9000, 9092, 9093, 2181, 9009]) expect(ports).not.toContain(taken);
    expect(LOCAL_CLUSTER.nodes.map(nodeUrl)).toEqual([
      'http://127.0.0.1:8124',
      'http://127.0.0.1:8125',
      'http://127.0.0.1:8126',
      'http://127.0.0.1:8127',
    ]);
  });

  it('defines the sharded cluster on the other two nodes: a shard each, with shard macros of their own', () => {
    const [one, , three, four] = LOCAL_CLUSTER.nodes;
    expect(clusterNodes(LOCAL_CLUSTER, 'tally_shards').map((n) => n.name)).toEqual([
      'clickhouse-3',
      'clickhouse-4',
    ]);
    const xml = renderNodeConfig(three!, LOCAL_CLUSTER);
    const sharded = xml.slice(xml.indexOf('<tally_shards>'), xml.indexOf('</tally_shards>'));
    expect(sharded.match(/<shard>/g)).toHaveLength(2);
    expect(sharded).toContain(`<port>${three!.tcp}</port>`);
    expect(sharded).toContain(`<port>${four!.tcp}</port>`);
    expect(xml).toContain('<shard>s1</shard>');
    expect(renderNodeConfig(four!, LOCAL_CLUSTER)).toContain('<shard>s2</shard>');
    // The replicated cluster keeps its one shard of two replicas, on nodes 1 and 2 only.
    const replicated = renderNodeConfig(one!, LOCAL_CLUSTER);
    const rc = replicated.slice(
      replicated.indexOf('<tally_cluster>'),
      replicated.indexOf('</tally_cluster>'),
    );
    expect(rc.match(/<shard>/g)).toHaveLength(1);
    expect(rc.match(/<replica>/g)).toHaveLength(2);
  });

  it('makes each node a replica of one shard, with its macros, ZooKeeper and the DDL queue', () => {
    const [one, two] = LOCAL_CLUSTER.nodes;
    const xml = renderNodeConfig(one!, LOCAL_CLUSTER);
    expect(xml).toContain('<tally_cluster>');
    expect(xml).toContain('<internal_replication>true</internal_replication>');
    expect(xml).toContain(`<replica><host>127.0.0.1</host><port>${one!.tcp}</port></replica>`);
    expect(xml).toContain(`<replica><host>127.0.0.1</host><port>${two!.tcp}</port></replica>`);
    expect(xml).toContain(`<node><host>127.0.0.1</host><port>${LOCAL_CLUSTER.zookeeperPort}</port></node>`);
    expect(xml).toContain('<shard>01</shard>');
    expect(xml).toContain('<replica>replica-1</replica>');
    expect(xml).toContain('<distributed_ddl>');
    expect(xml).toContain(`<interserver_http_port>${one!.interserver}</interserver_http_port>`);
    expect(xml).toContain('<interserver_http_host>127.0.0.1</interserver_http_host>');
    expect(renderNodeConfig(two!, LOCAL_CLUSTER)).toContain('<replica>replica-2</replica>');
  });

  it('runs ZooKeeper on loopback with its data under the project and no admin server', () => {
    const p = zookeeperPaths('/p/.tally/cluster/zookeeper');
    const cfg = renderZooKeeperConfig(p, 2182);
    expect(cfg).toContain('clientPort=2182');
    expect(cfg).toContain('clientPortAddress=127.0.0.1');
    expect(cfg).toContain('dataDir=/p/.tally/cluster/zookeeper/data');
    expect(cfg).toContain('admin.enableServer=false');
    expect(cfg).toMatch(/4lw\.commands\.whitelist=.*stat/);
  });
});
