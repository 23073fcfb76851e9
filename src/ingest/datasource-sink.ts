/**
 * Writes flushes of parsed events into one data source, exactly once (see docs/ingestion.md):
 * 1. quarantine rows -> `<ds>_quarantine` (Kafka rows at or below the quarantine watermark are
 *    already there and skipped);
 * 2. good rows: Kafka rows at or below the source watermark skipped (data sources keyed by Kafka
 *    coordinates), duplicates dropped by dedup key (within the flush, then against
 *    `tally_seen_<ds>`), expression defaults resolved, then ONE insert into the table;
 * 3. the flush's Kafka offsets -> `tally_ingest_offsets`; a row per partition -> the ops log.
 * Each step runs once per flush; a failed step is retried with backoff (re-checking watermarks
 * and seen keys when the failure leaves its outcome unknown).
 */
import { quoteIdent } from '../clickhouse/create-engine.ts';
import type { Engine } from '../clickhouse/engine.ts';
import { engineMessage } from '../clickhouse/engine-error.ts';
import { quarantineTableName } from '../clickhouse/quarantine-schema.ts';
import { isShardedCluster, shardTableName } from '../clickhouse/replicated-engine.ts';
import { type NotedViewFailure, recordViewFailure } from '../clickhouse/view-failure-log.ts';
import { writeGate } from '../clickhouse/write-gate.ts';
import { healableViewOf } from '../deploy/names.ts';
import { TallyError } from '../errors.ts';
import type { DataSource } from '../project/model.ts';
import { quoteString } from '../sql/render-literal.ts';
import { jsonString } from '../util/exact-json.ts';
import { steadyNow } from '../util/steady-now.ts';
import { resolveExpressionDefaults } from './expression-defaults.ts';
import {
  LOG_TABLE,
  OFFSETS_TABLE,
  probeTableName,
  seenSelect,
  seenTableName,
  seenViewName,
  syncInsertClause,
} from './ingest-tables.ts';
import { backoffMs, classifyFailure, failedViewOf } from './insert-failure.ts';
import { waitCaughtUp } from './replica-caught-up.ts';
import type { QueuedRow, RowParser } from './row-parser.ts';
import { VIEW_FAILURE_ROW_MS, ViewFailureRecorder, type ViewFailureRow } from './view-failure-recorder.ts';

export interface IncomingEvent {
  /** The event exactly as received (a Kafka message's value is kept as its bytes). */
  raw: string | Buffer;
  row: QueuedRow;
  /** Kafka offset; -1 for HTTP. */
  offset: number;
}

/** A group of events added together: one Kafka fetch of one partition, or one HTTP request. */
export interface IncomingBatch {
  source: 'kafka' | 'http' | 'append';
  /** '' and -1 for HTTP. */
  topic: string;
  partition: number;
  /** HTTP request id or append run id; '' for Kafka. */
  requestId: string;
  events: IncomingEvent[];
  /** Kafka: the offsets this batch covers (events may skip some); -1 for HTTP. */
  firstOffset: number;
  lastOffset: number;
  /** Messages behind the partition's end after this batch; -1 when unknown. */
  lag: number;
  bytes: number;
  /** The lines of its InBatchLine rows (Kafka batches), see BatchLines. */
  lines?: BatchLines;
}

/**
 * The lines of a batch's InBatchLine rows as one text, joined by `\n` in event order: event i's
 * line is `text.slice(starts[i], ends[i])` (-1 for an event whose row holds no line there), so
 * lines of consecutive such events are one slice of it.
 */
export interface BatchLines {
  text: string;
  starts: Int32Array;
  ends: Int32Array;
}

/** BatchLines of `events`, whose InBatchLine rows pushed their lines onto `lines` in order. */
export function batchLines(events: readonly IncomingEvent[], lines: readonly string[]): BatchLines {
  const starts = new Int32Array(events.length).fill(-1);
  const ends = new Int32Array(events.length).fill(-1);
  let at = 0;
  let k = 0;
  for (let i = 0; i < events.length; i++) {
    const row = events[i]!.row;
    if (!row.ok || !('inBatch' in row)) continue;
    const line = lines[k++];
    if (line === undefined) break; // more such rows than lines: refused below
    starts[i] = at;
    at += line.length;
    ends[i] = at;
    at++; // the '\n'
  }
  if (k !== lines.length) {
    const rows = events.filter((e) => e.row.ok && 'inBatch' in e.row).length;
    throw new Error(`batchLines: ${lines.length} lines for ${rows} in-batch rows`);
  }
  return { text: lines.join('\n'), starts, ends };
}

export interface BatchOutcome {
  stored: number;
  quarantined: number;
  duplicates: number;
  /** Kafka messages already handled before (redelivered after a crash or rebalance). */
  skipped: number;
}

/** Offsets known to be handled, per partition (-1: none). */
export interface Watermarks {
  /** Everything up to here was flushed completely (bookkeeping row). */
  batch: number;
  /** Good rows up to here are stored (written by a view in the same INSERT). */
  source: number;
  /** Refused rows up to here are quarantined (same). */
  quarantine: number;
}

export type Identity = 'dedup_key' | 'coordinates' | 'none';

