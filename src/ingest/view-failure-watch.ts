/**
 * An instance's view of tally_view_failures (clickhouse/view-failure-log.ts): read at start and
 * every `everyMs`, so that failures met by other instances, or before this process started, and
 * recomputes run elsewhere (`tally replay --apply`) show in /health; joined with this process's
 * own failures, which show at once.
 */
import type { Engine } from '../clickhouse/engine.ts';
import { engineMessage } from '../clickhouse/engine-error.ts';
import {
  type NotedViewFailure,
  readLastRecomputes,
  readViewsMissingRows,
  type ViewFailure,
  viewsMissingRows,
} from '../clickhouse/view-failure-log.ts';

type Log = (entry: Record<string, unknown>) => void;

export class ViewFailureWatch {
  private last:
    | {
        at: number;
        byDatasource: Map<string, Record<string, ViewFailure>>;
        /** Per view, its last recompute as recorded (by any process). */
        recomputed: Map<string, number>;
      }
    | undefined;
  /** Views whose targets this process saw recomputed, and when: reads begun before then are stale for them. */
  private readonly healedAt = new Map<string, number>();
  private reading: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastError: string | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly log: Log,
    private readonly everyMs: number,
    /** After each read: every view's last recompute (the recorders' intervals start again). */
    private readonly onRecomputes: (recomputed: ReadonlyMap<string, number>) => void = () => {},
  ) {}

  /** Reads once (waited for), then every `everyMs`. */
  async start(): Promise<void> {
    await this.read();
    this.timer = setInterval(() => void this.read(), this.everyMs);
    this.timer.unref();
  }

  stop(): Promise<void> {
    clearInterval(this.timer);
    return this.reading ?? Promise.resolve();
  }

  /** A deploy of this process recomputed these views' targets (and recorded it). */
  healed(views: readonly string[]): void {
    const now = Date.now();
    for (const v of views) this.healedAt.set(v, now);
  }

  /** The views of `datasource` missing rows: the last read, and `noted` (this process's). */
  missingRows(
    datasource: string,
    noted: Readonly<Record<string, NotedViewFailure>> | undefined,
  ): Record<string, ViewFailure> {
    const last = this.last;
    if (!last) return viewsMissingRows(undefined, noted);
    const views: Record<string, ViewFailure> = {};
    for (const [view, f] of Object.entries(last.byDatasource.get(datasource) ?? {})) {
      // Read before this process's deploy healed it: the table has the recompute since.
      if ((this.healedAt.get(view) ?? 0) < last.at) views[view] = f;
    }
    // This process's failures that a recompute (run anywhere) began after are healed, written
    // or not: their row may wait for its interval (view-failure-recorder.ts).
    let own = noted;
    if (noted && last.recomputed.size > 0) {
      const kept: Record<string, NotedViewFailure> = {};
      for (const [view, n] of Object.entries(noted)) {
        if (n.lastAt > (last.recomputed.get(view) ?? 0)) kept[view] = n;
      }
      own = kept;
    }
    return viewsMissingRows({ at: last.at, views }, own);
  }

  /** One read at a time: a slow ClickHouse does not pile them up, nor an old answer replace a newer one. */
  private read(): Promise<void> {
    this.reading ??= this.readNow().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private async readNow(): Promise<void> {
    const at = Date.now();
    try {
      const [byDatasource, recomputed] = await Promise.all([
        readViewsMissingRows(this.engine),
        readLastRecomputes(this.engine),
      ]);
      this.last = { at, byDatasource, recomputed };
      this.lastError = undefined;
      this.onRecomputes(recomputed);
    } catch (err) {
      // Not made yet (no data source takes events) or ClickHouse away: the last read stands.
      const message = engineMessage(err);
      if (message !== this.lastError && !/doesn't exist|does not exist|UNKNOWN_TABLE/i.test(message)) {
        this.log({ level: 'warn', msg: 'could not read tally_view_failures', error: message });
      }
      this.lastError = message;
    }
  }
}
