import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TallyError } from '../errors.ts';
import { tailLines } from './log-tail.ts';
import { formatCommand, runCommand } from './run-command.ts';
import type { ProgressLog } from './service.ts';

/** Where a natively started Kafka keeps everything, under `<project>/.tally/kafka/`. */
export interface KafkaPaths {
  dir: string;
  lib: string;
  data: string;
  logs: string;
  serverLog: string;
  /** stdout and stderr of the JVM (startup failures before logging starts). */
  out: string;
  properties: string;
  pidFile: string;
  dockerMarker: string;
  formatStamp: string;
}

export function kafkaPaths(dir: string): KafkaPaths {
  return {
    dir,
    lib: join(dir, 'lib'),
    data: join(dir, 'data'),
    logs: join(dir, 'logs'),
    serverLog: join(dir, 'logs', 'server.log'),
    out: join(dir, 'kafka.out'),
    properties: join(dir, 'server.properties'),
    pidFile: join(dir, 'kafka.pid'),
    dockerMarker: join(dir, 'docker.json'),
    formatStamp: join(dir, 'format.json'),
  };
}

export interface KafkaListeners {
  /** Interface the broker binds (127.0.0.1 for `localhost`). */
  bindHost: string;
  /** Host clients are told to use: the one they were configured with. */
  advertisedHost: string;
  port: number;
  controllerPort: number;
}

/** A single-node KRaft broker and controller on loopback, replication factors of one. */
export function renderServerProperties(l: KafkaListeners, dataDir: string): string {
  return `# Written by \`tally services up\`; regenerated on every start.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:${l.controllerPort}
listeners=PLAINTEXT://${l.bindHost}:${l.port},CONTROLLER://127.0.0.1:${l.controllerPort}
advertised.listeners=PLAINTEXT://${l.advertisedHost}:${l.port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=${dataDir}
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
`;
}

/** JVM flags shared by the broker and the storage tool. */
export function kafkaJvmArgs(paths: KafkaPaths, log4jConfig: string): string[] {
  return [
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${log4jConfig}`,
    `-Dkafka.logs.dir=${paths.logs}`,
    '-cp',
    join(paths.lib, '*'),
  ];
}

/**
 * Formats the KRaft storage once (`kafka-storage.sh format --standalone`). A data folder formatted
 * for another controller address is moved aside, not deleted, and a new one is formatted.
 */
export async function formatStorageOnce(
  java: string,
  paths: KafkaPaths,
  log4jConfig: string,
  controller: string,
  log: ProgressLog,
  /** More arguments for the storage tool (`--add-scram ...`, say). */
  extraArgs: readonly string[] = [],
): Promise<void> {
  if (existsSync(join(paths.data, 'meta.properties'))) {
    const formattedFor = readFormatStamp(paths.formatStamp);
    if (!formattedFor || formattedFor === controller) return;
    const aside = `${paths.data}.old-${Date.now()}`;
    log(`kafka: the controller moved from ${formattedFor} to ${controller}; old data kept in ${aside}`);
    renameSync(paths.data, aside);
  }
  mkdirSync(paths.data, { recursive: true });
  mkdirSync(paths.logs, { recursive: true });
  const args = [
    ...kafkaJvmArgs(paths, log4jConfig),
    'kafka.tools.StorageTool',
    'format',
    '--standalone',
    '-t',
    newClusterId(),
    '-c',
    paths.properties,
    ...extraArgs,
  ];
  const res = await runCommand(java, args, { timeoutMs: 120_000 });
  if (res.code !== 0) {
    throw new TallyError(
      'SERVICE_START_FAILED',
      `Formatting Kafka's storage failed (exit ${res.code ?? 'timeout'}).\ncommand: ${formatCommand(java, args)}\n${tailLines(res.stdout + res.stderr, 20)}`,
      { exitCode: 2 },
    );
  }
  writeFileSync(
    paths.formatStamp,
    `${JSON.stringify({ controller, formattedAt: new Date().toISOString() })}\n`,
  );
}

/** A Kafka cluster id: 16 random bytes in URL-safe base64 (22 chars), never starting with '-'. */
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function readFormatStamp(path: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { controller?: string }).controller;
  } catch {
    return undefined;
  }
}