export interface SinkOptions {
  /** Names this process in the ops log. */
  instance: string;
  /** How events are recognized when delivered again. */
  identity: Identity;
  log?: (entry: Record<string, unknown>) => void;
  /** Retry delays: first, and cap. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Give up on a flush that holds HTTP batches after this many failed attempts (Kafka: never). */
  httpAttempts?: number;
  /**
   * The process's restart check (restart-recovery.ts): `owe` is told when an attempt begun at
   * `since` (Date.now()) got no answer; `settle` runs before every attempt of every sink and
   * resolves once what a server restart under such an INSERT can have torn is put right (it
   * throws to be called again). Owed per process, not per flush: a flush abandoned after the
   * failure (rebalance, stop, an HTTP error answer) does not take the check with it. `writing`
   * brackets each attempt: a restart seen later may have torn even an answered INSERT.
   */
  restarts?: { owe(since: number): void; settle(): Promise<void>; writing(): () => void };
}

/** A good row of a flush: its batch's index, the event's index in it, and the event (whose `row` is ok). */
interface Candidate {
  b: number;
  i: number;
  e: IncomingEvent;
}

type GoodRow = Extract<QueuedRow, { ok: true }>;

/** The row's cells, when it came as cells (a `default_expr` column was missing), not as a line. */
function cellsOf(r: Candidate): (string | undefined)[] | undefined {
  return (r.e.row as GoodRow).cells;
}

/** The row's dedup key (rows of a data source with a dedup key always have one). */
function keyOf(r: Candidate): string {
  return (r.e.row as GoodRow).key!;
}

export class FencedError extends Error {
  constructor() {
    super('ingestion of this flush was abandoned (rebalance or shutdown); it will be delivered again');
    this.name = 'FencedError';
  }
}

/** Totals since start, for stats() and /metrics. */
export interface SinkTotals {
  flushes: number;
  stored: number;
  quarantined: number;
  duplicates: number;
  skipped: number;
  bytes: number;
  failures: number;
  /** Milliseconds spent: looking up seen keys, inserting rows, writing bookkeeping and log. */
  ms: { lookup: number; insert: number; bookkeeping: number };
  lastError?: string;
  lastFlushAt?: number;
  /** Date.now() of the first failed attempt of the flush failing now; absent once one succeeds. */
  failingSince?: number;
  /**
   * Materialized views of the data source that failed on rows this process stored (the rows are
   * kept, the retry does not store them again): their targets lack those rows until a replay.
   * By view name, for the life of the process; each also recorded in tally_view_failures (its
   * `recordedAt` set once written), which is what /health reads.
   */
  viewFailures?: Record<string, NotedViewFailure>;
}

/** Totals of a sink that has written nothing yet. */
export function emptyTotals(): SinkTotals {
  return {
    ms: { lookup: 0, insert: 0, bookkeeping: 0 },
    flushes: 0,
    stored: 0,
    quarantined: 0,
    duplicates: 0,
    skipped: 0,
    bytes: 0,
    failures: 0,
  };
}

/** A row of a seen-key lookup: a key found (view 0), or the row saying the seen view exists (view 1). */
interface SeenRow {
  key: string;
  view: number | string;
}

export class DatasourceSink {
  readonly totals: SinkTotals = emptyTotals();
  private readonly db: string;
  private readonly table: string;
  private readonly quarantine: string;
  private readonly seen: string;
  /** The view that writes seen keys as this process computes them (seenViewName). */
  private readonly seenView: string | undefined;
  /** Adds the row `('', 1)` to a seen-key lookup when that view exists (see lookupSeen). */
  private readonly seenViewCheck: string;
  private readonly probe: string;
  private probeReady = false;
  private probeFlushes = 0;
  private marks = new Map<string, Promise<Map<number, Watermarks>>>();
  private queue: Promise<void> = Promise.resolve();
  /** The engine's failover generation the cached marks were read in. */
  private generation: number | undefined;
  /** ... and the one the current attempt's reads were made in (see `insert`). */
  private attemptGeneration: number | undefined;
  private logging: Promise<void> | undefined;
  /** Writes view failures to tally_view_failures (see noteViewFailure); close() flushes it. */
  private readonly failureRows: ViewFailureRecorder;
  /**
   * Ops log rows waiting to be written, with the Kafka batch ends they will mark: only those, not
   * the flush, whose rows would otherwise stay in memory as long as the log lags behind.
   */
  private readonly logQueue: Array<{ lines: string[]; ends: BatchEnd[]; failures?: number }> = [];
  private readonly log: (entry: Record<string, unknown>) => void;

  constructor(
    private readonly engine: Engine,
    readonly datasource: DataSource,
    readonly parser: RowParser,
    private readonly opts: SinkOptions,
  ) {
    this.db = quoteIdent(engine.database);
    this.table = `${this.db}.${quoteIdent(datasource.name)}`;
    this.quarantine = `${this.db}.${quoteIdent(quarantineTableName(datasource.name))}`;
    this.seen = `${this.db}.${quoteIdent(seenTableName(datasource.name))}`;
    this.seenView = seenViewName(engine, datasource);
    this.seenViewCheck = ` UNION ALL SELECT '' AS key, 1 AS view FROM system.tables WHERE database = ${quoteString(engine.database)} AND name = ${quoteString(this.seenView ?? '')}`;
    this.probe = `${this.db}.${quoteIdent(probeTableName(datasource.name, opts.instance))}`;
    this.log = opts.log ?? (() => {});
    this.generation = engine.generation;
    this.failureRows = new ViewFailureRecorder({
      everyMs: VIEW_FAILURE_ROW_MS,
      write: (row) => this.writeFailureRow(row),
      written: (row) => {
        // The entry stands for failures up to its lastAt: recorded once a row reaches that far.
        const entry = this.totals.viewFailures?.[row.view];
        if (entry && entry.lastAt <= row.at) entry.recordedAt = Date.now();
      },
      writeFailed: (view, failures, err) =>
        // Still listed by this process, and kept for its next row; others do not know of it yet.
        this.log({
          level: 'warn',
          msg: 'could not record a view failure in ClickHouse; tried again later',
          datasource: this.datasource.name,
          view,
          failures,
          error: engineMessage(err),
        }),
    });
  }

