import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TallyError } from '../errors.ts';
import { isLoopbackHost } from '../util/loopback-host.ts';
import {
  type ClickHousePaths,
  clickhousePaths,
  renderClickHouseConfig,
  renderClickHouseUsers,
} from './clickhouse-config.ts';
import { ensureClickHouseServer } from './clickhouse-install.ts';
import { clickhouseAnswersSelect1, probeClickHouse } from './clickhouse-probe.ts';
import {
  composeUp,
  dockerEngineAnswers,
  readDockerMarker,
  removeDockerMarker,
  writeDockerMarker,
} from './docker-compose.ts';
import { findOwnProcess, runsElsewhereNote, upResult } from './own-process.ts';
import { isOurProcess, type PidRecord, removePidFile, writePidFile } from './pid-file.ts';
import { freePort, isPortOpen } from './port-probe.ts';
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

export const DEFAULT_CLICKHOUSE_URL = 'http://127.0.0.1:8123';
/** The HTTP port docker-compose.yml publishes; Docker is used only for that address. */
const COMPOSE_HTTP_PORT = 8123;
const NATIVE_TCP_PORT = 9000;
const SETTING = 'clickhouse.url (TALLY_CLICKHOUSE_URL)';

export interface ClickHouseServiceOptions {
  projectDir: string;
  /** Where ClickHouse answers HTTP; default http://127.0.0.1:8123. */
  url?: string;
  /** Start it with Docker when an engine answers (default true). */
  docker?: boolean;
  log?: ProgressLog;
  readyTimeoutMs?: number;
  stopTimeoutMs?: number;
}

/**
 * ClickHouse server: reused when one answers at the URL, else a container (Docker), else the
 * native binary (Debian's clickhouse-server, installed with apt-get if missing) with its data
 * under `.tally/clickhouse/`.
 */
export class ClickHouseService implements Service {
  readonly name = 'clickhouse' as const;
  readonly address: string;
  private readonly host: string;
  private readonly port: number;
  private readonly paths: ClickHousePaths;
  private readonly useDocker: boolean;
  private readonly log: ProgressLog;
  private readonly readyTimeoutMs: number;
  private readonly stopTimeoutMs: number;

  constructor(opts: ClickHouseServiceOptions) {
    this.address = (opts.url ?? DEFAULT_CLICKHOUSE_URL).replace(/\/+$/, '');
    let url: URL;
    try {
      url = new URL(this.address);
    } catch {
      throw new TallyError('SERVICE_BAD_ADDRESS', `ClickHouse URL "${this.address}" is not a URL.`, {
        hint: `set ${SETTING} to a URL such as ${DEFAULT_CLICKHOUSE_URL}`,
      });
    }
    this.host = url.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    this.paths = clickhousePaths(join(opts.projectDir, '.tally', 'clickhouse'));
    this.useDocker = opts.docker ?? true;
    this.log = opts.log ?? (() => {});
    this.readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
    this.stopTimeoutMs = opts.stopTimeoutMs ?? 20_000;
  }

  async up(): Promise<UpResult> {
    const t0 = Date.now();
    const found = findOwnProcess(this.paths.pidFile, this.address);
    const { running, own } = found;
    const probe = await probeClickHouse(this.address);
    if (probe.kind === 'clickhouse') {
      const owner: ServiceOwner = own
        ? 'tally'
        : readDockerMarker(this.paths.dockerMarker)
          ? 'docker'
          : 'external';
      return this.result(owner === 'external' ? 'reused' : 'already-running', owner, probe.version, t0, own);
    }
    if (probe.kind === 'clickhouse-error') {
      throw new TallyError(
        'SERVICE_UNUSABLE',
        `ClickHouse at ${this.address} answers but refuses queries: ${probe.message}`,
        {
          hint: `check the user and password in ${SETTING}`,
          exitCode: 2,
        },
      );
    }
    if (probe.kind === 'other')
      throw await portTakenError('ClickHouse', this.host, this.port, SETTING, probe.detail);
    if (own) {
      // Our server from an earlier `up` is still starting.
      await this.waitReady(own, () => (isOurProcess(own) ? undefined : 'the server process exited'));
      return this.result('already-running', 'tally', await this.version(), t0, own);
    }
    if (running && !own) throw movedError('ClickHouse', running, this.address, SETTING);
    removePidFile(this.paths.pidFile);
    if (!isLoopbackHost(this.host)) {
      throw new TallyError(
        'SERVICE_UNREACHABLE',
        `ClickHouse at ${this.address} does not answer, and \`tally services up\` starts servers on this machine only (127.0.0.1 or localhost).`,
        { exitCode: 2 },
      );
    }
    if (this.useDocker && this.port === COMPOSE_HTTP_PORT && (await dockerEngineAnswers())) {
      return this.startDocker(t0);
    }
    return this.startNative(t0);
  }

  async down(): Promise<DownResult> {
    return stopOwned({
      name: this.name,
      address: this.address,
      paths: this.paths,
      stopTimeoutMs: this.stopTimeoutMs,
      log: this.log,
      answers: async () => (await probeClickHouse(this.address)).kind === 'clickhouse',
    });
  }

