import { mkdirSync, readFileSync } from 'node:fs';
import https from 'node:https';
import { join, resolve } from 'node:path';
import {
  type ClickHouseClient,
  ClickHouseLogLevel,
  type ClickHouseSettings,
  createClient,
} from '@clickhouse/client';
import type { ClickHouseConfig, ClickHouseTls } from '../config/config.ts';
import { TallyError } from '../errors.ts';
import { quoteString } from '../sql/render-literal.ts';
import { shownPath } from '../util/shown-path.ts';
import { type Capabilities, capabilitiesFor } from './capabilities.ts';
import { ChdbReader, type ChdbSession } from './chdb-reader.ts';
import type { Engine, ExternalTable, QueryOptions, QueryResult, Settings, TextFormat } from './engine.ts';
import { toEngineError } from './engine-error.ts';
import { FailoverEngine, movesOn } from './failover-engine.ts';
import { alive, servingProcess } from './folder-server.ts';
import { HttpReader, tlsAgentOptions } from './http-reader.ts';
import { withSettingsClause } from './settings-clause.ts';

export interface CreateEngineOptions {
  /**
   * Create the database when missing (default true). With false (read-only commands: `deploy
   * --check`, `quarantine`, `diff`; and `replay` and `snapshot run`, which refuse a missing one),
   * a missing database is left missing and the engine opens anyway; Tally's statements name
   * their database, so they answer as over an empty one.
   */
  createDatabase?: boolean;
  /**
   * Runs once the server's version is known and before the database is created: a check that
   * throws here (`tally deploy` refusing a type the server lacks) leaves nothing behind.
   */
  beforeCreatingDatabase?: (capabilities: Capabilities) => void;
  /** Request timeout for the server back end, ms. */
  requestTimeoutMs?: number;
  /** Told when a failover engine moves to another server (clickhouse.failover). */
  onFailover?: (move: { from: string; to: string; error: string }) => void;
}

/**
 * Opens the engine the configuration asks for: a ClickHouse server when `url` is set, the
 * embedded chDB otherwise. Reads the version once, derives the capability flags and makes sure
 * the project's database exists.
 */
export async function createEngine(ch: ClickHouseConfig, opts: CreateEngineOptions = {}): Promise<Engine> {
  if (ch.url && ch.failover?.length) return createFailoverEngine(ch, [ch.url, ...ch.failover], opts);
  return ch.url ? createServerEngine(ch, ch.url, opts) : createEmbeddedEngine(ch, opts);
}

/** A keep-alive https agent trusting clickhouse.tls's CA (and presenting its client certificate). */
function tlsAgent(tls: ClickHouseTls): https.Agent {
  return new https.Agent({ keepAlive: true, maxSockets: 10, ...tlsAgentOptions(tls) });
}

/** Opens the first of `urls` that answers; the others are opened when a failover needs them. */
async function createFailoverEngine(
  ch: ClickHouseConfig,
  urls: string[],
  opts: CreateEngineOptions,
): Promise<Engine> {
  const open = (url: string) => createServerEngine(ch, url, opts);
  let lastError: unknown;
  for (let at = 0; at < urls.length; at++) {
    try {
      return new FailoverEngine(urls, { at, engine: await open(urls[at]!) }, open, {
        ...(opts.onFailover ? { onMove: opts.onFailover } : {}),
      });
    } catch (err) {
      if (!movesOn(err, 'write')) throw err;
      lastError = err;
    }
  }
  throw lastError;
}

