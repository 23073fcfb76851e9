/**
 * SELECTs to a ClickHouse server over keep-alive HTTP(S): the read path of the server back end
 * (endpoint answers above all). @clickhouse/client (1.23) waits a `setTimeout(0)` before every
 * request and adds its own per-request work: measured here at 1.9 ms per small SELECT against
 * 0.4 ms for the same request on a keep-alive socket, on a 2-core machine. Endpoints promise at
 * most 2 ms over ClickHouse itself, so reads take this door; everything else (DDL, inserts,
 * queries with server-side params) still goes through the client; a SELECT with a table sent
 * along (external data, `readWith`) takes this door too. An http URL is read through
 * plain-http-pool.ts (a quarter of node:http's CPU per request), an https one through node:https.
 * Errors are parsed by the client's own `parseError`, so both doors fail alike.
 */
import { randomUUID } from 'node:crypto';
import https from 'node:https';
import { parseError } from '@clickhouse/client';
import type { ClickHouseTls } from '../config/config.ts';
import type { ExternalTable, QueryOptions, Settings, TextFormat } from './engine.ts';
import { PlainHttpPool } from './plain-http-pool.ts';

export interface HttpReaderOptions {
  url: string;
  user: string;
  password: string;
  database: string;
  /** Settings sent with every query (before the query's own). */
  settings: Settings;
  timeoutMs: number;
  /** For an https `url`: the CA (and client certificate) of clickhouse.tls; Node's CAs without. */
  tls?: ClickHouseTls;
}

const TEXT = 'text/plain; charset=utf-8';
/** Connections to the server at most (further reads wait for one). */
const MAX_SOCKETS = 64;

/** The key of queries without settings of their own. */
const NO_SETTINGS: Settings = {};

export class HttpReader {
  /** https: node's agent; http: the plain pool (plain-http-pool.ts), cheaper per request. */
  private readonly agent: https.Agent | undefined;
  private readonly pool: PlainHttpPool | undefined;
  private readonly base: URL;
  private readonly auth: string;
  /** The pool's request headers up to the content type's value. */
  private readonly plainHeaders: string;
  private readonly paths = new WeakMap<Readonly<Settings>, Map<TextFormat, string>>();

  constructor(private readonly opts: HttpReaderOptions) {
    this.base = new URL(opts.url);
    if (this.base.protocol === 'https:') {
      this.agent = new https.Agent({
        keepAlive: true,
        maxSockets: MAX_SOCKETS,
        ...tlsAgentOptions(opts.tls),
      });
    } else if (this.base.protocol === 'http:') {
      this.pool = new PlainHttpPool({
        // URL keeps an IPv6 address's brackets; a socket wants it bare.
        host: this.base.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: Number(this.base.port || 80),
        maxSockets: MAX_SOCKETS,
        timeoutMs: opts.timeoutMs,
      });
    } else {
      throw new Error(`HttpReader speaks http and https, not ${this.base.protocol}`);
    }
    this.auth = `Basic ${Buffer.from(`${opts.user}:${opts.password}`).toString('base64')}`;
    this.plainHeaders = `Authorization: ${this.auth}\r\nContent-Type: `;
  }

  /** Queries with server-side params go through the client (it sends them as `param_` fields). */
  readonly takesParams = false;

  /** The answer's body in `format`; throws the client's error shape on a ClickHouse error. */
  async read(sql: string, format: TextFormat, opts: QueryOptions = {}): Promise<string> {
    const path = opts.queryId
      ? this.pathFor(format, opts.settings, opts.queryId)
      : this.cachedPath(format, opts.settings);
    return this.sendOnce(path, sql, TEXT, opts.signal);
  }

  /**
   * The answer of a query that reads `table`, sent with it as external data: the query goes in
   * the URL, the table as a multipart/form-data file part named like it, in JSONEachRow.
   */
  async readWith(
    sql: string,
    format: TextFormat,
    table: ExternalTable,
    opts: QueryOptions = {},
  ): Promise<string> {
    const search = this.searchFor(format, opts.settings, opts.queryId);
    search.set('query', sql);
    search.set(`${table.name}_structure`, table.structure);
    search.set(`${table.name}_format`, 'JSONEachRow');
    let boundary = `tally-${randomUUID()}`;
    while (table.jsonLines.includes(boundary)) boundary = `tally-${randomUUID()}`;
    const body =
      `--${boundary}\r\nContent-Disposition: form-data; name="${table.name}"; filename="${table.name}"\r\n` +
      `Content-Type: application/octet-stream\r\n\r\n${table.jsonLines}\r\n--${boundary}--\r\n`;
    return this.sendOnce(this.pathOf(search), body, `multipart/form-data; boundary=${boundary}`, opts.signal);
  }

