/**
 * The typed, immutable Project model. The loader builds it once from the YAML files; everything
 * downstream (SQL compiler, deploy, ingestion, server) reads this model, never the YAML.
 */
import type { Config } from '../config/config.ts';
import type { SourceLocation } from '../errors.ts';
import type { CronSchedule } from '../schedule/parse-cron.ts';

// ---------------------------------------------------------------------------------------------
// ClickHouse type expressions, parsed (e.g. `Nullable(LowCardinality(String))`, `Decimal(18, 2)`,
// `AggregateFunction(argMax, String, DateTime)`, `Array(Tuple(a String, b UInt8))`).

export type TypeArg =
  | { kind: 'type'; type: TypeNode /** element name in a named Tuple */; field?: string }
  | { kind: 'number'; value: number }
  | { kind: 'string'; value: string }
  /** a bare word such as an aggregate function name (`argMax`) or a call `quantiles(0.5, 0.9)` */
  | { kind: 'ident'; value: string; params?: number[] }
  /** `'name' = 1` inside Enum8/Enum16 */
  | { kind: 'enum'; name: string; value: number };

export interface TypeNode {
  /** Canonical type name as ClickHouse spells it: `String`, `Nullable`, `Decimal`, `DateTime`... */
  name: string;
  args: readonly TypeArg[];
  /** Canonical text, e.g. `Decimal(18, 2)`; what DDL uses. */
  text: string;
}

// ---------------------------------------------------------------------------------------------
// Data sources

export type EngineType = 'MergeTree' | 'ReplacingMergeTree' | 'AggregatingMergeTree' | 'SummingMergeTree';

export interface TableEngine {
  type: EngineType;
  /** ReplacingMergeTree version column. */
  version?: string;
  /** SummingMergeTree columns to sum (default: all numeric non-key columns). */
  sumColumns?: readonly string[];
  sortingKey: readonly string[];
  primaryKey?: readonly string[];
  partitionKey?: string;
  /**
   * On a cluster of several shards: the columns whose hash picks a row's shard (default: the
   * dedup key, else the sorting key; deploy/table-spec.ts shardingKeyFor).
   */
  shardingKey?: readonly string[];
  ttl?: string;
  /** Where `ttl` is written (deploy names it on a server without TTL). */
  ttlLoc?: SourceLocation;
  settings: Readonly<Record<string, string | number>>;
}

/** A parsed JSONPath: `$.a.b[0]` -> ['a', 'b', 0]; `$` (the whole event as a string) -> []. */
export interface JsonPath {
  text: string;
  segments: readonly (string | number)[];
}

export interface Column {
  name: string;
  type: TypeNode;
  /** Where the value comes from in the event; absent for columns filled by `default` only. */
  json?: JsonPath;
  /** A ClickHouse expression, used when the event lacks the field. */
  default?: string;
  /**
   * The value `default:` was written as, checked against the column type (a string, number,
   * boolean, null or list); ingestion fills it in for a missing field. Absent for `default_expr`.
   */
  defaultValue?: unknown;
  comment?: string;
  loc: SourceLocation;
}

export type KafkaMetadataColumn =
  | '__topic'
  | '__partition'
  | '__offset'
  | '__timestamp'
  | '__key'
  | '__headers';

export interface KafkaSource {
  topic: string;
  /** Consumer group; default per store and data source (ingestion.ts consumerGroup). */
  group?: string;
  start: 'earliest' | 'latest';
  /** Kafka metadata stored as extra columns, in this order. */
  metadata: readonly KafkaMetadataColumn[];
  loc: SourceLocation;
}

export interface DataSource {
  kind: 'datasource';
  name: string;
  file: string;
  loc: SourceLocation;
  description?: string;
  columns: readonly Column[];
  engine: TableEngine;
  kafka?: KafkaSource;
  /** Columns whose values identify an event: the same key delivered twice is stored once. */
  dedupKey?: readonly string[];
  /** Versioned events: how events of each known version map onto the columns. */
  versions?: EventVersions;
}

/**
 * `versions:` of a data source. Versions are compared as text: the event's `1` and `"1"` are
 * the same version, as are YAML keys `1:` and `"1":`.
 */
export interface EventVersions {
  /** Where the version is in the event. */
  field: JsonPath;
  /** The version of an event without the field; absent: such an event is quarantined. */
  missing?: string;
  /** One per known version, in file order. */
  mappings: readonly VersionMapping[];
  loc: SourceLocation;
}

export interface VersionMapping {
  version: string;
  /** Columns read differently in this version; the others use their own `json` and default. */
  columns: readonly ColumnMapping[];
  loc: SourceLocation;
}

export interface ColumnMapping {
  column: string;
  /** Replaces the column's `json` for this version. */
  json?: JsonPath;
  /** Replaces the column's default for this version (a checked value of the column's type). */
  defaultValue?: unknown;
  /** The value read is multiplied by 10^shift, exactly, on its digits (`-2`: cents to units). */
  shift?: number;
  loc: SourceLocation;
}