  /** This process recomputed these views' targets: their next failure is recorded at once. */
  viewsRecomputed(views: readonly string[]): void {
    this.failureRows.recomputed(views);
  }

  /** The record's last recompute of each view (any process), read every 10 s: see the recorder. */
  viewsRecomputedElsewhere(times: ReadonlyMap<string, number>): void {
    this.failureRows.recomputedElsewhere(times);
  }

  /** Forgets cached watermarks (after a rebalance another instance may have written). */
  invalidate(): void {
    this.marks.clear();
  }

  /** Watermarks of the partitions of `topic`, read from ClickHouse once and then kept current. */
  watermarks(topic: string): Promise<Map<number, Watermarks>> {
    let p = this.marks.get(topic);
    if (!p) {
      p = this.readWatermarks(topic);
      p.catch(() => this.marks.delete(topic));
      this.marks.set(topic, p);
    }
    return p;
  }

  /**
   * Writes a flush; one outcome per batch. The batchers' flush function. Flushes of one data
   * source (its Kafka and its HTTP batcher) run one at a time, so a key looked up as unseen is
   * not stored by another flush of this process before this one inserts it.
   */
  write(batches: readonly IncomingBatch[], signal?: AbortSignal): Promise<BatchOutcome[]> {
    const run = this.queue.then(() => this.writeNow(batches, signal));
    this.queue = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  /** `signal` aborted: stop retrying (after the attempt in progress) and fail with FencedError. */
  private async writeNow(
    batches: readonly IncomingBatch[],
    signal: AbortSignal | undefined,
  ): Promise<BatchOutcome[]> {
    const t0 = performance.now();
    const plan = new Flush(batches);
    const http = batches.some((b) => b.source !== 'kafka');
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw new FencedError();
      const began = Date.now();
      const beganSteady = steadyNow();
      try {
        await this.opts.restarts?.settle();
        await this.afterFailover();
        // Shared with other writers; a deploy attaching a view on the embedded engine waits.
        await writeGate(this.engine).shared(async () => {
          // Counted once past the gate: a sink waiting on a recovery's hold writes nothing.
          const written = this.opts.restarts?.writing();
          try {
            await this.attempt(plan, t0);
          } finally {
            written?.();
          }
        });
        break;
      } catch (err) {
        if (err instanceof FencedError) throw err;
        const kind = classifyFailure(err);
        this.totals.failures++;
        this.totals.lastError = engineMessage(err);
        this.totals.failingSince ??= began;
        this.log({
          level: 'warn',
          msg: 'ingest flush failed',
          datasource: this.datasource.name,
          kind,
          attempt,
          error: this.totals.lastError,
        });
        if (kind === 'ambiguous') this.opts.restarts?.owe(beganSteady);
        if (kind === 'view') {
          plan.viewFailed = true;
          this.noteViewFailure(err);
          this.log({
            level: 'error',
            msg: 'a materialized view failed on rows already stored',
            datasource: this.datasource.name,
            error: this.totals.lastError,
            hint: `the rows are kept once in ${this.datasource.name} (the retry does not store them again); the view named, and those pushed after it, did not count them: fix its pipe, deploy, then run tally replay on it`,
          });
        }
        if (kind === 'ambiguous' || kind === 'view' || plan.partial) {
          // Some rows may be in: re-read watermarks; seen keys are looked up again anyway.
          plan.uncertain = true;
          this.invalidate();
          // HTTP rows without a dedup key cannot be recognized: answer an error rather than guess.
          if (http && !this.parser.dedupKey) throw err;
        }
        if (http && attempt + 1 >= (this.opts.httpAttempts ?? 3)) throw err;
        await sleep(backoffMs(attempt, this.opts.retryInitialMs, this.opts.retryMaxMs), signal);
      }
    }
    plan.finish();
    this.totals.flushes++;
    this.totals.lastFlushAt = Date.now();
    this.totals.failingSince = undefined;
    for (const o of plan.outcomes) {
      this.totals.stored += o.stored;
      this.totals.quarantined += o.quarantined;
      this.totals.duplicates += o.duplicates;
      this.totals.skipped += o.skipped;
    }
    for (const b of batches) this.totals.bytes += b.bytes;
    return plan.outcomes;
  }

  /**
   * Remembers which view failed (see SinkTotals.viewFailures), here and, when a recompute of its
   * target heals it, in tally_view_failures (a recompute's shadow view under the view it stands
   * for; a rebuild's copy view and Tally's own views in this process alone, until it restarts).
   */
  private noteViewFailure(err: unknown): void {
    const named = failedViewOf(err);
    const healable = named === undefined ? undefined : healableViewOf(named);
    const view = healable ?? named ?? '(unnamed)';
    this.totals.viewFailures ??= {};
    const failures = this.totals.viewFailures;
    const known = failures[view];
    const error = engineMessage(err);
    const at = Date.now();
    const entry: NotedViewFailure = {
      failures: (known?.failures ?? 0) + 1,
      firstAt: known?.firstAt ?? at,
      lastAt: at,
      error,
    };
    failures[view] = entry;
    if (healable === undefined) return;
    this.failureRows.note(view, at, error);
  }