  close(): void {
    this.agent?.destroy();
    this.pool?.destroy();
  }

  /**
   * The request path of a query with these settings and format, kept per settings object: the
   * requests of a prepared endpoint query (endpoint, params, project version) share theirs, and
   * building the query string was a tenth of the reader's own time per request. Settings are
   * read-only (QueryOptions); callers build an object per query or per prepared query.
   */
  private cachedPath(format: TextFormat, settings: Readonly<Settings> | undefined): string {
    const key = settings ?? NO_SETTINGS;
    let byFormat = this.paths.get(key);
    if (!byFormat) {
      byFormat = new Map();
      this.paths.set(key, byFormat);
    }
    let path = byFormat.get(format);
    if (path === undefined) {
      path = this.pathFor(format, settings, undefined);
      byFormat.set(format, path);
    }
    return path;
  }

  private pathFor(
    format: TextFormat,
    settings: Readonly<Settings> | undefined,
    queryId: string | undefined,
  ): string {
    return this.pathOf(this.searchFor(format, settings, queryId));
  }

  private searchFor(
    format: TextFormat,
    settings: Readonly<Settings> | undefined,
    queryId: string | undefined,
  ): URLSearchParams {
    const search = new URLSearchParams({ database: this.opts.database, default_format: format });
    for (const [k, v] of Object.entries({ ...this.opts.settings, ...settings })) {
      search.set(k, typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
    }
    if (queryId) search.set('query_id', queryId);
    return search;
  }

  private pathOf(search: URLSearchParams): string {
    return `${this.base.pathname.replace(/\/$/, '')}/?${search}`;
  }

  private async sendOnce(
    path: string,
    body: string,
    contentType: string,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    try {
      return await this.send(path, body, contentType, signal);
    } catch (err) {
      // A keep-alive socket the server closed as we picked it (its keep_alive_timeout): the
      // request never reached ClickHouse, so sending it again on a new socket is safe.
      if ((err as { reusedSocket?: boolean }).reusedSocket) return this.send(path, body, contentType, signal);
      throw err;
    }
  }

  private async send(
    path: string,
    body: string,
    contentType: string,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    if (this.pool) {
      const res = await this.pool.post(path, `${this.plainHeaders}${contentType}\r\n`, body, signal);
      return answerBody(res.status, res.body);
    }
    return new Promise((resolve, reject) => {
      // Only https comes here (http goes through the pool above).
      const req = https.request(
        {
          host: this.base.hostname,
          port: this.base.port || 443,
          path,
          method: 'POST',
          agent: this.agent,
          headers: { Authorization: this.auth, 'Content-Type': contentType },
          ...(signal ? { signal } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            try {
              resolve(answerBody(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
            } catch (err) {
              reject(err);
            }
          });
        },
      );
      let answered = false;
      req.on('response', () => {
        answered = true;
      });
      req.on('error', (err) => {
        if (!answered && req.reusedSocket && (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
          Object.assign(err, { reusedSocket: true });
        }
        reject(err);
      });
      req.setTimeout(this.opts.timeoutMs, () => req.destroy(new Error('Timeout error')));
      req.end(body);
    });
  }
}

/** The answer's body, or the error (parsed as the client parses it) that ClickHouse answered. */
function answerBody(status: number, body: string): string {
  if (status !== 200) throw parseError(body.trim() || `HTTP ${status}`);
  const failure = trailingException(body);
  if (failure !== undefined) throw parseError(failure);
  return body;
}

/**
 * An exception met after the answer began is appended to what was sent (18.16 glues it to the
 * last row: `...}Code: 395, e.displayText() = DB::Exception: ..., e.what() = DB::Exception`;
 * current servers end it with `(version ...)`): the exception's text when the body ends with
 * one. Only the end counts, so a row holding an error message (Tally stores some) is data: JSON
 * answers end with `}`, and CSV quotes text with commas.
 */
const TRAILING =
  /Code: \d+(?:, e\.displayText\(\) = |\. )DB::Exception: [^\n]*?(?:, e\.what\(\) = [\w:]+|\(version [^()\n]*(?: \(official build\))?\))$/;

export function trailingException(body: string): string | undefined {
  const end = body.endsWith('\n') ? body.length - 1 : body.length;
  const lastLine = body.slice(body.lastIndexOf('\n', end - 1) + 1, end);
  return TRAILING.exec(lastLine)?.[0];
}

/** clickhouse.tls as https.Agent options (none: Node's CAs): the reader's and the client's agents. */
export function tlsAgentOptions(tls: ClickHouseTls | undefined): https.AgentOptions {
  return tls ? { ca: tls.ca, cert: tls.cert, key: tls.key } : {};
}
