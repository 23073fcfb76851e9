/**
 * SELECTs on the embedded engine through chDB sessions of their own: the read path of the
 * embedded back end (endpoint answers above all), as HttpReader is the server's.
 *
 * A chDB session runs one statement at a time. With the engine's one session, an endpoint's read
 * waited behind every insert, dedup lookup and bookkeeping write of the process (measured: a
 * SELECT 1 answered in 41 ms behind a 40 ms query, in 2 ms on a session of its own), and
 * concurrent reads ran one after the other. Sessions of the same data folder share its catalog
 * and data and run in parallel (each statement on a libuv thread), so reads go to the least busy
 * of a few read sessions. chDB binds server-side params one statement at a time across the whole
 * process (its guard against a libchdb race), so a read with params waits for any other
 * parameterized statement. Settings travel in a SETTINGS clause (a SET would outlive the query in
 * its session); errors are parsed by @clickhouse/client's own `parseError`, so both doors fail
 * alike.
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
  /** Reads given to this session and not yet ended (queued or running). */
  queued: number;
  /** Settles when the last read given to this session has ended (and its cleanup too). */
  tail: Promise<void>;
}

type Answer = { text(): string };

export class ChdbReader {
  private readonly sessions: ReadSession[];
  private next = 0;
  private closed = false;

  constructor(sessions: readonly ChdbSession[]) {
    if (sessions.length === 0) throw new Error('ChdbReader needs at least one session');
    this.sessions = sessions.map((session) => ({ session, queued: 0, tail: Promise.resolve() }));
  }

  /** Server-side params are bound by chDB itself (queryBindAsync), as the client does. */
  readonly takesParams = true;

  /** The answer's body in `format`; throws the client's error shape on a ClickHouse error. */
  async read(sql: string, format: TextFormat, opts: QueryOptions = {}): Promise<string> {
    if (this.closed) throw new Error('the embedded read sessions are closed');
    const signal = opts.signal;
    signal?.throwIfAborted();
    const query = withSettingsClause(sql, opts.settings);
    const params = opts.params && Object.keys(opts.params).length > 0 ? opts.params : undefined;
    const answer = this.enqueue(this.pick(), signal, (session) =>
      params ? session.queryBindAsync(query, params, { format }) : session.queryAsync(query, { format }),
    );
    try {
      return (await (signal ? abortable(answer, signal) : answer)).text();
    } catch (err) {
      if (err instanceof Error && err.name === 'AbortError') throw err;
      throw parseError(String((err as Error)?.message ?? err));
    }
  }

  /** Waits for every read already given (queued ones run), then closes every session. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.sessions.map((s) => s.tail));
    for (const s of this.sessions) s.session.close();
  }

  /**
   * Runs `start` on the session once its previous read has ended. One statement per session at
   * a time: chDB would queue more itself, but each waiting statement holds a libuv thread, and a
   * failure's partial output would reach the one queued behind it before the cleanup ran.
   */
  private enqueue(
    s: ReadSession,
    signal: AbortSignal | undefined,
    start: (session: ChdbSession) => Promise<Answer>,
  ): Promise<Answer> {
    s.queued++;
    let sent = false;
    const answer = s.tail.then(() => {
      if (signal?.aborted) throw abortError(signal); // given up while queued: never sent
      sent = true;
      return start(s.session);
    });
    // The caller has its answer (or error) at once; the session's next read waits for the cleanup.
    s.tail = answer.then(
      () => undefined,
      () => (sent ? this.afterFailure(s) : undefined),
    );
    void s.tail.then(() => {
      s.queued--;
    });
    return answer;
  }

  /** The session with the fewest reads given; ties in turn. */
  private pick(): ReadSession {
    const n = this.sessions.length;
    let best = this.sessions[this.next % n]!;
    for (let i = 1; i < n && best.queued > 0; i++) {
      const s = this.sessions[(this.next + i) % n]!;
      if (s.queued < best.queued) best = s;
    }
    this.next = (this.next + 1) % n;
    return best;
  }

  /**
   * chDB (3.4) hands the partial output of a statement that failed mid-way (a result limit, a
   * timeout) to the next statement of the same session: a throw-away one runs first.
   */
  private async afterFailure(s: ReadSession): Promise<void> {
    await s.session.queryAsync('SELECT 1', { format: 'TabSeparated' }).catch(() => undefined);
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