  /** Writes a view failure's row, tried a second time after a short wait. */
  private async writeFailureRow(row: ViewFailureRow): Promise<void> {
    const failure = { datasource: this.datasource.name, instance: this.opts.instance, ...row };
    try {
      await recordViewFailure(this.engine, failure);
    } catch {
      await sleep(500, undefined).catch(() => {});
      await recordViewFailure(this.engine, failure);
    }
  }

  // -------------------------------------------------------------------------------------------

  private async attempt(plan: Flush, t0: number): Promise<void> {
    // The generation the marks and this process's view of the replica are good for: a move
    // after `afterFailover` ran makes every write of this attempt refuse (see `insert`).
    this.attemptGeneration = this.generation;
    if (!plan.quarantineDone) {
      await this.writeQuarantine(plan);
      plan.quarantineDone = true;
    }
    if (!plan.sourceDone) {
      await this.writeSource(plan);
      plan.sourceDone = true;
    }
    if (!plan.offsetsDone) {
      // The ops log rows (which a view turns into the `batch` marks) are written in the
      // background, several flushes' rows per INSERT when ClickHouse is slower than the flushes.
      // The marks only save work on a restart (what is stored is recognized by the marks and
      // keys written with the rows), so no flush waits for them.
      plan.finish();
      plan.offsetsDone = true;
      this.logQueue.push({ lines: this.logLines(plan, performance.now() - t0), ends: batchEnds(plan) });
      if (!this.logging) this.logging = this.drainLog();
    }
  }

  /**
   * Writes the queued ops log rows, in order, until the queue is empty. A failed write is tried
   * again with the next rows (LOG_WRITE_TRIES in all): the `batch` marks come from these rows,
   * and a mark left behind makes a restart or a crash recovery take back more than it needs to.
   */
  private async drainLog(): Promise<void> {
    while (this.logQueue.length > 0) {
      const items = this.logQueue.splice(0);
      const b0 = performance.now();
      try {
        await this.engine.command(
          `INSERT INTO ${this.db}.${LOG_TABLE}${await this.sync()} FORMAT JSONEachRow\n${items.flatMap((i) => i.lines).join('\n')}`,
        );
        for (const i of items) this.noteBatchMarks(i.ends);
      } catch (err) {
        for (const i of items) i.failures = (i.failures ?? 0) + 1;
        const retried = items.filter((i) => i.failures! < LOG_WRITE_TRIES);
        this.log({
          level: 'warn',
          msg: 'ingest log write failed',
          datasource: this.datasource.name,
          error: engineMessage(err),
          retried: retried.length,
          dropped: items.length - retried.length,
        });
        if (retried.length > 0) {
          this.logQueue.unshift(...retried);
          await sleep(
            backoffMs(retried[0]!.failures! - 1, this.opts.retryInitialMs, this.opts.retryMaxMs),
            undefined,
          );
        }
      }
      this.totals.ms.bookkeeping += performance.now() - b0;
    }
    this.logging = undefined;
  }

  /**
   * After the engine moved to another replica (clickhouse.failover): cached marks came from the
   * previous one, and the seen keys here may lack its last inserts. So the marks are read again,
   * once this replica holds every insert acknowledged so far (which waits for the old replica
   * to come back if it alone has some: a flush stalls rather than store rows twice).
   */
  private async afterFailover(): Promise<void> {
    const generation = this.engine.generation;
    if (generation === this.generation) return;
    this.invalidate();
    if (this.engine.cluster) await waitCaughtUp(this.engine, this.replicatedTables());
    this.generation = generation;
  }

  /** Resolves when the flushes queued so far and their log writes are done. */
  async settled(): Promise<void> {
    await this.queue;
    while (this.logging) await this.logging;
  }

  private async writeQuarantine(plan: Flush): Promise<void> {
    const lines: string[] = [];
    const now = Math.floor(Date.now() / 1000);
    for (let b = 0; b < plan.batches.length; b++) {
      const batch = plan.batches[b]!;
      const marks = batch.source === 'kafka' ? await this.marksFor(batch) : undefined;
      let count = 0;
      let skipped = 0;
      for (const e of batch.events) {
        if (e.row.ok) continue;
        if (marks && e.offset <= marks.quarantine) {
          skipped++;
          continue;
        }
        lines.push(quarantineLine(now, e, batch));
        count++;
      }
      plan.outcomes[b]!.quarantined = count;
      plan.quarantineSkipped[b] = skipped;
    }
    if (lines.length > 0) {
      await this.insert(
        `INSERT INTO ${this.quarantine} (${QUARANTINE_INSERT})${await this.sync()} FORMAT JSONEachRow\n${lines.join('\n')}`,
      );
    }
    for (const batch of plan.batches) {
      if (batch.source !== 'kafka') continue;
      const marks = await this.marksFor(batch);
      for (const e of batch.events) if (!e.row.ok && e.offset > marks.quarantine) marks.quarantine = e.offset;
    }
  }