// ---------------------------------------------------------------------------------------------
// SQL templates (the node language): text with `{{ param }}` and `{% if %}` blocks.

export type TemplateValue = string | number | boolean | null;

export type TemplateExpr =
  | { kind: 'defined'; param: string }
  | { kind: 'param'; param: string }
  | { kind: 'literal'; value: TemplateValue }
  | { kind: 'not'; expr: TemplateExpr }
  | { kind: 'and' | 'or'; left: TemplateExpr; right: TemplateExpr }
  | { kind: 'compare'; op: '==' | '!=' | '<' | '<=' | '>' | '>='; left: TemplateExpr; right: TemplateExpr };

export type TemplatePart =
  | { kind: 'text'; text: string; loc: SourceLocation }
  | { kind: 'param'; param: string; loc: SourceLocation }
  | {
      kind: 'if';
      /** `loc` of a branch is its `{% if %}` / `{% elif %}` tag. */
      branches: ReadonlyArray<{ cond: TemplateExpr; body: readonly TemplatePart[]; loc?: SourceLocation }>;
      otherwise?: readonly TemplatePart[];
      loc: SourceLocation;
    };

// ---------------------------------------------------------------------------------------------
// Pipes

export interface Param {
  name: string;
  type: TypeNode;
  required: boolean;
  /** Default value as written in YAML (already checked against the type by the loader). */
  default?: unknown;
  description?: string;
  enum?: readonly unknown[];
  min?: number;
  max?: number;
  /** Params a request must give with this one (`before_id` means nothing without `before`). */
  requires?: readonly string[];
  /** Tally gives the value, not a request: `snapshot_at` and `settled_before` of a copy pipe. */
  supplied?: boolean;
  loc: SourceLocation;
}

export interface PipeNode {
  name: string;
  description?: string;
  /** The SQL text as written. */
  sql: string;
  template: readonly TemplatePart[];
  /** Where the first character of `sql` is in the file; SQL line k is file line `sqlStart.line + k - 1`. */
  sqlStart: SourceLocation;
  /** Names this node reads in FROM/JOIN: earlier nodes or data sources. */
  references: readonly string[];
  loc: SourceLocation;
}

export interface Materialize {
  to: string;
  loc: SourceLocation;
}

/** A copy pipe: at each tick of `schedule`, Tally inserts the pipe's rows into `to`. */
export interface Copy {
  to: string;
  schedule: CronSchedule;
  /** Seconds an INSERT may take to commit: `settled_before` is the server's clock minus this. */
  settle: number;
  loc: SourceLocation;
}

export interface Pipe {
  kind: 'pipe';
  name: string;
  file: string;
  loc: SourceLocation;
  description?: string;
  params: ReadonlyMap<string, Param>;
  /** `params:` was there but not a mapping (already an error): its uses are not also "undeclared". */
  paramsUnreadable?: true;
  nodes: readonly PipeNode[];
  materialize?: Materialize;
  copy?: Copy;
  /** The target `copy.to` names when the rest of `copy` was refused (reported already). */
  refusedCopyTo?: string;
}

// ---------------------------------------------------------------------------------------------
// Endpoints

export type OutputFormat = 'json' | 'csv' | 'ndjson';

export interface EndpointLimits {
  maxRows?: number;
  maxBytes?: number;
  /** Seconds. */
  maxExecutionTime?: number;
  maxMemoryUsage?: number;
}

export interface Endpoint {
  kind: 'endpoint';
  name: string;
  file: string;
  loc: SourceLocation;
  pipe: string;
  description?: string;
  /** Token scope required to call it (a token name or scope from tally.yaml); undefined = public when no tokens. */
  token?: string;
  /** Cache TTL in ms. */
  cacheMs?: number;
  /** Refuse (503) when the data sources are staler than this many ms. */
  maxStalenessMs?: number;
  limits: EndpointLimits;
  /**
   * More ClickHouse settings for its queries (tuning, e.g. `max_threads: 1` for a point read),
   * with where each is written, so deploy can name the line of one the server does not know.
   */
  settings: Readonly<Record<string, string | number>>;
  settingsLoc?: Readonly<Record<string, SourceLocation>>;
  formats: readonly OutputFormat[];
  /** Where the `pipe:` value is written (for problems found across files). */
  pipeLoc?: SourceLocation;
  /** Where the `token:` value is written. */
  tokenLoc?: SourceLocation;
}

// ---------------------------------------------------------------------------------------------

export interface Project {
  /** Absolute path of the project folder. */
  root: string;
  config: Config;
  datasources: ReadonlyMap<string, DataSource>;
  pipes: ReadonlyMap<string, Pipe>;
  endpoints: ReadonlyMap<string, Endpoint>;
}
