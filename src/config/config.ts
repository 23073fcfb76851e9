/** Runtime settings of a project: tally.yaml merged with the environment and defaults. */
export interface ClickHouseConfig {
  /** Server URL; undefined means the embedded engine (chDB). */
  url?: string;
  /**
   * Other replicas of the same cluster, tried in order when the current server does not answer
   * (`clickhouse.failover`; needs `cluster`). See clickhouse/failover-engine.ts.
   */
  failover?: string[];
  user: string;
  password: string;
  database: string;
  /** Cluster name for ON CLUSTER DDL and Replicated engines. */
  cluster?: string;
  /** Data folder of the embedded engine (absolute). */
  embeddedPath: string;
  /** An https `url` whose certificate a CA of one's own signed (`clickhouse.tls`). */
  tls?: ClickHouseTls;
}

/** TLS with a CA and client certificate of one's own (PEM texts, read from files). */
export interface TlsFiles {
  /** CA certificates the server's certificate is checked against, instead of Node's own. */
  ca?: string;
  /** Client certificate and key, for brokers that require one (mutual TLS). */
  cert?: string;
  key?: string;
}

/** clickhouse.tls: the CA is required (an https server without one needs no setting). */
export type ClickHouseTls = TlsFiles & { ca: string };

/** `kafka.sasl`: a user and password, or OAuth 2.0 client credentials for OAUTHBEARER. */
export type KafkaSasl =
  | { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string }
  | KafkaOAuth;

/**
 * SASL/OAUTHBEARER with tokens from an OAuth 2.0 token endpoint (client-credentials grant), as
 * Kafka's own Java client gets them (`sasl.oauthbearer.token.endpoint.url` and friends).
 */
export interface KafkaOAuth {
  mechanism: 'oauthbearer';
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scope?: string;
  /** SASL extensions sent with the token (Confluent Cloud wants logicalCluster, identityPoolId). */
  extensions?: Record<string, string>;
}

export interface KafkaConfig {
  brokers: string[];
  clientId: string;
  /** TLS: off, on with Node's CAs, or on with files of one's own (`kafka.ssl: { ca_file, ... }`). */
  ssl: boolean | TlsFiles;
  sasl?: KafkaSasl;
  /**
   * How long the group waits for a silent consumer (a crashed Tally) before its partitions go
   * to the others; default 10 s (see kafka-client.ts).
   */
  sessionTimeoutMs?: number;
}

/** tally.yaml `ingest:` (read-ingest-config.ts); unset keys keep the defaults of src/ingest/. */
export interface IngestConfig {
  /** Kafka: a fetch is inserted in parts of this many rows ... */
  flushRows?: number;
  /** ... or bytes (whichever comes first); the rest of a fetch is inserted when it is parsed. */
  flushBytes?: number;
  /** Kafka: the most a fetch answers, over all partitions, and per partition. */
  fetchBytes?: number;
  fetchPartitionBytes?: number;
  /** Kafka: the broker holds a fetch until it has this many bytes ... */
  fetchMinBytes?: number;
  /** ... or this long has passed: batching by time. */
  fetchWaitMs?: number;
  /** Kafka: bytes parsed and not yet inserted, per data source, before reading waits. */
  bufferBytes?: number;
  /** Events API: the largest request body, compressed or not (413 above it). */
  maxRequestBytes?: number;
  /** Days a dedup key is remembered (`tally_seen_<ds>` keeps whole days). */
  dedupWindowDays?: number;
}

export type TokenScope = 'admin' | 'read' | 'append';

export interface TokenConfig {
  name: string;
  value: string;
  scope: TokenScope;
  /** read: endpoints this token may call (undefined = all). */
  endpoints?: string[];
  /** append: data sources this token may append to (undefined = all). */
  datasources?: string[];
}

export interface Config {
  /** Absolute project folder. */
  projectDir: string;
  /** tally.yaml path, when the file exists. */
  file?: string;
  /** tally.yaml `name`: what the OpenAPI document and the page at / call the project. */
  name?: string;
  clickhouse: ClickHouseConfig;
  kafka: KafkaConfig;
  server: { host: string; port: number };
  tokens: TokenConfig[];
  ingest: IngestConfig;
}
