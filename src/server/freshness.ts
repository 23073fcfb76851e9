/**
 * How fresh an endpoint's data is: the age, in seconds, of the last ingested batch of each data
 * source its pipe reads (directly, or through a materialized data source's own sources), from
 * the ingest ops log `tally_ingest_log` (one row per flush: `time`, `datasource`, ...).
 *
 * Rules (docs/http.md):
 * - A data source's freshness is `now - max(time)` of its batches, or newer when the ingester in
 *   this process reports it caught up (`caughtUp`): an idle, healthy Kafka consumer writes no
 *   batches, yet its data is current.
 * - An endpoint's freshness is that of its stalest data source among those with a known value.
 *   Data sources that never got a batch are left out: they are empty, or were filled outside the
 *   ingest path (by hand, `tally sql`), and either way there is nothing old to warn about. With
 *   no known value at all, freshness is unknown.
 * - Unknown is never stale: `max_staleness` refuses only a measured staleness above it.
 * - While this process's ingesters have not heard from the broker yet (just started), a
 *   measurement waits for that first answer (`ready`; the runtime bounds the wait).
 * The ops log is read at most once per `ttlMs` per engine (one query for all data sources), and
 * concurrent requests share that query.
 */
import { quoteIdent } from '../clickhouse/create-engine.ts';
import type { Engine } from '../clickhouse/engine.ts';
import type { Project } from '../project/model.ts';
import { pipesFilling } from '../project/pipes-filling.ts';
import { quoteString } from '../sql/render-literal.ts';

/** The ingest ops log (the ingestion module creates it; see src/ingest/ingest-tables.ts). */
export const INGEST_LOG_TABLE = 'tally_ingest_log';

export interface Freshness {
  /** Age of the stalest known data source, in whole seconds; undefined when unknown. */
  seconds: number | undefined;
  /** Per data source read: age in seconds, or null when it never got a batch. */
  sources: Record<string, number | null>;
}

export interface FreshnessOptions {
  /** How long one read of the ops log is reused; default 1000 ms. */
  ttlMs?: number;
  /** Epoch milliseconds; tests move it. */
  now?: () => number;
  /**
   * The ingester in this process: epoch milliseconds at which `datasource` was last known to be
   * fully consumed (lag 0), if it knows. Newer than the last batch when the topic is idle.
   */
  caughtUp?: (datasource: string) => number | undefined;
  /**
   * While `caughtUp` has no figures yet (an ingester starting, its first question to the broker
   * unanswered), the promise to wait for before measuring; undefined once they are in. Without
   * it, a restarted server would judge an idle topic by its last batch and refuse as stale.
   */
  ready?: () => Promise<unknown> | undefined;
  /** A failed read of the ops log (other than "no table yet"); freshness is then unknown. */
  onError?: (err: unknown) => void;
}

interface Snapshot {
  at: number;
  /** Epoch ms of the last batch, per data source. */
  last: Promise<ReadonlyMap<string, number>>;
  /** `last` once it has settled. */
  read?: ReadonlyMap<string, number>;
}

export class FreshnessTracker {
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly snapshots = new WeakMap<Engine, Snapshot>();
  private readonly readsCache = new WeakMap<Project, Map<string, readonly string[]>>();
  /** Engines on which the ops log table was seen: after that, no more existence checks. */
  private readonly tableSeen = new WeakSet<Engine>();

  constructor(private readonly opts: FreshnessOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 1000;
    this.now = opts.now ?? Date.now;
  }

  /** The freshness of `pipe`'s data in `project` served by `engine`. */
  async measure(project: Project, engine: Engine, pipe: string): Promise<Freshness> {
    const sources = this.sourcesOf(project, pipe);
    if (sources.length === 0) return { seconds: undefined, sources: {} };
    // Only just after start is there anything to wait for: no extra promise on every request.
    const ready = this.opts.ready?.();
    if (ready) await ready;
    return this.ages(sources, await this.lastBatches(engine).last);
  }