async function createServerEngine(
  ch: ClickHouseConfig,
  url: string,
  opts: CreateEngineOptions,
): Promise<Engine> {
  const base = {
    url,
    username: ch.user,
    password: ch.password,
    request_timeout: opts.requestTimeoutMs ?? 300_000,
    application: 'tally',
    // The client logs every failed request to stderr, even those Tally expects and retries (an
    // INSERT refused during a deploy hold); every error reaches the caller as an EngineError.
    log: { level: ClickHouseLogLevel.OFF },
  };
  // clickhouse.tls through an agent of our own, not the client's `tls` option: with a client
  // certificate that option also asks the server for certificate login, which current servers
  // refuse together with a password. Each client gets its own agent (closing one destroys it).
  const withTls = <T extends object>(options: T) =>
    ch.tls ? { ...options, http_agent: tlsAgent(ch.tls), set_basic_auth_header: true } : options;
  const bootstrap = createClient(withTls(base));
  let version: string;
  let capabilities: Capabilities;
  let shards = 1;
  let present = true;
  try {
    version = await readVersion(bootstrap, url);
    capabilities = capabilitiesFor(version);
    if (ch.cluster) shards = await countShards(bootstrap, ch.cluster);
    opts.beforeCreatingDatabase?.(capabilities);
    if (opts.createDatabase !== false) await createDatabase(bootstrap, ch);
    else present = await databaseExists(bootstrap, ch.database);
  } catch (err) {
    throw toEngineError(err, 'SELECT version()', url);
  } finally {
    await bootstrap.close();
  }
  const always: ClickHouseSettings = {
    ...(capabilities.lowCardinalityNeedsSetting ? { allow_experimental_low_cardinality_type: 1 } : {}),
    // A data source may declare LowCardinality(UInt32) or LowCardinality(Date), as 18.16 allows.
    ...(capabilities.suspiciousLowCardinalityNeedsSetting
      ? { allow_suspicious_low_cardinality_types: 1 }
      : {}),
    // Replicated tables drop an INSERT whose block equals a recent one; Tally's dedup (seen keys,
    // Kafka watermarks) decides what is stored, as on one server, and two equal HTTP batches of a
    // data source without dedup_key are two batches (docs/scaling.md).
    ...(ch.cluster ? { insert_deduplicate: 0 } : {}),
    // Through a Distributed table an INSERT returns once every shard has its rows, or fails:
    // never acknowledged while queued on this node (the default), so nothing is lost if it dies.
    ...(shards > 1 ? { insert_distributed_sync: 1 } : {}),
  } as ClickHouseSettings;
  // A missing database cannot be the session's default: every query would fail on it.
  const sessionDatabase = present ? ch.database : 'default';
  const client = createClient(withTls({ ...base, database: sessionDatabase, clickhouse_settings: always }));
  const reader = new HttpReader({
    url,
    user: ch.user,
    password: ch.password,
    database: sessionDatabase,
    settings: always as Settings,
    timeoutMs: base.request_timeout,
    ...(ch.tls ? { tls: ch.tls } : {}),
  });
  return new ClientEngine(
    client,
    'server',
    capabilities,
    ch.database,
    `ClickHouse ${version} at ${url}`,
    url,
    false,
    ch.cluster,
    reader,
    undefined,
    shards,
  );
}

async function databaseExists(client: ClickHouseClient, database: string): Promise<boolean> {
  const rs = await client.query({
    query: `SELECT name FROM system.databases WHERE name = ${quoteString(database)}`,
    format: 'JSONEachRow',
  });
  return ((await rs.json()) as unknown[]).length > 0;
}

/** Shards of `cluster` in this server's remote_servers (0 when it has no such cluster). */
async function countShards(client: ClickHouseClient, cluster: string): Promise<number> {
  const rs = await client.query({
    query: `SELECT toUInt32(uniqExact(shard_num)) AS n FROM system.clusters WHERE cluster = ${quoteString(cluster)}`,
    format: 'JSONEachRow',
  });
  const [row] = (await rs.json()) as Array<{ n: number | string }>;
  return Number(row?.n ?? 0);
}

/**
 * On a cluster the database is created on every node (ON CLUSTER), but only when this node lacks
 * it: ON CLUSTER waits for every node, and an instance must start while a replica is down.
 */
