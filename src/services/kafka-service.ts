import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TallyError } from '../errors.ts';
import { isLoopbackHost } from '../util/loopback-host.ts';
import {
  composeImageTag,
  composeUp,
  dockerEngineAnswers,
  readDockerMarker,
  removeDockerMarker,
  writeDockerMarker,
} from './docker-compose.ts';
import {
  formatStorageOnce,
  type KafkaListeners,
  type KafkaPaths,
  kafkaJvmArgs,
  kafkaPaths,
  renderServerProperties,
} from './kafka-config.ts';
import { describeKafkaCluster, probeKafka } from './kafka-probe.ts';
import { ensureJava, ensureKafkaJars, kafkaRuntimeFiles } from './kafka-runtime.ts';
import { findOwnProcess, runsElsewhereNote, upResult } from './own-process.ts';
import { isOurProcess, type PidRecord, removePidFile, writePidFile } from './pid-file.ts';
import { isPortOpen, parseHostPort } from './port-probe.ts';
import { formatCommand } from './run-command.ts';
import type {
  DownResult,
  ProgressLog,
  Service,
  ServiceOwner,
  ServiceStatus,
  UpAction,
  UpResult,
} from './service.ts';
import { movedError, portTakenError, startFailedError } from './service-errors.ts';
import { spawnDetached } from './spawn-detached.ts';
import { stopOwned } from './stop-owned.ts';
import { stopProcess } from './stop-process.ts';
import { waitUntil } from './wait-until.ts';

export const DEFAULT_KAFKA_BROKERS = ['127.0.0.1:9092'];
/** The broker port docker-compose.yml publishes; Docker is used only for that address. */
const COMPOSE_PORT = 9092;
const SETTING = 'kafka.brokers (TALLY_KAFKA_BROKERS)';

export interface KafkaServiceOptions {
  projectDir: string;
  /** Bootstrap brokers; the first one is probed and, when local and free, started. */
  brokers?: string[];
  /** Start it with Docker when an engine answers (default true). */
  docker?: boolean;
  log?: ProgressLog;
  readyTimeoutMs?: number;
  stopTimeoutMs?: number;
  /** JVM heap for a native broker; default 512m. */
  heap?: string;
}

/**
 * Kafka broker: reused when one answers at the first broker address, else a container (Docker),
 * else Apache Kafka in KRaft mode from its Maven Central jars on the machine's Java, with its
 * data under `.tally/kafka/`.
 */
export class KafkaService implements Service {
  readonly name = 'kafka' as const;
  readonly address: string;
  private readonly brokers: string[];
  private readonly host: string;
  private readonly port: number;
  private readonly paths: KafkaPaths;
  private readonly useDocker: boolean;
  private readonly log: ProgressLog;
  private readonly readyTimeoutMs: number;
  private readonly stopTimeoutMs: number;
  private readonly heap: string;

  constructor(opts: KafkaServiceOptions) {
    this.brokers = opts.brokers && opts.brokers.length > 0 ? opts.brokers : DEFAULT_KAFKA_BROKERS;
    this.address = this.brokers.join(',');
    const first = parseHostPort(this.brokers[0]!, 9092);
    if (!Number.isInteger(first.port) || first.port <= 0 || first.port > 65535) {
      throw new TallyError('SERVICE_BAD_ADDRESS', `Kafka broker "${this.brokers[0]}" is not host:port.`, {
        hint: `set ${SETTING} to addresses such as 127.0.0.1:9092`,
      });
    }
    this.host = first.host;
    this.port = first.port;
    this.paths = kafkaPaths(join(opts.projectDir, '.tally', 'kafka'));
    this.useDocker = opts.docker ?? true;
    this.log = opts.log ?? (() => {});
    this.readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
    this.stopTimeoutMs = opts.stopTimeoutMs ?? 30_000;
    this.heap = opts.heap ?? '512m';
  }

  async up(): Promise<UpResult> {
    const t0 = Date.now();
    const found = findOwnProcess(this.paths.pidFile, this.address);
    const { running, own } = found;
    if (own) {
      // Ours, answering or still starting: wait until it serves metadata.
      await this.waitReady(own, () => (isOurProcess(own) ? undefined : 'the broker process exited'));
      return this.result('already-running', 'tally', own.version ?? 'unknown', t0, own);
    }
    const probe = await probeKafka(this.host, this.port);
    if (probe.kind === 'other') throw await portTakenError('Kafka', this.host, this.port, SETTING);
    if (probe.kind === 'kafka') {
      try {
        await describeKafkaCluster(this.brokers, 5000);
      } catch (err) {
        throw new TallyError(
          'SERVICE_UNUSABLE',
          `Kafka at ${this.address} answers but not a metadata request: ${(err as Error).message}`,
          { hint: 'check its advertised.listeners and security settings', exitCode: 2 },
        );
      }
      if (readDockerMarker(this.paths.dockerMarker)) {
        return this.result('already-running', 'docker', composeImageTag('kafka') ?? 'unknown', t0);
      }
      return this.result('reused', 'external', 'unknown', t0);
    }
    if (running && !own) throw movedError('Kafka', running, this.address, SETTING);
    removePidFile(this.paths.pidFile);
    if (!isLoopbackHost(this.host)) {
      throw new TallyError(
        'SERVICE_UNREACHABLE',
        `Kafka at ${this.address} does not answer, and \`tally services up\` starts servers on this machine only (127.0.0.1 or localhost).`,
        { exitCode: 2 },
      );
    }
    if (this.useDocker && this.port === COMPOSE_PORT && (await dockerEngineAnswers()))
      return this.startDocker(t0);
    return this.startNative(t0);
  }

