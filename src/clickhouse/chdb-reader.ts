/**
 * SELECTs on the embedded engine through chDB sessions of their own: the read path of the
 * embedded back end (endpoint answers above all), as HttpReader is the server's.
 *
 * A chDB session runs one statement at a time. With the engine's one session, an endpoint's read
 * waited behind every insert, dedup lookup and snapshot copy of the process (measured: a SELECT 1
 * answered in 41 ms behind a 40 ms query, in 2 ms on a session of its own), and concurrent reads
 * ran one after the other. Sessions of the same data folder share its catalog and data and run in
 * parallel (each statement on a libuv thread), so reads go to the least busy of a few read
 * sessions. Settings travel in a SETTINGS clause (a SET would outlive the query in its session);
 * errors are parsed by @clickhouse/client's own `parseError`, so both doors fail alike.
 */
import { parseError } from '@clickhouse/client';
import type { QueryOptions, TextFormat } from './engine.ts';
import { withSettingsClause } from './settings-clause.ts';

/** The part of chDB's Session (chdb 3.x) this reader uses. */
export interface ChdbSession {
  queryAsync(sql: string, opts?: { format?: string }): Promise<{ text(): string }>;
  queryBindAsync(sql: string, params: object, opts?: { format?: string }): Promise<{ text(): string }>;
  close(): void;
}

interface ReadSession {
  session: ChdbSession;
  /** Statements sent and not yet finished by chDB (an aborted read stays here until it ends). */
  busy: number;
  /** Set while the throw-away query after a failure runs (see `afterFailure`). */
  draining?: Promise<void>;
}

export class ChdbReader {
  private readonly sessions: ReadSession[];
  /** Every statement chDB is still running: close waits for them (a session closed under one leaks it). */
  private readonly running = new Set<Promise<unknown>>();
  private next = 0;
  private closed = false;

  constructor(sessions: readonly ChdbSession[]) {
    if (sessions.length === 0) throw new Error('ChdbReader needs at least one session');
    this.sessions = sessions.map((session) => ({ session, busy: 0 }));
  }

  /** Server-side params are bound by chDB itself (queryBindAsync), as the client does. */
  readonly takesParams = true;

  /** The answer's body in `format`; throws the client's error shape on a ClickHouse error. */
  async read(sql: string, format: TextFormat, opts: QueryOptions = {}): Promise<string> {
    if (this.closed) throw new Error('the embedded read sessions are closed');
    opts.signal?.throwIfAborted();
    const s = this.pick();
    s.busy++;
    let native: Promise<{ text(): string }>;
    try {
      if (s.draining) await s.draining;
      const query = withSettingsClause(sql, opts.settings);
      const params = opts.params && Object.keys(opts.params).length > 0 ? opts.params : undefined;
      native = params
        ? s.session.queryBindAsync(query, params, { format })
        : s.session.queryAsync(query, { format });
    } catch (err) {
      s.busy--;
      throw err;
    }
    const settled = native.then(
      () => undefined,
      () => this.afterFailure(s),
    );
    this.running.add(settled);
    void settled.finally(() => {
      s.busy--;
      this.running.delete(settled);
    });
    try {
      const result = await (opts.signal ? abortable(native, opts.signal) : native);
      return result.text();
    } catch (err) {
      throw err instanceof Error && err.name === 'AbortError'
        ? err
        : parseError(String((err as Error)?.message ?? err));
    }
  }

  /** Waits for the statements still running, then closes every session. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.running]);
    for (const s of this.sessions) s.session.close();
  }

  /** The session with the fewest statements running; ties in turn. */
  private pick(): ReadSession {
    const n = this.sessions.length;
    let best = this.sessions[this.next % n]!;
    for (let i = 1; i < n && best.busy > 0; i++) {
      const s = this.sessions[(this.next + i) % n]!;
      if (s.busy < best.busy) best = s;
    }
    this.next = (this.next + 1) % n;
    return best;
  }

  /**
   * chDB (3.4) hands the partial output of a statement that failed mid-way (a result limit, a
   * timeout) to the next statement of the same session: a throw-away one runs first.
   */
  private afterFailure(s: ReadSession): Promise<void> {
    s.draining ??= s.session
      .queryAsync('SELECT 1', { format: 'TabSeparated' })
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        s.draining = undefined;
      });
    return s.draining;
  }
}

/** `p`, or a rejection as soon as `signal` aborts (chDB cannot stop a statement: it ends on its own). */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  const err = new Error('The query was aborted', { cause: reason });
  err.name = 'AbortError';
  return err;
}
