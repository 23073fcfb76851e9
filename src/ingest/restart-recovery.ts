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
 * A server shutting down tears INSERTs without failing them (finding 13): it shuts its tables
 * down one by one while it still runs the INSERTs of the connections it keeps, and an INSERT
 * then writes its table and answers 200 without the views already shut down. So `watchStarts`
 * also asks the server's start time every few seconds, and a restart seen after this process
 * wrote is recovered from the same way.
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
import { steadyNow } from '../util/steady-now.ts';
import { type RecoveryReport, recoverAfterCrash } from './crash-recovery.ts';

/** `uptime()` has whole seconds, and the probe itself takes time: starts this close count. */
const START_SLACK_MS = 2000;

/** How often `watchStarts` asks the server when it started (ingestion's default). */
export const START_WATCH_MS = 5000;

export interface RestartRecoveryOptions {
  /** Names the lock claim. */
  instance: string;
  log?: (entry: Record<string, unknown>) => void;
  /** When the server last started, by `steadyNow()` (a wall-clock step must not read as a restart). */
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
  /** The server's start as `watchStarts` last saw it, when, and on which server (failover). */
  private seen: StartSeen | undefined;
  /** INSERT attempts of this process's sinks under way, and when the last one began or ended. */
  private inFlight = 0;
  private lastWriteAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private probing: Promise<void> | undefined;

  constructor(
    private readonly project: Project,
    private readonly engine: Engine,
    private readonly opts: RestartRecoveryOptions,
  ) {}

  /** For stats() and /metrics. */
  summary(): { count: number; last?: { ms: number; at: string } } {
    return { count: this.count, ...(this.last ? { last: this.last } : {}) };
  }

  /** A sink begins an INSERT attempt (a restart seen later may have torn it); call the result at its end. */
  writing(): () => void {
    this.inFlight++;
    this.lastWriteAt = steadyNow();
    return () => {
      this.inFlight--;
      this.lastWriteAt = steadyNow();
    };
  }

  /**
   * Asks the server's start time every `everyMs` (a server back end; on a cluster, the replica
   * this process writes to, and a restart there is only logged, see `recover`); resolves after
   * the first probe, the start later ones compare with, so it is called before anything is
   * written. Starts of two servers (a failover, a load balancer) are not compared. A start later
   * than the last one seen, while or just after this process wrote, is recovered from at once;
   * a recovery that fails stays owed, and is tried again by every later probe and before every
   * sink's next attempt (`settle`), whichever comes first.
   */
  async watchStarts(everyMs: number = START_WATCH_MS): Promise<void> {
    if (this.timer || this.engine.backend !== 'server') return;
    const probe = () => {
      this.probing ??= this.probeStart(everyMs).finally(() => {
        this.probing = undefined;
      });
      return this.probing;
    };
    this.timer = setInterval(probe, everyMs);
    this.timer.unref();
    await probe();
  }

  /** Stops `watchStarts`; resolves once a probe (or the recovery it started) is over. */
  async stopWatching(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.probing;
  }

  private async probeStart(everyMs: number): Promise<void> {
    // A recovery owed and not done yet (it failed, and no sink has written since): again.
    if (this.owedSince !== undefined && !(await this.settled())) return;
    const generation = this.engine.generation;
    const asked = steadyNow();
    let probed: { started: number; host: string };
    try {
      probed = this.opts.serverStartedAt
        ? { started: await this.opts.serverStartedAt(this.engine), host: '' }
        : await serverStart(this.engine);
    } catch {
      return; // Down or restarting: the next probe compares with the last start seen.
    }
    // A slow answer (a busy event loop) makes the start look later than it was: not a restart.
    if (steadyNow() - asked > START_SLACK_MS / 2) return;
    const prev = this.seen;
    this.seen = { ...probed, at: steadyNow(), generation };
    const writes = { inFlight: this.inFlight, lastAt: this.lastWriteAt };
    if (!prev || !restartToRecover(prev, this.seen, writes, everyMs)) return;
    this.owe(prev.at);
    await this.settled();
  }

  /** `settle`, its failure logged: whether the state is known to be whole. */
  private async settled(): Promise<boolean> {
    try {
      await this.settle();
      return true;
    } catch (err) {
      (this.opts.log ?? (() => {}))({
        level: 'warn',
        msg: 'ClickHouse restarted while this process wrote, and the recovery failed; it is tried again at the next probe or flush',
        error: String((err as Error)?.message ?? err),
      });
      return false;
    }
  }

  /** An attempt that began at `since` (steadyNow()) got no answer: the next `settle` checks. */
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
   * An attempt that began at `since` (steadyNow()) failed without an answer. Resolves once the
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
      // Starts only move forward, and a late answer reads one later than it was: a start no
      // later than the one recovered (with slack) is that one.
      if (this.lastRecoveredStart !== undefined && started <= this.lastRecoveredStart + START_SLACK_MS)
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
        msg: 'ClickHouse restarted under an INSERT of this process; on a cluster Tally does not recompute marks and views after it (docs/reliability.md, findings 9 and 13): check the data sources for rows stored twice, and run tally replay on the materialized pipes that read them',
        startedAt: new Date(started).toISOString(),
      });
      this.lastRecoveredStart = started;
      return;
    }
    log({
      level: 'warn',
      msg: 'ClickHouse restarted under an INSERT of this process (one that got no answer, or one written while the server shut its tables down): holding the data sources and recomputing marks, seen keys and views from the stored events',
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

/** A server start as a probe saw it: when it started, when the probe was, which server. */
export interface StartSeen {
  started: number;
  at: number;
  /** The server's host name and the engine's failover generation: two servers' starts are not compared. */
  host: string;
  generation: number | undefined;
}

/**
 * Whether the start a probe saw (`next`) after the one seen before (`prev`) is a restart this
 * process may have written under: the same server started again, and an INSERT was under way
 * or ended less than a probe interval before the probe that still saw the old start (the tear
 * comes moments before the restart, and that probe may come after it).
 */
export function restartToRecover(
  prev: StartSeen,
  next: StartSeen,
  writes: { inFlight: number; lastAt: number },
  everyMs: number,
): boolean {
  if (prev.generation !== next.generation || prev.host !== next.host) return false;
  if (next.started <= prev.started + START_SLACK_MS) return false;
  return writes.inFlight > 0 || writes.lastAt >= prev.at - everyMs;
}

/** `serverStartedAt` and the server's host name (which server answered, behind a balancer). */
async function serverStart(engine: Engine): Promise<{ started: number; host: string }> {
  const rows = await engine.rows<{ u: number | string; h: string }>('SELECT uptime() AS u, hostName() AS h');
  return { started: steadyNow() - Number(rows[0]?.u ?? 0) * 1000, host: String(rows[0]?.h ?? '') };
}

/**
 * When the server last started, by this process's `steadyNow()`: uptime is a duration, so the
 * two machines' clocks need not agree, and a step of this one's wall clock does not move it.
 */
export async function serverStartedAt(engine: Engine): Promise<number> {
  return (await serverStart(engine)).started;
}
