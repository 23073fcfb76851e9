// The chaos run's own Kafka KRaft broker (the same jars as `tally services up`), with its data
// under .tally/chaos/kafka/ and ports apart from the shared broker, so the run can restart, kill
// and pause it. The jars stay between runs (resolved once with Maven); the data does not.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import {
  formatStorageOnce,
  type KafkaListeners,
  type KafkaPaths,
  kafkaJvmArgs,
  kafkaPaths,
  renderServerProperties,
} from '../../src/services/kafka-config.ts';
import { describeKafkaCluster, probeKafka } from '../../src/services/kafka-probe.ts';
import { ensureJava, ensureKafkaJars, kafkaRuntimeFiles } from '../../src/services/kafka-runtime.ts';
import { tailFile } from '../../src/services/log-tail.ts';
import { isPortOpen } from '../../src/services/port-probe.ts';
import { waitUntil } from '../../src/services/wait-until.ts';
import { OwnedProcess } from './owned-process.ts';

/** The plaintext listener and the controller; a secured broker adds its other listeners' ports. */
export type PrivateKafkaPorts = { broker: number; controller: number } & Record<string, number>;

export const CHAOS_KAFKA_PORTS: PrivateKafkaPorts = { broker: 19092, controller: 19093 };

/** How a broker other than the chaos run's is configured (the secured-Kafka tests). */
export interface PrivateKafkaSetup {
  /** The whole server.properties (default: `tally services up`'s, on the given ports). */
  properties?: (listeners: KafkaListeners, dataDir: string) => string;
  /** More arguments for the storage format (`--add-scram ...`). */
  formatArgs?: readonly string[];
  /** More JVM arguments (system properties such as Kafka's allowed OAuth URLs). */
  jvmArgs?: readonly string[];
}

export class PrivateKafka {
  readonly brokers: string;
  private readonly paths: KafkaPaths;
  private proc?: OwnedProcess;
  version = 'unknown';

  constructor(
    dir: string,
    private readonly ports: PrivateKafkaPorts = CHAOS_KAFKA_PORTS,
    private readonly heap = '384m',
    private readonly setup: PrivateKafkaSetup = {},
  ) {
    this.brokers = `127.0.0.1:${ports.broker}`;
    this.paths = kafkaPaths(dir);
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Jars (kept), a fresh data folder, the config, formatted storage. */
  async prepare(log: (line: string) => void): Promise<void> {
    if (await OwnedProcess.stopLeftover(this.paths.pidFile)) {
      log('chaos: stopped the private Kafka an earlier run left running');
    }
    for (const port of Object.values(this.ports)) {
      if (await isPortOpen('127.0.0.1', port)) {
        throw new Error(`port ${port} is taken: the chaos run's private Kafka needs it`);
      }
    }
    const java = await ensureJava();
    const p = this.paths;
    this.version = await ensureKafkaJars(p.lib, log);
    for (const d of [p.data, p.logs, p.formatStamp, p.out]) rmSync(d, { recursive: true, force: true });
    mkdirSync(p.logs, { recursive: true });
    const listeners = {
      bindHost: '127.0.0.1',
      advertisedHost: '127.0.0.1',
      port: this.ports.broker,
      controllerPort: this.ports.controller,
    };
    const render = this.setup.properties ?? renderServerProperties;
    writeFileSync(p.properties, render(listeners, p.data));
    const { log4j } = kafkaRuntimeFiles();
    const controller = `127.0.0.1:${this.ports.controller}`;
    await formatStorageOnce(java, p, log4j, controller, log, this.setup.formatArgs);
    this.proc = new OwnedProcess(
      java,
      [
        `-Xmx${this.heap}`,
        `-Xms${this.heap}`,
        '-XX:+UseG1GC',
        '-XX:MaxGCPauseMillis=20',
        ...(this.setup.jvmArgs ?? []),
        ...kafkaJvmArgs(p, log4j),
        'kafka.Kafka',
        p.properties,
      ],
      p.properties,
      p.out,
      p.dir,
      p.pidFile,
    );
  }

  /** Starts the broker and waits until it serves metadata; returns the milliseconds it took. */
  async start(timeoutMs = 120_000): Promise<number> {
    const proc = this.owned();
    const t0 = performance.now();
    proc.spawn();
    const ready = await waitUntil(
      async () =>
        (await probeKafka('127.0.0.1', this.ports.broker, 1000)).kind === 'kafka' &&
        (await describeKafkaCluster([this.brokers], 2000)).brokers > 0,
      { timeoutMs, intervalMs: 200, abort: () => proc.exitReason() },
    );
    if (!ready.ok) {
      throw new Error(
        `private Kafka did not start (${ready.reason}):\n${tailFile(this.paths.serverLog, 15)}`,
      );
    }
    return performance.now() - t0;
  }

  stop(graceMs = 30_000): Promise<void> {
    return this.proc?.stop(graceMs) ?? Promise.resolve();
  }

  kill9(): Promise<void> {
    return this.owned().kill9();
  }

  pause(): void {
    this.owned().pause();
  }

  resume(): void {
    this.owned().resume();
  }

  private owned(): OwnedProcess {
    if (!this.proc) throw new Error('private Kafka: prepare() first');
    return this.proc;
  }
}