  private async writeSource(plan: Flush): Promise<void> {
    // Candidates in flush order (their line or cells and key are in `e.row`); outcomes recounted
    // on every attempt.
    const rows: Candidate[] = [];
    const coords = this.opts.identity === 'coordinates';
    for (let b = 0; b < plan.batches.length; b++) {
      const batch = plan.batches[b]!;
      const out = plan.outcomes[b]!;
      out.stored = 0;
      out.duplicates = 0;
      plan.sourceSkipped[b] = 0;
      // After an attempt without an answer the rows are looked up one by one instead (see
      // `notStoredYet`): a mark says "everything up to here", which a torn INSERT breaks.
      const marks =
        coords && batch.source === 'kafka' && !plan.uncertain ? await this.marksFor(batch) : undefined;
      const events = batch.events;
      for (let i = 0; i < events.length; i++) {
        const e = events[i]!;
        if (!e.row.ok) continue;
        if (marks && e.offset <= marks.source) {
          plan.sourceSkipped[b]!++;
          continue;
        }
        // Cells are filled in place (expression defaults); a retry finds them filled.
        rows.push({ b, i, e });
      }
    }
    let keep = rows;
    if (coords && plan.uncertain) {
      keep = await this.notStoredYet(plan, rows);
      const kept = new Set(keep);
      for (const r of rows) if (!kept.has(r)) plan.sourceSkipped[r.b]!++;
    }
    if (this.parser.dedupKey) {
      const first = new Map<string, number>();
      keep = [];
      for (const r of rows) {
        const key = keyOf(r);
        if (first.has(key)) plan.outcomes[r.b]!.duplicates++;
        else {
          first.set(key, keep.length);
          keep.push(r);
        }
      }
      const l0 = performance.now();
      const seen = await this.lookupSeen([...first.keys()]);
      this.totals.ms.lookup += performance.now() - l0;
      // The last certain answer, kept by reference (no copy on the common path).
      if (!plan.uncertain) plan.seenBefore = seen;
      if (seen.size > 0) {
        const fresh: typeof keep = [];
        for (const r of keep) {
          const key = keyOf(r);
          if (!seen.has(key)) fresh.push(r);
          else if (plan.uncertain && plan.seenBefore && !plan.seenBefore.has(key))
            plan.outcomes[r.b]!.stored++;
          else plan.outcomes[r.b]!.duplicates++;
        }
        keep = fresh;
      }
      if (plan.viewFailed && keep.length > 0) keep = await this.storedBeforeTheView(plan, keep);
    }
    if (keep.length > 0) {
      // Rows come as complete lines, or as cells when a default_expr column is missing.
      const cellRows: (string | undefined)[][] = [];
      for (const r of keep) {
        const cells = cellsOf(r);
        if (cells) cellRows.push(cells);
      }
      const omit =
        cellRows.length === 0
          ? new Set<number>()
          : await resolveExpressionDefaults(
              this.engine,
              this.parser.columns,
              cellRows,
              cellRows.length === keep.length,
            );
      const cols = this.parser.columns.map((c, i) => ({ c, i })).filter(({ i }) => !omit.has(i));
      const head = `INSERT INTO ${this.table} (${cols.map(({ c }) => quoteIdent(c.name)).join(', ')})${await this.sync()} FORMAT JSONEachRow\n`;
      // The body is built in one join (no intermediate strings per row: they cost more in GC
      // than the building itself).
      const prefixes = cols.map(({ c }, k) => (k === 0 ? '{' : ',') + c.prefix);
      const indexes = cols.map(({ i }) => i);
      const batches = plan.batches;
      const body = (from: number, to: number): string => {
        const parts: string[] = [head];
        for (let r = from; r < to; r++) {
          if (r > from) parts.push('\n');
          const row = keep[r]!;
          const good = row.e.row as GoodRow;
          if (good.line !== undefined) {
            parts.push(good.line);
            continue;
          }
          if (good.cells !== undefined) {
            const cells = good.cells;
            for (let k = 0; k < prefixes.length; k++) parts.push(prefixes[k]!, cells[indexes[k]!]!);
            parts.push('}');
            continue;
          }
          // A line in its batch's text: with the kept rows after it whose lines follow it there
          // (the whole batch, when nothing was skipped), one slice.
          const lines = batches[row.b]!.lines!;
          const start = lines.starts[row.i]!;
          let end = lines.ends[row.i]!;
          while (r + 1 < to) {
            const next = keep[r + 1]!;
            if (next.b !== row.b || lines.starts[next.i] !== end + 1) break;
            end = lines.ends[next.i]!;
            r++;
          }
          parts.push(lines.text.slice(start, end));
        }
        return parts.join('');
      };
      const i0 = performance.now();
      const refused = await this.insertRows(plan, body, keep);
      this.totals.ms.insert += performance.now() - i0;
      if (refused.size > 0) keep = keep.filter((_, i) => !refused.has(i));
    }
    for (const r of keep) plan.outcomes[r.b]!.stored++;
    for (const batch of plan.batches) {
      if (batch.source !== 'kafka' || !coords) continue;
      const marks = await this.marksFor(batch);
      for (const e of batch.events) if (e.row.ok && e.offset > marks.source) marks.source = e.offset;
    }
  }

