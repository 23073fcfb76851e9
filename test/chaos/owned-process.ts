// A server process the chaos run started itself and may therefore stop, kill -9 or pause. The
// pid is checked against the command line (its config path) before every signal, as `tally
// services down` does, so a recycled pid is never signalled.
import { isOurProcess, type PidRecord, readPidFile, writePidFile } from '../../src/services/pid-file.ts';
import { type DetachedProcess, spawnDetached } from '../../src/services/spawn-detached.ts';
import { stopProcess } from '../../src/services/stop-process.ts';
import { waitUntil } from '../../src/services/wait-until.ts';

export class OwnedProcess {
  private rec?: PidRecord;
  private proc?: DetachedProcess;

  constructor(
    private readonly cmd: string,
    private readonly args: string[],
    /** A string of the command line that names this instance (its config file). */
    private readonly marker: string,
    private readonly logFile: string,
    private readonly cwd: string,
    /** Recorded so that a later run can stop what a crashed run left behind. */
    private readonly pidFile: string,
  ) {}

  /** Stops the process an earlier run recorded in `pidFile`, if it still runs. */
  static async stopLeftover(pidFile: string): Promise<boolean> {
    const rec = readPidFile(pidFile);
    if (!rec || !isOurProcess(rec)) return false;
    process.kill(rec.pid, 'SIGCONT');
    return stopProcess(rec, 10_000);
  }

  get pid(): number | undefined {
    return this.rec?.pid;
  }

  /** Why the process ended, while we watched it; undefined while it runs. */
  exitReason(): string | undefined {
    return this.proc?.exitReason();
  }

  spawn(): void {
    this.proc = spawnDetached(this.cmd, this.args, { logFile: this.logFile, cwd: this.cwd });
    if (this.proc.pid <= 0) throw new Error(`could not start ${this.cmd}: ${this.proc.exitReason()}`);
    this.rec = {
      pid: this.proc.pid,
      marker: this.marker,
      command: this.cmd,
      startedAt: new Date().toISOString(),
    };
    writePidFile(this.pidFile, this.rec);
  }

  running(): boolean {
    return this.rec !== undefined && isOurProcess(this.rec);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs: number): Promise<void> {
    if (!this.rec) return;
    this.signal('SIGCONT'); // a paused process cannot act on SIGTERM
    await stopProcess(this.rec, graceMs);
  }

  /** SIGKILL; resolves once the process is gone. */
  async kill9(): Promise<void> {
    const rec = this.rec;
    if (!rec) return;
    this.signal('SIGKILL');
    await waitUntil(async () => !isOurProcess(rec), { timeoutMs: 10_000, intervalMs: 50 });
  }

  pause(): void {
    this.signal('SIGSTOP');
  }

  resume(): void {
    this.signal('SIGCONT');
  }

  private signal(sig: NodeJS.Signals): void {
    if (!this.rec || !isOurProcess(this.rec)) return;
    try {
      process.kill(this.rec.pid, sig);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
}
