// A `tally serve --deploy` child process the chaos run can kill -9, pause and restart.
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'tally.js');

export class TallyProcess {
  proc?: ChildProcess;
  starts = 0;
  private exited?: Promise<void>;

  constructor(
    private readonly project: string,
    readonly port: number,
    private readonly logFile: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Spawns the process (returns at once; use waitHealthy). */
  start(): void {
    this.starts++;
    const proc = spawn(
      process.execPath,
      [BIN, 'serve', '--deploy', '--project', this.project, '--port', String(this.port)],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
    );
    const log = (c: Buffer) => appendFileSync(this.logFile, c);
    proc.stdout?.on('data', log);
    proc.stderr?.on('data', log);
    appendFileSync(
      this.logFile,
      `\n--- start #${this.starts} pid ${proc.pid} at ${new Date().toISOString()}\n`,
    );
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    this.proc = proc;
  }

  /** Resolves once /health answers 200; returns the milliseconds it took. */
  async waitHealthy(timeoutMs = 120_000): Promise<number> {
    const t0 = performance.now();
    while (performance.now() - t0 < timeoutMs) {
      const ok = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(1000) })
        .then((r) => r.status === 200)
        .catch(() => false);
      if (ok) return performance.now() - t0;
      await sleep(100);
    }
    throw new Error(`tally did not become healthy in ${timeoutMs} ms (log: ${this.logFile})`);
  }

  async kill9(): Promise<void> {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  /** Graceful stop (SIGTERM), then SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill('SIGCONT');
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc?.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Open file descriptors of the process that are sockets. */
  openSockets(): number {
    if (!this.proc?.pid) return -1;
    try {
      const dir = `/proc/${this.proc.pid}/fd`;
      let n = 0;
      for (const fd of readdirSync(dir)) {
        try {
          if (readlinkSafe(join(dir, fd)).startsWith('socket:')) n++;
        } catch {
          // closed meanwhile
        }
      }
      return n;
    } catch {
      return -1;
    }
  }
}

import { readlinkSync } from 'node:fs';

function readlinkSafe(p: string): string {
  return readlinkSync(p);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