  async down(): Promise<DownResult> {
    return stopOwned({
      name: this.name,
      address: this.address,
      paths: this.paths,
      stopTimeoutMs: this.stopTimeoutMs,
      log: this.log,
      answers: async () => (await probeKafka(this.host, this.port)).kind === 'kafka',
    });
  }

  async status(): Promise<ServiceStatus> {
    const base = { name: this.name, address: this.address };
    const found = findOwnProcess(this.paths.pidFile, this.address);
    const own = found.own;
    const elsewhere = runsElsewhereNote(found);
    const probe = await probeKafka(this.host, this.port);
    if (own) {
      const state = probe.kind === 'kafka' ? 'running' : 'starting';
      return {
        ...base,
        state,
        owner: 'tally',
        version: own.version,
        pid: own.pid,
        logFile: this.paths.serverLog,
      };
    }
    if (probe.kind === 'kafka') {
      return readDockerMarker(this.paths.dockerMarker)
        ? { ...base, state: 'running', owner: 'docker', version: composeImageTag('kafka') ?? 'unknown' }
        : { ...base, state: 'running', owner: 'external', version: 'unknown' };
    }
    if (probe.kind === 'other') {
      const err = await portTakenError('Kafka', this.host, this.port, SETTING);
      return { ...base, state: 'stopped', note: err.message };
    }
    return { ...base, state: 'stopped', ...(elsewhere ? { note: elsewhere } : {}) };
  }

  private async startDocker(t0: number): Promise<UpResult> {
    this.log('kafka: starting the kafka container (docker compose up -d kafka)');
    await composeUp('kafka');
    writeDockerMarker(this.paths.dockerMarker, 'kafka');
    const ready = await waitUntil(() => this.answersMetadata(), {
      timeoutMs: this.readyTimeoutMs,
      intervalMs: 500,
    });
    if (!ready.ok) {
      throw new TallyError(
        'SERVICE_START_FAILED',
        `The kafka container does not answer at ${this.address} (${ready.reason}); see \`docker compose -p tally logs kafka\`.`,
        { exitCode: 2 },
      );
    }
    return this.result('started', 'docker', composeImageTag('kafka') ?? 'unknown', t0);
  }

  private async startNative(t0: number): Promise<UpResult> {
    const java = await ensureJava();
    const p = this.paths;
    const version = await ensureKafkaJars(p.lib, this.log);
    const listeners: KafkaListeners = {
      bindHost: this.host === 'localhost' ? '127.0.0.1' : this.host,
      advertisedHost: this.host,
      port: this.port,
      controllerPort: this.port + 1,
    };
    if (await isPortOpen('127.0.0.1', listeners.controllerPort)) {
      throw await portTakenError('the Kafka controller', '127.0.0.1', listeners.controllerPort, SETTING);
    }
    removeDockerMarker(p.dockerMarker);
    mkdirSync(p.logs, { recursive: true });
    writeFileSync(p.properties, renderServerProperties(listeners, p.data));
    const { log4j } = kafkaRuntimeFiles();
    await formatStorageOnce(java, p, log4j, `127.0.0.1:${listeners.controllerPort}`, this.log);

    const args = [
      `-Xmx${this.heap}`,
      `-Xms${this.heap}`,
      '-XX:+UseG1GC',
      '-XX:MaxGCPauseMillis=20',
      ...kafkaJvmArgs(p, log4j),
      'kafka.Kafka',
      p.properties,
    ];
    const command = formatCommand(java, args);
    this.log(`kafka: starting Kafka ${version} (${command})`);
    const proc = spawnDetached(java, args, { logFile: p.out, cwd: p.dir });
    const rec: PidRecord = {
      pid: proc.pid,
      marker: p.properties,
      command,
      startedAt: new Date().toISOString(),
      address: this.address,
      version,
    };
    if (proc.pid > 0) writePidFile(p.pidFile, rec);
    await this.waitReady(rec, proc.exitReason);
    return this.result('started', 'tally', version, t0, rec);
  }

  /** Waits for a metadata answer; on failure stops the process we started and throws with its logs. */
  private async waitReady(rec: PidRecord, exitReason: () => string | undefined): Promise<void> {
    const ready = await waitUntil(() => this.answersMetadata(), {
      timeoutMs: this.readyTimeoutMs,
      intervalMs: 300,
      abort: exitReason,
    });
    if (ready.ok) return;
    if (rec.pid > 0) await stopProcess(rec, 5000);
    removePidFile(this.paths.pidFile);
    throw startFailedError('Kafka', ready.reason, rec.command, [this.paths.serverLog, this.paths.out]);
  }

  private async answersMetadata(): Promise<boolean> {
    if ((await probeKafka(this.host, this.port, 1000)).kind !== 'kafka') return false;
    const cluster = await describeKafkaCluster(this.brokers, 2000);
    return cluster.brokers > 0;
  }

  private result(
    action: UpAction,
    owner: ServiceOwner,
    version: string,
    t0: number,
    rec?: PidRecord,
  ): UpResult {
    return upResult({
      name: this.name,
      address: this.address,
      logFile: this.paths.serverLog,
      action,
      owner,
      version,
      t0,
      rec,
    });
  }
}
