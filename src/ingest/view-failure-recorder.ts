/**
 * Writes one data source's view failures to tally_view_failures, at most one row per view per
 * interval. A view that fails on every flush (several times a second under load) would otherwise
 * add a row per flush for as long as it fails, and every instance reads the table every 10 s.
 *
 * A failure of a view with no row written in the last interval is written at once (other
 * instances learn of a new failure without waiting); the ones after it are kept here and written
 * as one row when the interval ends, or at `close()`: their count, and the last one's time and
 * message. The row is stamped with the last failure's own time, not the time it is written, so
 * the heal rule stays exact: a failure met after a recompute began is stamped after it, however
 * late its row lands. A row that cannot be written is kept and tried again the next interval.
 * After a recompute the next failure is written at once again: at once when this process ran
 * it, from the next read of the record (ingest/view-failure-watch.ts) when another one did.
 */

export interface ViewFailureRow {
  view: string;
  /** Failed writes the row stands for. */
  failures: number;
  /** Epoch ms of the last of them, and its message. */
  at: number;
  error: string;
}

export interface ViewFailureRecorderOptions {
  /** The shortest time between two rows of one view (0: a row per failure, one write at a time). */
  everyMs: number;
  write(row: ViewFailureRow): Promise<void>;
  /** A row is in: every failure of its view up to `row.at` is recorded. */
  written?(row: ViewFailureRow): void;
  /** A row could not be written: its failures are kept for the next one. */
  writeFailed(view: string, failures: number, err: unknown): void;
  now?: () => number;
}

/** Failures kept for a view's next row: a count and the last one, nothing per failure. */
interface Pending {
  failures: number;
  at: number;
  error: string;
}

interface ViewState {
  pending?: Pending;
  /** When the last write began (0: none yet, or a recompute since: the next failure is news). */
  lastWriteAt: number;
  /** A recompute's time: rows of failures up to it leave `lastWriteAt` at 0. */
  newsAfter?: number;
  writing?: Promise<void>;
  timer?: NodeJS.Timeout;
  /** After a failed write: not before this (epoch ms), so an unreachable ClickHouse is not hammered. */
  retryAt?: number;
}

/** A view failing on every flush adds at most one row a minute per process to tally_view_failures. */
export const VIEW_FAILURE_ROW_MS = 60_000;

/** The least wait before a failed row is tried again, whatever the interval. */
const RETRY_MIN_MS = 1000;

export class ViewFailureRecorder {
  private readonly views = new Map<string, ViewState>();
  private readonly now: () => number;
  /** close() began: what is kept is written once more, nothing is scheduled. */
  private closed = false;

  constructor(private readonly opts: ViewFailureRecorderOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Notes a failure of `view` seen at `at` (epoch ms); `written` says when a row holds it. */
  note(view: string, at: number, error: string): void {
    let state = this.views.get(view);
    if (!state) {
      state = { lastWriteAt: 0 };
      this.views.set(view, state);
    }
    const pending = state.pending;
    if (!pending) state.pending = { failures: 1, at, error };
    else {
      pending.failures++;
      if (at >= pending.at) {
        pending.at = at;
        pending.error = error;
      }
    }
    this.schedule(view, state);
  }

  /**
   * This process recomputed these views' targets: the next failure of each is news again, written
   * at once. What is kept is written now (it may have been met during the recompute) without
   * holding that next failure back.
   */
  recomputed(views: readonly string[]): void {
    const now = this.now();
    for (const view of views) this.restart(view, now, false);
  }

  /**
   * The record's last recompute of each view, by any process (`atMs`: when it began): one newer
   * than the view's last row makes its next failure news again; kept failures all older than it
   * are healed and dropped. Older ones change nothing.
   */
  recomputedElsewhere(times: ReadonlyMap<string, number>): void {
    for (const [view, atMs] of times) {
      const state = this.views.get(view);
      if (state && atMs > state.lastWriteAt) this.restart(view, atMs, true);
    }
  }

  /** Starts `view`'s interval again after a recompute at `atMs`. */
  private restart(view: string, atMs: number, dropOlder: boolean): void {
    const state = this.views.get(view);
    if (!state) return;
    if (dropOlder && state.pending && state.pending.at <= atMs) state.pending = undefined;
    // Failures up to here, written now, do not hold back the next one.
    state.newsAfter = atMs;
    state.lastWriteAt = 0;
    state.retryAt = undefined;
    clearTimeout(state.timer);
    state.timer = undefined;
    this.schedule(view, state);
  }

  /** Failures not written yet, over all views. */
  get unwritten(): number {
    let n = 0;
    for (const s of this.views.values()) n += s.pending?.failures ?? 0;
    return n;
  }

  /**
   * Writes every view's kept failures now, whatever the interval, and waits for the writes; then
   * nothing more is scheduled (a row refused now is logged, not tried again).
   */
  async close(): Promise<void> {
    this.closed = true;
    const writes: Promise<void>[] = [];
    for (const [view, state] of this.views) {
      clearTimeout(state.timer);
      state.timer = undefined;
      writes.push(
        (async () => {
          // One write of a view at a time: what is kept meanwhile goes in the next one.
          while (state.writing) await state.writing;
          if (state.pending) await this.writeNow(view, state);
        })(),
      );
    }
    await Promise.all(writes);
  }

  private schedule(view: string, state: ViewState): void {
    if (this.closed || state.writing || state.timer || !state.pending) return;
    const next = Math.max(
      state.lastWriteAt === 0 ? 0 : state.lastWriteAt + this.opts.everyMs,
      state.retryAt ?? 0,
    );
    const wait = next - this.now();
    if (wait <= 0) {
      void this.writeNow(view, state);
      return;
    }
    state.timer = setTimeout(() => {
      state.timer = undefined;
      void this.writeNow(view, state);
    }, wait);
    // Kept failures do not hold the process open: close() writes them at a clean stop.
    state.timer.unref();
  }

  /** Writes what `view` keeps; never rejects (a refused row is kept and reported). */
  private writeNow(view: string, state: ViewState): Promise<void> {
    const batch = state.pending;
    if (!batch || state.writing) return state.writing ?? Promise.resolve();
    state.pending = undefined;
    // The first row after a recompute starts the interval; one of failures before it does not.
    const news = state.newsAfter === undefined || batch.at > state.newsAfter;
    state.lastWriteAt = news ? this.now() : 0;
    if (news) state.newsAfter = undefined;
    const row: ViewFailureRow = { view, failures: batch.failures, at: batch.at, error: batch.error };
    const attempt = async () => {
      try {
        await this.opts.write(row);
      } catch (err) {
        state.retryAt = this.now() + Math.max(this.opts.everyMs, RETRY_MIN_MS);
        // Kept, with what came meanwhile: the later failure's time and message stand.
        const kept = state.pending;
        if (!kept) state.pending = batch;
        else {
          kept.failures += batch.failures;
          if (batch.at > kept.at) {
            kept.at = batch.at;
            kept.error = batch.error;
          }
        }
        report(() => this.opts.writeFailed(view, batch.failures, err));
        return;
      }
      state.retryAt = undefined;
      report(() => this.opts.written?.(row));
    };
    state.writing = attempt().then(() => {
      state.writing = undefined;
      this.schedule(view, state);
    });
    return state.writing;
  }
}

/** Runs a caller's callback; what it throws must not stop the recorder. */
function report(callback: () => void): void {
  try {
    callback();
  } catch {
    // The callbacks log and set fields; a failure there is not the recorder's to handle.
  }
}
