import type { Capabilities } from './capabilities.ts';

export type Settings = Record<string, string | number | boolean>;

export interface QueryOptions {
  /** Server-side query parameters (only when `capabilities.queryParams`). */
  params?: Record<string, unknown>;
  /**
   * Per-query settings; never leak into later queries. Read-only: the server's reader keeps the
   * request path it built per settings object (http-reader.ts).
   */
  settings?: Readonly<Settings>;
  signal?: AbortSignal;
  queryId?: string;
}

export interface ColumnMeta {
  name: string;
  type: string;
}

export interface QueryStatistics {
  elapsed: number;
  rows_read: number;
  bytes_read: number;
}

/** What ClickHouse answers for `FORMAT JSON`. */
export interface QueryResult<T> {
  meta: ColumnMeta[];
  data: T[];
  rows: number;
  statistics?: QueryStatistics;
}

export type TextFormat = 'JSON' | 'JSONEachRow' | 'JSONCompact' | 'CSVWithNames' | 'TabSeparatedWithNames';

/** A table sent along with a query (ClickHouse's external data), read by the query by its name. */
export interface ExternalTable {
  /** The name the query reads it by, e.g. `_keys`. */
  name: string;
  /** Its columns, e.g. `key String`. */
  structure: string;
  /** Its rows, one JSON object per line. */
  jsonLines: string;
}

/**
 * The one door to ClickHouse. Everything Tally sends goes through an Engine, embedded (chDB in
 * this process) or a server over HTTP; both speak through @clickhouse/client, except the
 * server's reads, which take a plain keep-alive HTTP path for speed (http-reader.ts says why).
 */
export interface Engine {
  readonly backend: 'embedded' | 'server';
  readonly capabilities: Capabilities;
  /** The project's database; it exists once the engine is created. */
  readonly database: string;
  /**
   * `clickhouse.cluster`: the server is a node of this cluster; Tally's own tables are created
   * ON CLUSTER with Replicated engines, like the project's (docs/scaling.md).
   */
  readonly cluster?: string;
  /**
   * How many shards `cluster` has (system.clusters); above 1 the project's data sources are
   * sharded: a Distributed table over a table per shard (docs/scaling.md). Undefined: one.
   */
  readonly shards?: number;
  /** Embedded only: the chDB data folder (absolute). */
  readonly dataPath?: string;
  /**
   * With `clickhouse.failover`: how many times statements moved to another replica. What was
   * read from the previous one (an ingester's marks) must be read again when it changes.
   */
  readonly generation?: number;
  /** "chDB 26.7.2.1 (embedded, .tally/chdb)" or "ClickHouse 18.16.1 at http://..." */
  readonly description: string;

  /** Runs a SELECT and returns the whole `FORMAT JSON` answer (meta, data, statistics). */
  query<T = Record<string, unknown>>(sql: string, opts?: QueryOptions): Promise<QueryResult<T>>;
  /** Runs a SELECT and returns its rows. */
  rows<T = Record<string, unknown>>(sql: string, opts?: QueryOptions): Promise<T[]>;
  /** Runs a SELECT and returns the body in a text format, unparsed (for streaming to HTTP). */
  text(sql: string, format: TextFormat, opts?: QueryOptions): Promise<string>;
  /**
   * Runs a SELECT that reads `table`, sent with it as external data: no table to create and
   * fill first. The server back end over http only; absent elsewhere (callers fall back).
   */
  readonly rowsWith?: <T = Record<string, unknown>>(
    sql: string,
    table: ExternalTable,
    opts?: QueryOptions,
  ) => Promise<T[]>;
  /** DDL and other statements without a result. */
  command(sql: string, opts?: QueryOptions): Promise<void>;
  /** Inserts rows (objects keyed by column name) as JSONEachRow. `table` may be `db.table`. */
  insert(table: string, rows: readonly object[], opts?: QueryOptions): Promise<void>;
  close(): Promise<void>;
}
