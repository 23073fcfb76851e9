/**
 * Runs the copy pipes of a project at their schedule's ticks, one timer per pipe. A failed run is
 * logged and the pipe runs again at its next tick; a tick that comes while the pipe's previous
 * run is still going is skipped (logged), never stacked. Several instances may run the same
 * tick: the target's engine (ReplacingMergeTree on the entity and snapshot_at) makes that safe.
 */
import type { Engine } from '../clickhouse/engine.ts';
import { formatLocation, TallyError } from '../errors.ts';
import type { Project } from '../project/model.ts';
import { nextTick } from '../schedule/cron-ticks.ts';
import { formatEpoch } from '../sql/coerce-value.ts';
import { type CopyRun, runCopy } from './run-copy.ts';

export interface CopySchedulerOptions {
  engine: Engine;
  /** Entries `{ level, msg, pipe, ... }`, as the server logs. */
  log: (entry: Record<string, unknown>) => void;
  /** The clock ticks are computed from, in ms since the epoch; default Date.now (tests shift it). */
  now?: () => number;
}

/** setTimeout holds at most 2^31-1 ms (24.8 days); a longer wait is taken in steps. */
const MAX_DELAY = 2_147_483_647;

export class CopyScheduler {
  private project: Project | undefined;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Map<string, Promise<CopyRun | undefined>>();
  /** Each armed pipe's next tick, ms since the epoch. */
  private readonly next = new Map<string, number>();
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly opts: CopySchedulerOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Arms a timer for every copy pipe of `project`, replacing the timers of the previous one. */
  schedule(project: Project): void {
    this.clearTimers();
    this.project = project;
    if (this.stopped) return;
    for (const pipe of project.pipes.values()) if (pipe.copy) this.arm(pipe.name);
  }

  /** The copy pipes with a timer, each with its next tick. */
  pending(): Array<{ pipe: string; next: string }> {
    return [...this.next.entries()].map(([pipe, next]) => ({ pipe, next: formatEpoch(next / 1000) }));
  }

  /**
   * Runs pipe `name` for tick `tick` now, unless its previous run is still going (then logs and
   * returns undefined). Failures are logged, not thrown: the next tick retries.
   */
  fire(name: string, tick: Date): Promise<CopyRun | undefined> {
    const snapshotAt = formatEpoch(Math.floor(tick.getTime() / 1000));
    if (this.running.has(name)) {
      this.opts.log({
        level: 'warn',
        msg: 'snapshot skipped: the previous run of this copy pipe is still going',
        pipe: name,
        snapshot_at: snapshotAt,
      });
      return Promise.resolve(undefined);
    }
    const project = this.project;
    if (!project) return Promise.resolve(undefined);
    const run = runCopy(project, this.opts.engine, name, tick).then(
      (r) => {
        this.opts.log({
          level: 'info',
          msg: 'snapshot written',
          pipe: r.pipe,
          to: r.to,
          snapshot_at: r.snapshotAt,
          settled_before: r.settledBefore,
          ...(r.rows !== undefined ? { rows: r.rows } : {}),
          ms: Math.round(r.ms),
        });
        return r;
      },
      (err: unknown) => {
        const e = err as Error;
        this.opts.log({
          level: 'error',
          msg: 'snapshot failed; retrying at the next tick',
          pipe: name,
          snapshot_at: snapshotAt,
          error: e?.message ?? String(err),
          ...(err instanceof TallyError && err.location ? { location: formatLocation(err.location) } : {}),
          ...(err instanceof TallyError && err.hint ? { hint: err.hint } : {}),
        });
        return undefined;
      },
    );
    const tracked = run.finally(() => this.running.delete(name));
    this.running.set(name, tracked);
    return tracked;
  }

  /**
   * Stops the timers and waits for runs in flight to finish. Not aborted: an INSERT ... SELECT
   * cut short keeps the blocks it wrote, a partial tick that as-of reads would take as whole.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clearTimers();
    await Promise.all(this.running.values());
  }

  private arm(name: string): void {
    const pipe = this.project?.pipes.get(name);
    if (!pipe?.copy || this.stopped) return;
    const tick = nextTick(pipe.copy.schedule, new Date(this.now()));
    if (!tick) {
      this.opts.log({
        level: 'warn',
        msg: 'copy pipe never runs: its schedule names no instant',
        pipe: name,
        schedule: pipe.copy.schedule.text,
      });
      return;
    }
    this.next.set(name, tick.getTime());
    const wait = (): void => {
      const left = tick.getTime() - this.now();
      const timer = setTimeout(
        () => {
          if (tick.getTime() > this.now()) return wait();
          this.timers.delete(name);
          void this.fire(name, tick);
          this.arm(name);
        },
        Math.min(Math.max(left, 0), MAX_DELAY),
      );
      // The server keeps the process alive, not a snapshot timer.
      timer.unref();
      this.timers.set(name, timer);
    };
    wait();
  }

  private clearTimers(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.next.clear();
  }
}