  async status(): Promise<ServiceStatus> {
    const base = { name: this.name, address: this.address };
    const found = findOwnProcess(this.paths.pidFile, this.address);
    const own = found.own;
    const elsewhere = runsElsewhereNote(found);
    const probe = await probeClickHouse(this.address);
    if (probe.kind === 'clickhouse') {
      if (own)
        return {
          ...base,
          state: 'running',
          owner: 'tally',
          version: probe.version,
          pid: own.pid,
          logFile: this.paths.log,
        };
      const owner = readDockerMarker(this.paths.dockerMarker) ? 'docker' : 'external';
      return { ...base, state: 'running', owner, version: probe.version };
    }
    if (own) return { ...base, state: 'starting', owner: 'tally', pid: own.pid, logFile: this.paths.log };
    if (probe.kind === 'clickhouse-error') {
      return { ...base, state: 'running', owner: 'external', note: `refuses queries: ${probe.message}` };
    }
    if (probe.kind === 'other') {
      const err = await portTakenError('ClickHouse', this.host, this.port, SETTING, probe.detail);
      return { ...base, state: 'stopped', note: err.message };
    }
    return { ...base, state: 'stopped', ...(elsewhere ? { note: elsewhere } : {}) };
  }

  private async startDocker(t0: number): Promise<UpResult> {
    this.log('clickhouse: starting the clickhouse container (docker compose up -d clickhouse)');
    await composeUp('clickhouse');
    writeDockerMarker(this.paths.dockerMarker, 'clickhouse');
    const ready = await waitUntil(() => clickhouseAnswersSelect1(this.address, 1000), {
      timeoutMs: this.readyTimeoutMs * 2,
    });
    if (!ready.ok) {
      throw new TallyError(
        'SERVICE_START_FAILED',
        `The clickhouse container does not answer at ${this.address} (${ready.reason}); see \`docker compose -p tally logs clickhouse\`.`,
        { exitCode: 2 },
      );
    }
    return this.result('started', 'docker', await this.version(), t0);
  }

  private async startNative(t0: number): Promise<UpResult> {
    const { binary, installed } = await ensureClickHouseServer(this.log);
    if (installed) {
      // The package may have started its own system service on this port: reuse it (rule a).
      const probe = await probeClickHouse(this.address);
      if (probe.kind === 'clickhouse') return this.result('reused', 'external', probe.version, t0);
      if (probe.kind !== 'closed') throw await portTakenError('ClickHouse', this.host, this.port, SETTING);
    }
    removeDockerMarker(this.paths.dockerMarker);
    const p = this.paths;
    for (const dir of [p.dir, p.data, p.tmp, p.userFiles, p.formatSchemas, join(p.dir, 'log')]) {
      mkdirSync(dir, { recursive: true });
    }
    const tcp = await this.nativeTcpPort();
    writeFileSync(p.config, renderClickHouseConfig(p, { http: this.port, tcp }));
    writeFileSync(p.users, renderClickHouseUsers());

    const args = [...binary.args, `--config-file=${p.config}`];
    const command = formatCommand(binary.cmd, args);
    this.log(`clickhouse: starting ${command}`);
    const proc = spawnDetached(binary.cmd, args, { logFile: p.out, cwd: p.dir });
    const rec: PidRecord = {
      pid: proc.pid,
      marker: p.config,
      command,
      startedAt: new Date().toISOString(),
      address: this.address,
    };
    if (proc.pid > 0) writePidFile(p.pidFile, rec);
    await this.waitReady(rec, proc.exitReason);
    return this.result('started', 'tally', await this.version(), t0, rec);
  }

  /** Waits for SELECT 1; on failure stops the process we started and throws with its logs. */
  private async waitReady(rec: PidRecord, exitReason: () => string | undefined): Promise<void> {
    const ready = await waitUntil(() => clickhouseAnswersSelect1(this.address, 1000), {
      timeoutMs: this.readyTimeoutMs,
      intervalMs: 200,
      abort: exitReason,
    });
    if (ready.ok) return;
    if (rec.pid > 0) await stopProcess(rec, 5000);
    removePidFile(this.paths.pidFile);
    throw startFailedError('ClickHouse server', ready.reason, rec.command, [
      this.paths.errorLog,
      this.paths.log,
      this.paths.out,
    ]);
  }

  /** 9000 like every ClickHouse, unless something else has it: Tally talks HTTP only. */
  private async nativeTcpPort(): Promise<number> {
    if (!(await isPortOpen('127.0.0.1', NATIVE_TCP_PORT))) return NATIVE_TCP_PORT;
    const port = await freePort();
    this.log(`clickhouse: port ${NATIVE_TCP_PORT} is taken; the native protocol listens on ${port} instead`);
    return port;
  }

  private async version(): Promise<string> {
    const probe = await probeClickHouse(this.address);
    return probe.kind === 'clickhouse' ? probe.version : 'unknown';
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
      logFile: this.paths.log,
      action,
      owner,
      version,
      t0,
      rec,
    });
  }
}
