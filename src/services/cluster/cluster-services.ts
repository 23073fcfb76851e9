import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TallyError } from '../../errors.ts';
import { clickhousePaths, renderClickHouseConfig, renderClickHouseUsers } from '../clickhouse-config.ts';
import { ensureClickHouseServer } from '../clickhouse-install.ts';
import { clickhouseAnswersSelect1, probeClickHouse } from '../clickhouse-probe.ts';
import { ensureJava } from '../kafka-runtime.ts';
import type { DownResult, ProgressLog, Service, ServiceStatus, UpResult } from '../service.ts';
import { waitUntil } from '../wait-until.ts';
import { NativeMember } from './native-member.ts';
import { renderNodeConfig } from './node-config.ts';
import { type ClusterNode, type ClusterTopology, LOCAL_CLUSTER, nodeUrl } from './topology.ts';
import { renderZooKeeperConfig, zookeeperJvmArgs, zookeeperPaths } from './zookeeper-config.ts';
import { ensureZooKeeper } from './zookeeper-install.ts';
import { zookeeperAnswers, zookeeperVersion } from './zookeeper-probe.ts';

export interface ClusterOptions {
  projectDir: string;
  log?: ProgressLog;
  topology?: ClusterTopology;
}

/** ZooKeeper, then the ClickHouse nodes: everything under `<project>/.tally/cluster/`. */
export function createClusterServices(opts: ClusterOptions): { zookeeper: Service; nodes: Service[] } {
  const topology = opts.topology ?? LOCAL_CLUSTER;
  const log = opts.log ?? (() => {});
  const root = join(opts.projectDir, '.tally', 'cluster');
  return {
    zookeeper: zookeeperMember(root, topology, log),
    nodes: topology.nodes.map((n) => nodeMember(root, n, topology, log)),
  };
}

/**
 * `tally services up --cluster`: ZooKeeper first (the nodes need it for replicated tables and
 * ON CLUSTER DDL), then the nodes in parallel; waits until each node has its ZooKeeper session.
 */
export async function clusterUp(opts: ClusterOptions): Promise<UpResult[]> {
  const { zookeeper, nodes } = createClusterServices(opts);
  const zk = await zookeeper.up();
  const settled = await Promise.allSettled(nodes.map((n) => n.up()));
  const failed = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed.length > 0) {
    if (failed.length === 1) throw failed[0]!.reason;
    throw new TallyError(
      'SERVICE_START_FAILED',
      failed.map((f) => (f.reason instanceof Error ? f.reason.message : String(f.reason))).join('\n\n'),
      { exitCode: 2 },
    );
  }
  const up = settled.map((s) => (s as PromiseFulfilledResult<UpResult>).value);
  for (const n of up) await waitForZooKeeperSession(n.address);
  return [zk, ...up];
}

/** Stops the nodes, then ZooKeeper (only what `up --cluster` started). */
export async function clusterDown(opts: ClusterOptions): Promise<DownResult[]> {
  const { zookeeper, nodes } = createClusterServices(opts);
  const stopped = await Promise.all(nodes.map((n) => n.down()));
  return [await zookeeper.down(), ...stopped];
}

export async function clusterStatus(opts: ClusterOptions): Promise<ServiceStatus[]> {
  const { zookeeper, nodes } = createClusterServices(opts);
  return Promise.all([zookeeper, ...nodes].map((s) => s.status()));
}

function zookeeperMember(root: string, topology: ClusterTopology, log: ProgressLog): Service {
  const p = zookeeperPaths(join(root, 'zookeeper'));
  const port = topology.zookeeperPort;
  return new NativeMember({
    name: 'zookeeper',
    address: `127.0.0.1:${port}`,
    port,
    setting: 'the cluster topology (src/services/cluster/topology.ts)',
    dir: p.dir,
    marker: p.config,
    logFiles: [p.out],
    answers: () => zookeeperAnswers(port),
    version: () => zookeeperVersion(port),
    log,
    prepare: async () => {
      const [java, jar] = await Promise.all([ensureJava(), ensureZooKeeper(log)]);
      mkdirSync(p.data, { recursive: true });
      writeFileSync(p.config, renderZooKeeperConfig(p, port));
      return { cmd: java, args: zookeeperJvmArgs(jar, p) };
    },
  });
}

function nodeMember(root: string, node: ClusterNode, topology: ClusterTopology, log: ProgressLog): Service {
  const p = clickhousePaths(join(root, node.name));
  const url = nodeUrl(node);
  return new NativeMember({
    name: node.name as Service['name'],
    address: url,
    port: node.http,
    setting: 'the cluster topology (src/services/cluster/topology.ts)',
    dir: p.dir,
    marker: p.config,
    logFiles: [p.errorLog, p.log],
    startAttempts: 3,
    answers: () => clickhouseAnswersSelect1(url, 1000).catch(() => false),
    version: async () => {
      const probe = await probeClickHouse(url);
      return probe.kind === 'clickhouse' ? probe.version : 'unknown';
    },
    log,
    prepare: async () => {
      const { binary } = await ensureClickHouseServer(log);
      for (const dir of [p.dir, p.data, p.tmp, p.userFiles, p.formatSchemas, join(p.dir, 'log')]) {
        mkdirSync(dir, { recursive: true });
      }
      writeFileSync(
        p.config,
        renderClickHouseConfig(p, { http: node.http, tcp: node.tcp }, renderNodeConfig(node, topology)),
      );
      writeFileSync(p.users, renderClickHouseUsers());
      return { cmd: binary.cmd, args: [...binary.args, `--config-file=${p.config}`] };
    },
  });
}

/** A node answers SELECT 1 before its ZooKeeper session is up; replicated DDL needs the session. */
async function waitForZooKeeperSession(url: string): Promise<void> {
  const ready = await waitUntil(
    async () => {
      const res = await fetch(
        `${url}/?query=${encodeURIComponent("SELECT count() FROM system.zookeeper WHERE path = '/'")}`,
      );
      return res.ok;
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
  if (!ready.ok) {
    throw new TallyError(
      'SERVICE_START_FAILED',
      `ClickHouse at ${url} does not reach ZooKeeper (${ready.reason}); see its log under .tally/cluster/`,
      { exitCode: 2 },
    );
  }
}