async function createDatabase(client: ClickHouseClient, ch: ClickHouseConfig): Promise<void> {
  if (!ch.cluster) {
    await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${quoteIdent(ch.database)}` });
    return;
  }
  if (await databaseExists(client, ch.database)) return;
  await client.command({
    query: `CREATE DATABASE IF NOT EXISTS ${quoteIdent(ch.database)} ON CLUSTER ${quoteIdent(ch.cluster)}`,
  });
}

async function createEmbeddedEngine(ch: ClickHouseConfig, opts: CreateEngineOptions): Promise<Engine> {
  const connection = await openChdb(ch.embeddedPath);
  const client = createClient({ connection } as Parameters<typeof createClient>[0]);
  const where = shownPath(ch.embeddedPath);
  let capabilities: Capabilities;
  let reader: ChdbReader | undefined;
  try {
    capabilities = capabilitiesFor(await readVersion(client, where));
    opts.beforeCreatingDatabase?.(capabilities);
    if (opts.createDatabase !== false) {
      await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${quoteIdent(ch.database)}` });
    }
    // A data source may declare LowCardinality(UInt32) or LowCardinality(Date), as 18.16 allows;
    // a SET stays for the session, which does this engine's DDL.
    if (capabilities.suspiciousLowCardinalityNeedsSetting) {
      await client.command({ query: 'SET allow_suspicious_low_cardinality_types = 1' });
    }
    // A chDB session keeps `USE` for its lifetime; each engine has its own session.
    if (opts.createDatabase !== false || (await databaseExists(client, ch.database))) {
      await client.command({ query: `USE ${quoteIdent(ch.database)}` });
      reader = await openChdbReader(ch.embeddedPath, ch.database);
    }
  } catch (err) {
    await client.close();
    throw toEngineError(err, 'SELECT version()', where);
  }
  return new ClientEngine(
    client,
    'embedded',
    capabilities,
    ch.database,
    `chDB ${capabilities.version} (embedded, ${where})`,
    where,
    true,
    undefined,
    reader,
    resolve(ch.embeddedPath),
  );
}

/**
 * How many read sessions an embedded engine opens. Each runs one statement at a time on a libuv
 * thread (4 by default), so reads hold at most two and leave two to the engine's own session and
 * to Node's file and DNS work.
 */
const CHDB_READ_SESSIONS = 2;

/** The read sessions of an embedded engine (chdb-reader.ts), each on the project's database. */
async function openChdbReader(path: string, database: string): Promise<ChdbReader> {
  const { Session } = (await import('chdb')) as unknown as {
    Session: new (path: string) => ChdbSession;
  };
  const sessions: ChdbSession[] = [];
  try {
    for (let i = 0; i < CHDB_READ_SESSIONS; i++) {
      const session = new Session(path);
      sessions.push(session);
      await session.queryAsync(`USE ${quoteIdent(database)}`);
    }
  } catch (err) {
    for (const session of sessions) session.close();
    throw err;
  }
  return new ChdbReader(sessions);
}

async function openChdb(path: string): Promise<unknown> {
  let mod: { createChdbConnection: (o: { path: string }) => unknown };
  try {
    mod = (await import('chdb/connection')) as typeof mod;
  } catch (err) {
    throw new TallyError(
      'embedded-unavailable',
      `The embedded ClickHouse (chDB) is not available on this machine (${process.platform}-${process.arch}): install it with \`npm install chdb\`, or set clickhouse.url in tally.yaml (or TALLY_CLICKHOUSE_URL) to use a ClickHouse server.`,
      { exitCode: 2, cause: err },
    );
  }
  mkdirSync(path, { recursive: true });
  // Asked first when a Tally server says it holds the folder (and ClickHouse's status file
  // agrees): a refused open would also print ClickHouse's own "Cannot lock file" to stderr.
  const holder = folderHolder(path);
  if (holder !== undefined && servingProcess(path)?.pid === holder) throw folderBusy(path, holder, undefined);
  try {
    return mod.createChdbConnection({ path });
  } catch (err) {
    const message = String((err as Error)?.message ?? err);
    if (/only one active data directory/i.test(message)) {
      throw new TallyError(
        'embedded-busy',
        `The embedded ClickHouse already serves another data folder in this process; chDB opens one folder per process (asked for ${path}).`,
        {
          exitCode: 2,
          cause: err,
          hint: 'use one project per process, or a ClickHouse server (clickhouse.url)',
        },
      );
    }
    const holder = folderHolder(path);
    if (holder !== undefined || /Cannot lock file .*status|Another server instance/i.test(message)) {
      throw folderBusy(path, holder, err);
    }
    throw new TallyError(
      'embedded-unavailable',
      `The embedded ClickHouse (chDB) could not start: ${message}. Reinstall it with \`npm install chdb\`, or set clickhouse.url to use a ClickHouse server.`,
      { exitCode: 2, cause: err },
    );
  }
}

