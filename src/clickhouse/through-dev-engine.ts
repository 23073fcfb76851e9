/**
 * The embedded engine of a running `tally dev`, read through its HTTP server (the engine route,
 * server/engine-route.ts): what `tally sql` and `tally quarantine` use when dev holds the chDB
 * folder. Reads only: a statement that writes is refused here, before it is sent, with what to do.
 */
import { TallyError } from '../errors.ts';
import { capabilitiesFor } from './capabilities.ts';
import type { Engine, QueryOptions, QueryResult, TextFormat } from './engine.ts';
import { EngineError } from './engine-error.ts';

const ROUTE = '/v0/_tally';

/** The engine behind the dev server at `url`, or undefined when none answers there as one. */
export async function throughDevEngine(
  url: string,
  dataPath: string,
  adminToken: string | undefined,
): Promise<Engine | undefined> {
  const headers: Record<string, string> = adminToken ? { authorization: `Bearer ${adminToken}` } : {};
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
    const res = await fetch(`${url}${ROUTE}/query`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ sql, format }),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const body = await res.text();
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
      {
        exitCode: 2,
      },
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
