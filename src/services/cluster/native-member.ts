import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { findOwnProcess, upResult } from '../own-process.ts';
import { isOurProcess, type PidRecord, removePidFile, writePidFile } from '../pid-file.ts';
import { isPortOpen } from '../port-probe.ts';
import { formatCommand } from '../run-command.ts';
import type { DownResult, ProgressLog, Service, ServiceName, ServiceStatus, UpResult } from '../service.ts';
import { portTakenError, startFailedError } from '../service-errors.ts';
import { spawnDetached } from '../spawn-detached.ts';
import { stopOwned } from '../stop-owned.ts';
import { stopProcess } from '../stop-process.ts';
import { waitUntil } from '../wait-until.ts';

export interface NativeMemberOptions {
  name: ServiceName;
  /** What `status` shows: a URL or host:port. */
  address: string;
  port: number;
  /** The setting that moves it elsewhere, for a port-taken message. */
  setting: string;
  /** Its folder under .tally/cluster/; the pid file and process output go there. */
  dir: string;
  /** A string the process's command line contains (its config file): how its pid is recognized. */
  marker: string;
  logFiles: string[];
  answers: () => Promise<boolean>;
  version: () => Promise<string>;
  /** Installs what is missing, writes the config, and says what to run. */
  prepare: () => Promise<{ cmd: string; args: string[] }>;
  log: ProgressLog;
  /**
   * Starts tried before giving up when the process exits while starting. 18.16 exits when it
   * cannot open a ZooKeeper session while loading its replicated tables (it does not wait);
   * ZooKeeper is probed until it serves, and this covers a session that still fails. Default 1.
   */
  startAttempts?: number;
  readyTimeoutMs?: number;
  stopTimeoutMs?: number;
}

/**
 * One process of the local cluster, run natively: reused when it already answers, else started
 * detached with its pid recorded, so `down` stops that process and nothing else. No Docker path:
 * Docker users run docker-compose.cluster.yml themselves.
 */
export class NativeMember implements Service {
  readonly name: ServiceName;
  readonly address: string;
  private readonly pidFile: string;
  private readonly out: string;

  constructor(private readonly o: NativeMemberOptions) {
    this.name = o.name;
    this.address = o.address;
    this.pidFile = `${o.dir}/${o.name}.pid`;
    this.out = `${o.dir}/${o.name}.out`;
  }

  async up(): Promise<UpResult> {
    const t0 = Date.now();
    const own = this.ownProcess();
    if (await this.o.answers()) {
      return this.result(own ? 'already-running' : 'reused', own ? 'tally' : 'external', t0, own);
    }
    if (own) {
      // Ours from an earlier `up`, still starting.
      await this.waitReady(own, () => (isOurProcess(own) ? undefined : 'the process exited'));
      return this.result('already-running', 'tally', t0, own);
    }
    removePidFile(this.pidFile);
    if (await isPortOpen('127.0.0.1', this.o.port)) {
      throw await portTakenError(this.name, '127.0.0.1', this.o.port, this.o.setting);
    }
    const { cmd, args } = await this.o.prepare();
    const attempts = this.o.startAttempts ?? 1;
    for (let attempt = 1; ; attempt++) {
      try {
        const rec = await this.start(cmd, args);
        return this.result('started', 'tally', t0, rec);
      } catch (err) {
        if (attempt >= attempts) throw err;
        this.o.log(`${this.name}: exited while starting; starting it again (attempt ${attempt + 1})`);
      }
    }
  }

  private async start(cmd: string, args: string[]): Promise<PidRecord> {
    const command = formatCommand(cmd, args);
    this.o.log(`${this.name}: starting ${command}`);
    mkdirSync(dirname(this.out), { recursive: true });
    const proc = spawnDetached(cmd, args, { logFile: this.out, cwd: this.o.dir });
    const rec: PidRecord = {
      pid: proc.pid,
      marker: this.o.marker,
      command,
      startedAt: new Date().toISOString(),
      address: this.address,
    };
    if (proc.pid > 0) writePidFile(this.pidFile, rec);
    await this.waitReady(rec, proc.exitReason);
    return rec;
  }

  down(): Promise<DownResult> {
    return stopOwned({
      name: this.name,
      address: this.address,
      // No Docker marker is ever written for a cluster member.
      paths: { pidFile: this.pidFile, dockerMarker: `${this.o.dir}/docker.json` },
      stopTimeoutMs: this.o.stopTimeoutMs ?? 20_000,
      log: this.o.log,
      answers: this.o.answers,
    });
  }

  async status(): Promise<ServiceStatus> {
    const base = { name: this.name, address: this.address };
    const own = this.ownProcess();
    if (await this.o.answers()) {
      return own
        ? { ...base, state: 'running', owner: 'tally', version: await this.o.version(), pid: own.pid }
        : { ...base, state: 'running', owner: 'external', version: await this.o.version() };
    }
    if (own) return { ...base, state: 'starting', owner: 'tally', pid: own.pid };
    return { ...base, state: 'stopped' };
  }

  private async waitReady(rec: PidRecord, exitReason: () => string | undefined): Promise<void> {
    const ready = await waitUntil(this.o.answers, {
      timeoutMs: this.o.readyTimeoutMs ?? 60_000,
      intervalMs: 100,
      abort: exitReason,
    });
    if (ready.ok) return;
    if (rec.pid > 0) await stopProcess(rec, 5000);
    removePidFile(this.pidFile);
    throw startFailedError(this.name, ready.reason, rec.command, [...this.o.logFiles, this.out]);
  }

  /** Ours from an earlier `up` (a member's address is fixed by the cluster's layout). */
  private ownProcess(): PidRecord | undefined {
    return findOwnProcess(this.pidFile, this.address).running;
  }

  private async result(
    action: UpResult['action'],
    owner: UpResult['owner'],
    t0: number,
    rec?: PidRecord,
  ): Promise<UpResult> {
    const version = await this.o.version();
    return upResult({ name: this.name, address: this.address, action, owner, version, t0, rec });
  }
}