  /**
   * After a view failed on an attempt's rows: those of `rows` whose key is in the data source
   * table were stored by it (a key not seen before the attempt; keys earlier in the flush were
   * dropped already), whatever the seen table says; they count as stored, their seen keys are
   * written now (the seen view may have been after the failing one), and the rest is returned.
   */
  private async storedBeforeTheView<R extends Candidate>(plan: Flush, rows: R[]): Promise<R[]> {
    const stored = seenSelect(this.engine, this.datasource);
    if (!stored) return rows;
    // The keys of the table's rows, looked up as seen keys are (a flush's keys can be far more
    // than a query's text may hold), and written as seen keys are (as data).
    const found = new Set((await this.lookupKeys(rows.map(keyOf), `(${stored})`)).map((r) => r.key));
    if (found.size === 0) return rows;
    const now = Math.floor(Date.now() / 1000);
    await this.engine.command(
      `INSERT INTO ${this.seen} (key, seen_at)${await this.sync()} FORMAT JSONEachRow\n${[...found].map((k) => `{"key":${jsonString(k)},"seen_at":${now}}`).join('\n')}`,
    );
    const rest: R[] = [];
    for (const r of rows) {
      if (found.has(keyOf(r))) plan.outcomes[r.b]!.stored++;
      else rest.push(r);
    }
    return rest;
  }

  /**
   * The rows of `rows` whose Kafka coordinates are not in the table, read row by row: after an
   * attempt got no answer, its INSERT may be in the table in part (one part per partition of
   * the table's partition key, and a server crash between them), so the `source` marks, which
   * only say "everything up to here", cannot tell what is there.
   */
  private async notStoredYet<R extends { b: number; e: IncomingEvent }>(
    plan: Flush,
    rows: R[],
  ): Promise<R[]> {
    const partitionOf = (r: R) => {
      const batch = plan.batches[r.b]!;
      return batch.source === 'kafka' ? batch.partition : undefined;
    };
    const ranges = new Map<number, { first: number; last: number }>();
    for (const r of rows) {
      const p = partitionOf(r);
      if (p === undefined) continue;
      const g = ranges.get(p);
      if (!g) ranges.set(p, { first: r.e.offset, last: r.e.offset });
      else {
        g.first = Math.min(g.first, r.e.offset);
        g.last = Math.max(g.last, r.e.offset);
      }
    }
    if (ranges.size === 0) return rows;
    const where = [...ranges]
      .map(([p, g]) => `(__partition = ${p} AND __offset BETWEEN ${g.first} AND ${g.last})`)
      .join(' OR ');
    const stored = new Set(
      (
        await this.engine.rows<{ k: string }>(
          `SELECT concat(toString(__partition), ':', toString(__offset)) AS k FROM ${this.table} WHERE ${where}`,
        )
      ).map((r) => r.k),
    );
    return rows.filter((r) => {
      const p = partitionOf(r);
      return p === undefined || !stored.has(`${p}:${r.e.offset}`);
    });
  }

  /**
   * Inserts the rows; when ClickHouse refuses a value (a gap in the coercion rules), finds the
   * rows it refuses by halving, in order, and quarantines each before any later row is inserted.
   * Returns the indexes of the refused rows.
   */
  private async insertRows(
    plan: Flush,
    body: (from: number, to: number) => string,
    rows: Array<{ b: number; e: IncomingEvent }>,
  ): Promise<Set<number>> {
    const refused = new Set<number>();
    const go = async (from: number, to: number): Promise<void> => {
      try {
        await this.insert(body(from, to));
        if (to - from < rows.length) plan.partial = true;
      } catch (err) {
        if (classifyFailure(err) !== 'data') throw err;
        if (to - from === 1) {
          const r = rows[from]!;
          const batch = plan.batches[r.b]!;
          const e: IncomingEvent = {
            ...r.e,
            row: { ok: false, problems: [{ message: `ClickHouse refused the row: ${engineMessage(err)}` }] },
          };
          await this.insert(
            `INSERT INTO ${this.quarantine} (${QUARANTINE_INSERT})${await this.sync()} FORMAT JSONEachRow\n${quarantineLine(Math.floor(Date.now() / 1000), e, batch)}`,
          );
          plan.partial = true;
          plan.outcomes[r.b]!.quarantined++;
          refused.add(from);
          return;
        }
        const mid = (from + to) >> 1;
        await go(from, mid);
        await go(mid, to);
      }
    };
    await go(0, rows.length);
    return refused;
  }

  /** The `batch` marks the log rows just wrote, kept in memory. */
  private noteBatchMarks(ends: readonly BatchEnd[]): void {
    for (const b of ends) {
      void this.marks.get(b.topic)?.then((all) => {
        const m = all.get(b.partition);
        if (m && b.lastOffset > m.batch) {
          m.batch = b.lastOffset;
          coverBatch(m);
        }
      });
    }
  }

  /** One ops log row per partition (Kafka) or per flush (HTTP); for Kafka also the `batch` marks. */
  private logLines(plan: Flush, ms: number): string[] {
    const groups = new Map<
      string,
      { b: IncomingBatch; first: number; last: number; o: BatchOutcome; bytes: number; lag: number }
    >();
    plan.batches.forEach((b, i) => {
      const k = b.source === 'kafka' ? `${b.topic}\u0000${b.partition}` : b.source;
      const o = plan.outcomes[i]!;
      const g = groups.get(k);
      if (!g) {
        groups.set(k, {
          b,
          first: b.firstOffset,
          last: b.lastOffset,
          o: { ...o },
          bytes: b.bytes,
          lag: b.lag,
        });
        return;
      }
      g.first = Math.min(g.first, b.firstOffset);
      g.last = Math.max(g.last, b.lastOffset);
      g.o.stored += o.stored;
      g.o.quarantined += o.quarantined;
      g.o.duplicates += o.duplicates;
      g.o.skipped += o.skipped;
      g.bytes += b.bytes;
      g.lag = b.lag;
    });
    const now = Math.floor(Date.now() / 1000);
    const lines = [...groups.values()].map((g) =>
      JSON.stringify({
        time: now,
        datasource: this.datasource.name,
        source: g.b.source,
        topic: g.b.topic,
        partition: g.b.partition,
        first_offset: g.first,
        last_offset: g.last,
        rows: g.o.stored,
        quarantined: g.o.quarantined,
        duplicates: g.o.duplicates,
        skipped: g.o.skipped,
        bytes: g.bytes,
        duration_ms: Math.round(ms),
        lag: g.lag,
        instance: this.opts.instance,
      }),
    );
    return lines;
  }

