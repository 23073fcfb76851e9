/**
 * Puts things right after the ClickHouse server restarted under one of this process's INSERTs
 * (finding 9 of docs/reliability.md). A server writes an INSERT's table part and then its views'
 * parts, one by one; a crash in between leaves rows in the table that the seen keys, the
 * `source` marks and the materialized targets do not count, and the flush's retry would store
 * them again (or the other way round: a view part kept, the table part lost).
 *
 * So when a flush failed without an answer ("ambiguous") and the server turns out to have
 * started since that attempt began, the sink calls `afterAmbiguous` before it retries. Once per
 * server start, this:
 * 1. takes the deploy lock (a deploy renames the same tables), then this process's write gate;
 * 2. holds every table that takes events, with deploy's write hold (hold.ts): other processes'
 *    INSERTs are refused and retried meanwhile, the running ones are waited for;
 * 3. recomputes marks, seen keys and materialized targets from the stored rows
 *    (crash-recovery.ts), without its roll-back: another process's stored flush may not have
 *    its `batch` mark yet, and rolling it back would lose it;
 * 4. releases, and tells the sinks to forget their cached marks.
 * Then the retry looks up seen keys and marks that match the table: what the torn INSERT stored
 * is recognized, what it lost is stored.
 *
 *   const recovery = new RestartRecovery(project, engine, { instance, log });
 *   await recovery.afterAmbiguous(attemptStartedAtMs);
 */
import type { Engine } from '../clickhouse/engine.ts';
import { quarantineTableName } from '../clickhouse/quarantine-schema.ts';
import { writeGate } from '../clickhouse/write-gate.ts';
import type { DdlContext } from '../deploy/ddl.ts';
import { acquireDeployLock } from '../deploy/deploy-lock.ts';
import { adoptLeftoverHold, feedingClosure, holdTables } from '../deploy/hold.ts';
import { viewGraph } from '../deploy/introspect.ts';
import type { Project } from '../project/model.ts';
import { type RecoveryReport, recoverAfterCrash } from './crash-recovery.ts';

/** `uptime()` has whole seconds, and the probe itself takes time: starts this close count. */
const START_SLACK_MS = 2000;

export interface RestartRecoveryOptions {
  /** Names the lock claim. */
  instance: string;
  log?: (entry: Record<string, unknown>) => void;
  /** When the server last started (ms since the epoch, this process's clock). */
  serverStartedAt?: (engine: Engine) => Promise<number>;
  /** After a recovery: cached marks are stale. */
  onRecovered?: () => void;
}

export class RestartRecovery {
  /** When the earliest attempt that got no answer, and was not checked yet, began. */
  private owedSince: number | undefined;
  /** Counts `owe` calls: a check clears only what was owed when it began. */
  private owings = 0;
  private lastRecoveredStart: number | undefined;
  private running: Promise<void> | undefined;
  /** Recoveries run, and the last one's duration (for stats() and /metrics). */
  private count = 0;
  private last: { ms: number; at: string } | undefined;

  constructor(
    private readonly project: Project,
    private readonly engine: Engine,
    private readonly opts: RestartRecoveryOptions,
  ) {}

  /** For stats() and /metrics. */
  summary(): { count: number; last?: { ms: number; at: string } } {
    return { count: this.count, ...(this.last ? { last: this.last } : {}) };
  }

  /** An attempt that began at `since` (Date.now()) got no answer: the next `settle` checks. */
  owe(since: number): void {
    this.owedSince = Math.min(this.owedSince ?? since, since);
    this.owings++;
  }

  /** Runs the check owed, if any (every sink calls this before each attempt). */
  async settle(): Promise<void> {
    const since = this.owedSince;
    if (since === undefined) return;
    const owings = this.owings;
    await this.afterAmbiguous(since);
    // Owed again meanwhile: that failure may come from a later restart, checked next time.
    if (this.owings === owings) this.owedSince = undefined;
  }