function folderBusy(path: string, holder: number | undefined, cause: unknown): TallyError {
  return new TallyError(
    'embedded-busy',
    `The embedded ClickHouse folder ${path} is in use by another process${holder ? ` (pid ${holder})` : ''}: a running \`tally dev\` or \`tally serve\` of this project? chDB lets one process open a folder at a time.`,
    {
      exitCode: 2,
      ...(cause !== undefined ? { cause } : {}),
      hint: 'stop that process first; while it runs, send events with `tally append` (it goes through the running server) or query its endpoints; or use a ClickHouse server (clickhouse.url) that several processes can share',
    },
  );
}

/**
 * The pid of another live process holding a chDB folder: ClickHouse writes `PID: n` into the
 * folder's `status` file while it runs (and locks it, which is why a second opener fails).
 */
function folderHolder(path: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(join(path, 'status'), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(/^PID:\s*(\d+)/m.exec(text)?.[1]);
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  return alive(pid) ? pid : undefined;
}

async function readVersion(client: ClickHouseClient, where: string): Promise<string> {
  const rs = await client.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' });
  const rows = (await rs.json()) as Array<{ v: string }>;
  const v = rows[0]?.v;
  if (!v)
    throw new TallyError('clickhouse-error', `ClickHouse at ${where} did not report its version`, {
      exitCode: 2,
    });
  return v;
}

/** The rows of a JSONEachRow answer. */
function parseJsonEachRow<T>(body: string): T[] {
  const out: T[] = [];
  for (const line of body.split('\n')) if (line.length > 0) out.push(JSON.parse(line) as T);
  return out;
}

/** Backquoted identifier; the one sanitizer for names that reach SQL. */
export function quoteIdent(name: string): string {
  return '`' + name.replace(/\\/g, '\\\\').replace(/`/g, '\\`') + '`';
}

class ClientEngine implements Engine {
  /** Embedded only: set while a drain query runs after a failure (see `afterFailure`). */
  private draining: Promise<void> | undefined;
  readonly rowsWith?: Engine['rowsWith'];

  constructor(
    private readonly client: ClickHouseClient,
    readonly backend: 'embedded' | 'server',
    readonly capabilities: Capabilities,
    readonly database: string,
    readonly description: string,
    private readonly where: string,
    /** chDB applies `clickhouse_settings` with SET, which outlives the query: use a SETTINGS clause. */
    private readonly settingsInline: boolean,
    readonly cluster?: string,
    /**
     * The read path: the server's (http-reader.ts; queries with server-side params skip it) or the
     * embedded engine's read sessions (chdb-reader.ts).
     */
    private readonly reader?: HttpReader | ChdbReader,
    readonly dataPath?: string,
    readonly shards?: number,
  ) {
    if (reader instanceof HttpReader)
      this.rowsWith = (sql, table, opts) => this.readWith(reader, sql, table, opts);
  }

  private async readWith<T>(
    reader: HttpReader,
    sql: string,
    table: ExternalTable,
    opts: QueryOptions = {},
  ): Promise<T[]> {
    let body: string;
    try {
      body = await reader.readWith(sql, 'JSONEachRow', table, opts);
    } catch (err) {
      throw toEngineError(err, sql, this.where);
    }
    return parseJsonEachRow<T>(body);
  }

  async query<T>(sql: string, opts: QueryOptions = {}): Promise<QueryResult<T>> {
    if (this.readsDirect(opts)) return JSON.parse(await this.readDirect(sql, 'JSON', opts)) as QueryResult<T>;
    const rs = await this.run(sql, opts, 'JSON');
    return (await rs.json()) as QueryResult<T>;
  }

  async rows<T>(sql: string, opts: QueryOptions = {}): Promise<T[]> {
    if (this.readsDirect(opts)) return parseJsonEachRow<T>(await this.readDirect(sql, 'JSONEachRow', opts));
    const rs = await this.run(sql, opts, 'JSONEachRow');
    return (await rs.json()) as T[];
  }

  async text(sql: string, format: TextFormat, opts: QueryOptions = {}): Promise<string> {
    if (this.readsDirect(opts)) return this.readDirect(sql, format, opts);
    const rs = await this.run(sql, opts, format);
    return rs.text();
  }

  private readsDirect(opts: QueryOptions): boolean {
    if (this.reader === undefined) return false;
    return this.reader.takesParams || !opts.params || Object.keys(opts.params).length === 0;
  }

  private async readDirect(sql: string, format: TextFormat, opts: QueryOptions): Promise<string> {
    try {
      return await this.reader!.read(sql, format, opts);
    } catch (err) {
      throw toEngineError(err, sql, this.where);
    }
  }

  async command(sql: string, opts: QueryOptions = {}): Promise<void> {
    const { query, settings } = this.withSettings(sql, opts.settings);
    if (this.draining) await this.draining;
    try {
      await this.client.command({ query, ...this.common(opts, settings) });
    } catch (err) {
      await this.afterFailure();
      throw toEngineError(err, sql, this.where);
    }
  }

  async insert(table: string, rows: readonly object[], opts: QueryOptions = {}): Promise<void> {
    if (rows.length === 0) return;
    if (this.draining) await this.draining;
    try {
      await this.client.insert({
        table,
        values: rows as object[],
        format: 'JSONEachRow',
        ...(this.settingsInline
          ? {}
          : opts.settings
            ? { clickhouse_settings: opts.settings as ClickHouseSettings }
            : {}),
        ...(opts.signal ? { abort_signal: opts.signal } : {}),
        ...(opts.queryId ? { query_id: opts.queryId } : {}),
      });
    } catch (err) {
      await this.afterFailure();
      throw toEngineError(err, `INSERT INTO ${table}`, this.where);
    }
  }

  async close(): Promise<void> {
    await this.reader?.close();
    await this.client.close();
  }

  private async run(sql: string, opts: QueryOptions, format: TextFormat) {
    const { query, settings } = this.withSettings(sql, opts.settings);
    if (this.draining) await this.draining;
    try {
      return await this.client.query({ query, format, ...this.common(opts, settings) });
    } catch (err) {
      await this.afterFailure();
      throw toEngineError(err, sql, this.where);
    }
  }

  /**
   * chDB (3.4) hands the partial output of a query that failed mid-way (a result limit, a
   * timeout) to the next query of the same session. So after a failure, the next query is a
   * throw-away one, run before any other query may start.
   */
  private async afterFailure(): Promise<void> {
    if (this.backend !== 'embedded') return;
    if (!this.draining) {
      this.draining = this.client
        .query({ query: 'SELECT 1', format: 'TabSeparated' })
        .then((rs) => rs.text())
        .then(
          () => undefined,
          () => undefined,
        )
        .finally(() => {
          this.draining = undefined;
        });
    }
    await this.draining;
  }

  private common(opts: QueryOptions, settings: Settings | undefined) {
    return {
      ...(settings ? { clickhouse_settings: settings as ClickHouseSettings } : {}),
      ...(opts.params && Object.keys(opts.params).length > 0 ? { query_params: opts.params } : {}),
      ...(opts.signal ? { abort_signal: opts.signal } : {}),
      ...(opts.queryId ? { query_id: opts.queryId } : {}),
    };
  }

  private withSettings(sql: string, settings: Settings | undefined): { query: string; settings?: Settings } {
    if (!settings || Object.keys(settings).length === 0) return { query: sql };
    if (!this.settingsInline) return { query: sql, settings };
    return { query: withSettingsClause(sql, settings) };
  }
}