  /**
   * The keys among `keys` already stored (within the dedup window). On a server the keys travel
   * with the query as external data (`_keys`, JSONEachRow: a literal `IN (...)` list of 50k keys
   * takes 18.16 a second to parse); elsewhere (chDB, a sharded cluster, whose GLOBAL IN needs a
   * table) they go into this process's Memory probe table first, one more statement per flush
   * (bench/ingest.ts, alternating runs: 86k - 94k rows/s that way, 92k - 103k with external
   * data). Either way `key IN` reads only the granules of the seen table that can hold them.
   */
  private async lookupSeen(keys: string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const rows = await this.lookupKeys(keys, this.seen, this.seenViewCheck);
    // The view that writes the keys as this process computes them is gone: the dedup key
    // changed (or the data source was dropped) under it, and its lookups would miss every key
    // written since. Nothing is stored until it runs the project as deployed.
    if (!rows.some((r) => Number(r.view) === 1)) {
      throw new TallyError(
        'dedup-key-changed',
        `data source ${this.datasource.name}: its seen keys are no longer written as this process computes them (view ${this.seenView} is gone: its dedup_key changed or the data source was dropped by another deploy); this process stores nothing to it until restarted with the deployed project`,
      );
    }
    const out = new Set<string>();
    for (const r of rows) if (Number(r.view) === 0) out.add(r.key);
    return out;
  }

  /**
   * The keys of `keys` that `from` (a table, or a subquery with a `key` column) holds, as rows
   * `(key, 0)`, and the rows `union` adds. The keys travel with the query as an external table,
   * or where none can (chDB, sharded clusters) through the probe table.
   */
  private lookupKeys(keys: string[], from: string, union = ''): Promise<SeenRow[]> {
    return this.engine.rowsWith && !isShardedCluster(this.engine)
      ? this.engine.rowsWith<SeenRow>(`SELECT key, 0 AS view FROM ${from} WHERE key IN _keys${union}`, {
          name: '_keys',
          structure: 'key String',
          jsonLines: keys.map((k) => `{"key":${jsonString(k)}}`).join('\n'),
        })
      : this.lookupThroughProbe(keys, from, union);
  }