  /**
   * The same as `measure` when it can answer without waiting (the ops log was read less than
   * `ttlMs` ago and nothing is pending); undefined otherwise. Spares the busiest path a promise.
   */
  measureNow(project: Project, engine: Engine, pipe: string): Freshness | undefined {
    const sources = this.sourcesOf(project, pipe);
    if (sources.length === 0) return { seconds: undefined, sources: {} };
    if (this.opts.ready?.()) return undefined;
    const read = this.lastBatches(engine).read;
    return read ? this.ages(sources, read) : undefined;
  }

  private ages(sources: readonly string[], last: ReadonlyMap<string, number>): Freshness {
    const now = this.now();
    const out: Record<string, number | null> = {};
    let seconds: number | undefined;
    for (const ds of sources) {
      const batch = last.get(ds);
      const live = this.opts.caughtUp?.(ds);
      const t = batch === undefined ? live : live === undefined ? batch : Math.max(batch, live);
      if (t === undefined) {
        out[ds] = null;
        continue;
      }
      const age = Math.max(0, Math.floor((now - t) / 1000));
      out[ds] = age;
      seconds = seconds === undefined ? age : Math.max(seconds, age);
    }
    return { seconds, sources: out };
  }

  /** Forget what was read (after an ingest in tests, say). */
  invalidate(engine: Engine): void {
    this.snapshots.delete(engine);
  }

  /** The data sources `pipe` reads, through materialized data sources to their sources. */
  sourcesOf(project: Project, pipe: string): readonly string[] {
    let perProject = this.readsCache.get(project);
    if (!perProject) {
      perProject = new Map();
      this.readsCache.set(project, perProject);
    }
    let found = perProject.get(pipe);
    if (!found) {
      found = dataSourcesRead(project, pipe);
      perProject.set(pipe, found);
    }
    return found;
  }

  private lastBatches(engine: Engine): Snapshot {
    const now = this.now();
    const snap = this.snapshots.get(engine);
    if (snap && now - snap.at < this.ttlMs) return snap;
    const fresh: Snapshot = { at: now, last: this.readLog(engine) };
    // A failed read is the caller of `measure`'s to see; this one only notes a success.
    fresh.last.then(
      (read) => {
        fresh.read = read;
      },
      () => {},
    );
    this.snapshots.set(engine, fresh);
    return fresh;
  }

  private async readLog(engine: Engine): Promise<ReadonlyMap<string, number>> {
    const db = engine.database;
    try {
      if (!this.tableSeen.has(engine)) {
        // Ask first rather than fail: a failed query is noisy in ClickHouse's own logs.
        const found = await engine.rows<{ n: number }>(
          `SELECT count() AS n FROM system.tables WHERE database = ${quoteString(db)} AND name = ${quoteString(INGEST_LOG_TABLE)}`,
        );
        if (Number(found[0]?.n ?? 0) === 0) return new Map();
        this.tableSeen.add(engine);
      }
      const rows = await engine.rows<{ datasource: string; t: number | string }>(
        `SELECT datasource, toUInt32(max(time)) AS t FROM ${quoteIdent(db)}.${quoteIdent(INGEST_LOG_TABLE)} GROUP BY datasource`,
      );
      return new Map(rows.map((r) => [r.datasource, Number(r.t) * 1000]));
    } catch (err) {
      this.tableSeen.delete(engine);
      this.opts.onError?.(err);
      return new Map();
    }
  }
}

/**
 * The data sources a pipe reads: those its nodes name, and for each one that a materialized or
 * copy pipe writes to, the data sources of that pipe (recursively). Sorted, each once.
 */
export function dataSourcesRead(project: Pick<Project, 'pipes' | 'datasources'>, pipe: string): string[] {
  const writers = pipesFilling(project);
  const found = new Set<string>();
  const seenPipes = new Set<string>();
  const visitPipe = (name: string) => {
    if (seenPipes.has(name)) return;
    seenPipes.add(name);
    const p = project.pipes.get(name);
    if (!p) return;
    for (const node of p.nodes) {
      for (const ref of node.references) {
        if (!project.datasources.has(ref) || found.has(ref)) continue;
        found.add(ref);
        for (const w of writers.get(ref) ?? []) visitPipe(w.name);
      }
    }
  };
  visitPipe(pipe);
  return [...found].sort();
}
