// The chaos run's own clickhouse-server (the same binary as the shared one), with its config and
// data under .tally/chaos/clickhouse/ and ports apart from every other server, so the run can
// restart, kill and pause it without touching the server other work uses.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  clickhousePaths,
  renderClickHouseConfig,
  renderClickHouseUsers,
} from '../../src/services/clickhouse-config.ts';
import { findClickHouseServer } from '../../src/services/clickhouse-install.ts';
import { clickhouseAnswersSelect1 } from '../../src/services/clickhouse-probe.ts';
import { tailFile } from '../../src/services/log-tail.ts';
import { isPortOpen } from '../../src/services/port-probe.ts';
import { waitUntil } from '../../src/services/wait-until.ts';
import { OwnedProcess } from './owned-process.ts';

export interface PrivateClickHousePorts {
  http: number;
  tcp: number;
  interserver: number;
}

export const CHAOS_CLICKHOUSE_PORTS: PrivateClickHousePorts = { http: 18123, tcp: 19000, interserver: 19009 };

/** How a server other than the chaos run's is configured (the TLS tests). */
export interface PrivateClickHouseSetup {
  /** More top-level config elements (an HTTPS port and its certificate, say). */
  extraConfig?: string;
  /** More users (XML elements inside `<users>`). */
  extraUsers?: string;
}

export class PrivateClickHouse {
  readonly url: string;
  private readonly paths;
  private readonly proc: OwnedProcess;

  constructor(
    dir: string,
    private readonly ports: PrivateClickHousePorts = CHAOS_CLICKHOUSE_PORTS,
    private readonly setup: PrivateClickHouseSetup = {},
  ) {
    this.url = `http://127.0.0.1:${ports.http}`;
    this.paths = clickhousePaths(dir);
    const binary = findClickHouseServer();
    if (!binary) throw new Error('clickhouse-server is not installed (`tally services up` installs it)');
    this.proc = new OwnedProcess(
      binary.cmd,
      [...binary.args, `--config-file=${this.paths.config}`],
      this.paths.config,
      this.paths.out,
      dir,
      this.paths.pidFile,
    );
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  /** A fresh data folder and config; refuses ports something else holds. */
  async prepare(log: (line: string) => void): Promise<void> {
    if (await OwnedProcess.stopLeftover(this.paths.pidFile)) {
      log('chaos: stopped the private ClickHouse an earlier run left running');
    }
    for (const port of Object.values(this.ports)) {
      if (await isPortOpen('127.0.0.1', port)) {
        throw new Error(`port ${port} is taken: the chaos run's private ClickHouse needs it`);
      }
    }
    const p = this.paths;
    rmSync(p.dir, { recursive: true, force: true });
    for (const d of [p.dir, p.data, p.tmp, p.userFiles, p.formatSchemas, join(p.dir, 'log')]) {
      mkdirSync(d, { recursive: true });
    }
    writeFileSync(p.config, renderClickHouseConfig(p, this.ports, this.setup.extraConfig));
    writeFileSync(p.users, renderClickHouseUsers(this.setup.extraUsers));
  }

  /** Starts the server and waits for `SELECT 1`; returns the milliseconds it took. */
  async start(timeoutMs = 60_000): Promise<number> {
    const t0 = performance.now();
    this.proc.spawn();
    const ready = await waitUntil(() => clickhouseAnswersSelect1(this.url, 1000), {
      timeoutMs,
      intervalMs: 100,
      abort: () => this.proc.exitReason(),
    });
    if (!ready.ok) {
      throw new Error(
        `private ClickHouse did not start (${ready.reason}):\n${tailFile(this.paths.errorLog, 15)}`,
      );
    }
    return performance.now() - t0;
  }

  stop(graceMs = 30_000): Promise<void> {
    return this.proc.stop(graceMs);
  }

  kill9(): Promise<void> {
    return this.proc.kill9();
  }

  pause(): void {
    this.proc.pause();
  }

  resume(): void {
    this.proc.resume();
  }
}