  /** `lookupKeys` where no table can travel with the query: the keys go into the probe table. */
  private async lookupThroughProbe(keys: string[], from: string, union: string): Promise<SeenRow[]> {
    const flush = ++this.probeFlushes;
    const body = keys.map((k) => `{"flush":${flush},"key":${jsonString(k)}}`).join('\n');
    for (let tries = 0; ; tries++) {
      try {
        if (!this.probeReady) {
          await this.engine.command(
            `CREATE TABLE IF NOT EXISTS ${this.probe} (flush UInt32, key String) ENGINE = Memory`,
          );
          this.probeReady = true;
        }
        // Emptied now and then (flushes of a data source run one at a time in this process).
        if (flush % 16 === 0) await this.engine.command(`TRUNCATE TABLE ${this.probe}`);
        await this.engine.command(
          `INSERT INTO ${this.probe} (flush, key)${await this.sync()} FORMAT JSONEachRow\n${body}`,
        );
        break;
      } catch (err) {
        // Dropped as stale by another process's start: create it again, once.
        if (tries > 0 || !/doesn't exist|does not exist|UNKNOWN_TABLE/i.test(String((err as Error).message)))
          throw err;
        this.probeReady = false;
      }
    }
    return this.engine.rows<SeenRow>(
      // Sharded: the seen table is Distributed, and the probe table is this node's, so its keys
      // are sent along to every shard (GLOBAL IN).
      `SELECT key, 0 AS view FROM ${from} WHERE key ${isShardedCluster(this.engine) ? 'GLOBAL IN' : 'IN'} (SELECT key FROM ${this.probe} WHERE flush = ${flush})${union}`,
    );
  }

  /**
   * An INSERT of rows whose fate this attempt decided from reads (marks, seen keys). If the
   * engine moved to another replica since the attempt began, those reads may have been answered
   * by either: the attempt is retried instead (see `afterFailover`).
   */
  private async insert(sql: string): Promise<void> {
    if (this.engine.generation !== this.attemptGeneration) {
      throw new TallyError(
        'clickhouse-moved',
        'ClickHouse moved to another replica during this flush: it is retried there',
      );
    }
    await this.engine.command(sql);
  }

  private sync(): Promise<string> {
    return syncInsertClause(this.engine);
  }

  /** Drops this process's probe table (on stop), after the writes in progress. */
  async close(): Promise<void> {
    await this.settled();
    // A view failure's record is what tells every instance, after this one stops, of the rows
    // its target lacks: what the interval kept is written now.
    await this.failureRows.close();
    if (this.probeReady) await this.engine.command(`DROP TABLE IF EXISTS ${this.probe}`).catch(() => {});
    this.probeReady = false;
  }

  /** The tables whose contents decide what is already stored (bare names). */
  private replicatedTables(): string[] {
    // Sharded: the rows and seen keys are in the shards' tables (this node's shard).
    const store = (t: string) => (isShardedCluster(this.engine) ? shardTableName(t) : t);
    return [
      OFFSETS_TABLE,
      store(this.datasource.name),
      quarantineTableName(this.datasource.name),
      ...(this.parser.dedupKey ? [store(seenTableName(this.datasource.name))] : []),
    ];
  }

  private async marksFor(p: { topic: string; partition: number }): Promise<Watermarks> {
    const all = await this.watermarks(p.topic);
    let m = all.get(p.partition);
    if (!m) {
      m = { batch: -1, source: -1, quarantine: -1 };
      all.set(p.partition, m);
    }
    return m;
  }

  private async readWatermarks(topic: string): Promise<Map<number, Watermarks>> {
    // On a cluster, what another instance stored through another replica must be here first.
    if (this.engine.cluster) await waitCaughtUp(this.engine, this.replicatedTables());
    const rows = await this.engine.rows<{
      partition: number | string;
      kind: string;
      offset: number | string;
    }>(
      `SELECT \`partition\`, kind, max(\`offset\`) AS \`offset\` FROM ${this.db}.${OFFSETS_TABLE} WHERE datasource = ${quoteString(this.datasource.name)} AND topic = ${quoteString(topic)} GROUP BY \`partition\`, kind`,
    );
    const out = new Map<number, Watermarks>();
    for (const r of rows) {
      const p = Number(r.partition);
      const m = out.get(p) ?? { batch: -1, source: -1, quarantine: -1 };
      const o = Number(r.offset);
      if (r.kind === 'batch') m.batch = o;
      else if (r.kind === 'source') m.source = o;
      else if (r.kind === 'quarantine') m.quarantine = o;
      out.set(p, m);
    }
    for (const m of out.values()) coverBatch(m);
    return out;
  }
}

/** A flush completed up to `batch` covers every kind of mark up to there. */
function coverBatch(m: Watermarks): void {
  m.source = Math.max(m.source, m.batch);
  m.quarantine = Math.max(m.quarantine, m.batch);
}

/** Waits `ms`, or less when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The state of one flush across attempts. */
/** Where a flushed Kafka batch ended: what its ops log row marks as done. */
interface BatchEnd {
  topic: string;
  partition: number;
  lastOffset: number;
}

function batchEnds(plan: Flush): BatchEnd[] {
  return plan.batches.flatMap((b) =>
    b.source === 'kafka' ? [{ topic: b.topic, partition: b.partition, lastOffset: b.lastOffset }] : [],
  );
}

/**
 * Tries of one ops log row before it is given up (logged): the next flush's row moves the marks
 * on anyway, and a log that fails on and on must not hold a stopping sink.
 */
const LOG_WRITE_TRIES = 3;

class Flush {
  readonly outcomes: BatchOutcome[];
  readonly quarantineSkipped: number[];
  readonly sourceSkipped: number[];
  quarantineDone = false;
  sourceDone = false;
  offsetsDone = false;
  /** An attempt failed without an answer: what it wrote is unknown. */
  uncertain = false;
  /** Part of the rows went in by separate inserts (a refused row was being searched for). */
  partial = false;
  /**
   * The keys the last certain lookup found seen. A key seen after an attempt without an answer
   * that was not seen before it was stored by that attempt (flushes of a data source are serial
   * in this process), so it counts as stored, not as a duplicate of itself.
   */
  seenBefore: ReadonlySet<string> | undefined;
  /**
   * An attempt stored its rows and then a view failed on them: the seen-key view may not have
   * fired, so keys are also looked up in the data source table itself.
   */
  viewFailed = false;

  constructor(readonly batches: readonly IncomingBatch[]) {
    this.outcomes = batches.map(() => ({ stored: 0, quarantined: 0, duplicates: 0, skipped: 0 }));
    this.quarantineSkipped = batches.map(() => 0);
    this.sourceSkipped = batches.map(() => 0);
  }

  finish(): void {
    this.outcomes.forEach((o, b) => {
      o.skipped = this.quarantineSkipped[b]! + this.sourceSkipped[b]!;
    });
  }
}

const QUARANTINE_INSERT =
  'received_at, raw, reason, columns, source, topic, `partition`, `offset`, request_id';

function quarantineLine(now: number, e: IncomingEvent, b: IncomingBatch): string {
  const problems = e.row.ok ? [] : e.row.problems;
  const reason = problems.map((p) => `${p.column ?? 'event'}: ${p.message}`).join('\n');
  const columns = [...new Set(problems.flatMap((p) => (p.column ? [p.column] : [])))];
  const raw = typeof e.raw === 'string' ? e.raw : e.raw.toString('utf8');
  return `{"received_at":${now},"raw":${JSON.stringify(raw)},"reason":${JSON.stringify(reason)},"columns":${JSON.stringify(columns)},"source":"${b.source}","topic":${JSON.stringify(b.topic)},"partition":${b.partition},"offset":${e.offset},"request_id":${JSON.stringify(b.requestId)}}`;
}