  /**
   * An attempt that began at `since` (Date.now()) failed without an answer. Resolves once the
   * state is known to be whole: at once when the server did not restart since, otherwise after
   * the recovery (one at a time; a start already recovered is not recovered again). Throws
   * when the server cannot be asked yet: the caller retries later, the check still owed.
   */
  async afterAmbiguous(since: number): Promise<void> {
    for (;;) {
      if (this.running) {
        await this.running;
        continue;
      }
      const started = await (this.opts.serverStartedAt ?? serverStartedAt)(this.engine);
      if (started < since - START_SLACK_MS) return;
      if (
        this.lastRecoveredStart !== undefined &&
        Math.abs(started - this.lastRecoveredStart) < START_SLACK_MS
      )
        return;
      if (this.running) continue;
      this.running = this.recover(started).finally(() => {
        this.running = undefined;
      });
    }
  }

  private async recover(started: number): Promise<void> {
    const log = this.opts.log ?? (() => {});
    const engine = this.engine;
    if (engine.cluster) {
      // A hold and a recompute on every replica is not built: say so rather than half-do it.
      log({
        level: 'warn',
        msg: 'ClickHouse restarted under an INSERT; on a cluster Tally does not recompute marks and views after it (docs/reliability.md, finding 9): check the data sources for rows stored twice',
        startedAt: new Date(started).toISOString(),
      });
      this.lastRecoveredStart = started;
      return;
    }
    log({
      level: 'warn',
      msg: 'ClickHouse restarted under an INSERT that got no answer: holding the data sources and recomputing marks, seen keys and views from the stored events',
      startedAt: new Date(started).toISOString(),
    });
    const t0 = performance.now();
    const ctx: DdlContext = { database: engine.database, capabilities: engine.capabilities };
    const lock = await acquireDeployLock(
      engine,
      ctx,
      `restart-recovery ${this.opts.instance} ${Date.now()}`,
      {
        onWait: (holder) => log({ level: 'info', msg: 'restart recovery waits for a deploy', holder }),
      },
    );
    try {
      const reopen = await writeGate(engine).exclusive();
      try {
        const held = await this.tablesTakingEvents();
        // A hold this or another process left (its recompute or release failed) is taken over
        // as it is: the tables it holds may have emptied seen keys and targets.
        // A gate in each name even on Atomic databases: no view is attached during this hold,
        // and the recompute reads the held tables through their names.
        const hold =
          (await adoptLeftoverHold(engine, ctx, held)) ??
          (await holdTables(engine, ctx, held, { gate: true }));
        let report: RecoveryReport;
        try {
          report = await recoverAfterCrash(this.project, engine, { rollBack: false });
        } catch (err) {
          // Not released: with seen keys or targets half-refilled, a writer let in now would
          // store rows twice. The next check (any process's) takes the hold over and redoes it.
          log({
            level: 'error',
            msg: 'restart recovery failed; the data sources stay held until it succeeds',
            held,
            error: String((err as Error)?.message ?? err),
          });
          throw err;
        }
        // Before any writer of this process is let in again.
        this.opts.onRecovered?.();
        await hold.release();
        this.count++;
        this.last = { ms: Math.round(performance.now() - t0), at: new Date().toISOString() };
        log({
          level: 'info',
          msg: 'restart recovery done',
          held,
          heldMs: Math.round(performance.now() - hold.since),
          ...report,
          ms: Math.round(performance.now() - t0),
        });
      } finally {
        reopen();
      }
    } finally {
      await lock.release().catch(() => {});
    }
    this.lastRecoveredStart = started;
  }

  /**
   * The tables an ingester writes into (data sources that take events, their quarantine tables)
   * and every table that feeds them through a view, upstream first. A data source filled only by
   * views is written by nothing else once its sources are held.
   */
  private async tablesTakingEvents(): Promise<string[]> {
    const live = await viewGraph(this.engine);
    const targets = new Set<string>();
    for (const t of live.tables.values()) if (t.viewTarget) targets.add(t.viewTarget);
    const roots: string[] = [];
    const quarantines: string[] = [];
    for (const ds of this.project.datasources.values()) {
      if (!live.tables.has(ds.name)) continue;
      if (ds.kafka || !targets.has(ds.name)) roots.push(ds.name);
      const q = quarantineTableName(ds.name);
      if (live.tables.has(q)) quarantines.push(q);
    }
    return [...feedingClosure(live, roots), ...quarantines];
  }
}

/** When the server last started, by this process's clock (uptime is a duration: no clock skew). */
export async function serverStartedAt(engine: Engine): Promise<number> {
  const rows = await engine.rows<{ u: number | string }>('SELECT uptime() AS u');
  return Date.now() - Number(rows[0]?.u ?? 0) * 1000;
}
