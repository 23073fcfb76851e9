/**
 * The embedded engine of a running `tally dev`, read through its HTTP server (the engine route,
 * server/engine-route.ts): what `tally sql` and `tally quarantine` use when dev holds the chDB
 * folder. Reads only: a statement that writes is refused here, before it is sent, with what to do.
 */
import { TallyError } from '../errors.ts';
import { isLoopbackHost } from '../util/loopback-host.ts';
import { capabilitiesFor } from './capabilities.ts';
import type { Engine, QueryOptions, QueryResult, TextFormat } from './engine.ts';
import { EngineError } from './engine-error.ts';

const ROUTE = '/v0/_tally';
const SECRET_HEADER = 'x-tally-dev-secret';
/** A query through dev waits this long at most (dev's own endpoint limits are not on this path). */
const QUERY_TIMEOUT_MS = 300_000;

/**
 * The engine behind the dev server at `url` (from the server file beside `dataPath`), or
 * undefined when none answers there as one. Only a loopback URL is trusted with the secret.
 */
export async function throughDevEngine(
  server: { url: string; secret: string },
  dataPath: string,
): Promise<Engine | undefined> {
  const { url } = server;
  if (!isLoopbackUrl(url)) return undefined;
  const headers = { [SECRET_HEADER]: server.secret };
  let info: { database: string; version: string; description: string };
  try {
    const res = await fetch(`${url}${ROUTE}/engine`, { headers, signal: AbortSignal.timeout(2000) });
    if (!res.ok) return undefined;
    info = (await res.json()) as typeof info;
  } catch {
    return undefined;
  }
  const text = async (sql: string, format: TextFormat, opts: QueryOptions = {}): Promise<string> => {
    if (opts.params && Object.keys(opts.params).length > 0) {
      throw new TallyError('internal', 'queries with server-side params cannot go through tally dev', {
        exitCode: 2,
      });
    }
    const timeout = AbortSignal.timeout(QUERY_TIMEOUT_MS);
    let res: Response;
    let body: string;
    try {
      res = await fetch(`${url}${ROUTE}/query`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ sql, format }),
        signal: opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout,
      });
      body = await res.text();
    } catch (err) {
      throw new TallyError(
        'dev-server-unreachable',
        `tally dev at ${url} stopped answering: ${(err as Error).message}`,
        {
          exitCode: 2,
          cause: err,
          hint: 'run the command again (it opens the folder itself once dev has stopped)',
        },
      );
    }
    if (res.ok) return body;
    const refusal = (() => {
      try {
        return JSON.parse(body) as { error?: string };
      } catch {
        return {};
      }
    })();
    if (res.status === 422) throw new EngineError(refusal.error ?? body, undefined, undefined, sql);
    throw new TallyError(
      'dev-server-refused',
      `tally dev at ${url} answered ${res.status}: ${refusal.error ?? body}`,
      { exitCode: 2 },
    );
  };
  const writes = (): never => {
    throw new TallyError(
      'embedded-busy',
      `tally dev (${url}) holds the embedded folder ${dataPath}: this command reads through it, and it takes reads only`,
      {
        exitCode: 2,
        hint: 'stop tally dev to write to the folder, or use a ClickHouse server (clickhouse.url)',
      },
    );
  };
  return {
    backend: 'embedded',
    capabilities: capabilitiesFor(info.version),
    database: info.database,
    dataPath,
    description: `${info.description}, read through tally dev at ${url}`,
    text,
    async query<T>(sql: string, opts?: QueryOptions): Promise<QueryResult<T>> {
      return JSON.parse(await text(sql, 'JSON', opts)) as QueryResult<T>;
    },
    async rows<T>(sql: string, opts?: QueryOptions): Promise<T[]> {
      return (JSON.parse(await text(sql, 'JSON', opts)) as QueryResult<T>).data;
    },
    command: async () => writes(),
    insert: async () => writes(),
    close: async () => {},
  };
}

function isLoopbackUrl(url: string): boolean {
  try {
    return isLoopbackHost(new URL(url).hostname);
  } catch {
    return false;
  }
}
