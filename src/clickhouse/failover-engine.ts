/**
 * An engine over several replicas of one cluster (`clickhouse.url` and `clickhouse.failover`):
 * every statement goes to the current server; when that server cannot be reached, the next one
 * in the list becomes current.
 *
 * - A read that found its server unreachable (never sent, or the connection broke before the
 *   answer) is sent again to the next server: reads have no effect, so that is always safe.
 * - A write is never sent again by this engine, even one that surely did not run: its caller
 *   may have decided what to write from reads of the old server (an ingester's seen keys and
 *   marks), which the new one may not match yet. The engine moves on and the write fails; the
 *   caller retries, and sees `generation` changed (the sink then waits for this replica to hold
 *   every acknowledged insert and reads its marks again). A deploy fails and is run again.
 * - A slow answer (timeout) never moves on: the server is there, and a second server would only
 *   get the same slow query.
 *
 * The current server stays current until it fails (no moving back when the first one returns).
 */
import { isTallyError } from '../errors.ts';
import type { Capabilities } from './capabilities.ts';
import type { Engine, ExternalTable, QueryOptions, QueryResult, TextFormat } from './engine.ts';
import { NOT_SENT } from './engine-error.ts';

/** The connection broke before an answer (a server killed under the request). */
const BROKEN = /ECONNRESET|socket hang up|other side closed/i;

export interface FailoverOptions {
  /** Told each move, for the log. */
  onMove?: (move: { from: string; to: string; error: string }) => void;
}

export class FailoverEngine implements Engine {
  private readonly engines: Array<Engine | undefined>;
  private current: number;
  private moves = 0;
  /** When every server is reached over http, whose engines all have it (http-reader.ts). */
  readonly rowsWith?: Engine['rowsWith'];

  /**
   * `urls`: every server, in order of preference; `first`: the engine opened on `urls[at]`
   * (the first that answered); `open`: opens an engine on another URL when it is first needed.
   */
  constructor(
    private readonly urls: readonly string[],
    first: { at: number; engine: Engine },
    private readonly open: (url: string) => Promise<Engine>,
    private readonly opts: FailoverOptions = {},
  ) {
    this.engines = urls.map((_, i) => (i === first.at ? first.engine : undefined));
    this.current = first.at;
    if (first.engine.rowsWith && urls.every((u) => u.startsWith('http:'))) {
      this.rowsWith = <T>(sql: string, table: ExternalTable, opts?: QueryOptions) =>
        this.run('read', (e) => {
          if (!e.rowsWith) throw new Error(`${e.description} cannot send a table with a query`);
          return e.rowsWith<T>(sql, table, opts);
        });
    }
  }

  get backend(): 'server' {
    return 'server';
  }
  get capabilities(): Capabilities {
    return this.engine().capabilities;
  }
  get database(): string {
    return this.engine().database;
  }
  get shards(): number | undefined {
    return this.engine().shards;
  }

  get cluster(): string | undefined {
    return this.engine().cluster;
  }
  get description(): string {
    return `${this.engine().description} (failover: ${this.urls.length} servers)`;
  }
  /** How many times the engine moved to another server. */
  get generation(): number {
    return this.moves;
  }
  /** The URL statements go to now. */
  get url(): string {
    return this.urls[this.current]!;
  }

  query<T = Record<string, unknown>>(sql: string, opts?: QueryOptions): Promise<QueryResult<T>> {
    return this.run('read', (e) => e.query<T>(sql, opts));
  }
  rows<T = Record<string, unknown>>(sql: string, opts?: QueryOptions): Promise<T[]> {
    return this.run('read', (e) => e.rows<T>(sql, opts));
  }
  text(sql: string, format: TextFormat, opts?: QueryOptions): Promise<string> {
    return this.run('read', (e) => e.text(sql, format, opts));
  }
  command(sql: string, opts?: QueryOptions): Promise<void> {
    return this.run('write', (e) => e.command(sql, opts));
  }
  insert(table: string, rows: readonly object[], opts?: QueryOptions): Promise<void> {
    return this.run('write', (e) => e.insert(table, rows, opts));
  }

  async close(): Promise<void> {
    await Promise.all(this.engines.map((e) => e?.close().catch(() => {})));
  }

  private engine(): Engine {
    return this.engines[this.current]!;
  }

  /**
   * Runs `fn` on the current server. Unreachable: moves to the next; a read is tried there (and
   * on through the list), a write fails.
   */
  private async run<T>(kind: 'read' | 'write', fn: (e: Engine) => Promise<T>): Promise<T> {
    let lastError: unknown;
    for (let tried = 0; tried < this.urls.length; tried++) {
      const at = this.current;
      try {
        let engine = this.engines[at];
        if (!engine) {
          engine = await this.open(this.urls[at]!);
          this.engines[at] = engine;
        }
        return await fn(engine);
      } catch (err) {
        if (!movesOn(err, kind)) throw err;
        this.moveFrom(at, err);
        if (kind === 'write') throw err;
        lastError = err;
      }
    }
    throw lastError;
  }

  private moveFrom(at: number, err: unknown): void {
    // Another statement may have moved already: move once per failed server.
    if (this.current !== at) return;
    this.current = (at + 1) % this.urls.length;
    this.moves++;
    this.opts.onMove?.({
      from: this.urls[at]!,
      to: this.urls[this.current]!,
      error: String((err as Error)?.message ?? err).split('\n')[0]!,
    });
  }
}

/** Whether `err` (from a `kind` statement) means: try the next server. */
export function movesOn(err: unknown, kind: 'read' | 'write'): boolean {
  // Every failure to reach a server (opening an engine on it included) is this TallyError.
  if (!isTallyError(err) || err.code !== 'clickhouse-unreachable') return false;
  const message = String(err.message);
  return NOT_SENT.test(message) || (kind === 'read' && BROKEN.test(message));
}
