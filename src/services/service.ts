/**
 * The services `tally services` manages, and the shapes their results take. `--cluster` adds
 * `zookeeper` and the cluster's ClickHouse nodes (`clickhouse-1`, `clickhouse-2`).
 */
export type ServiceName = 'clickhouse' | 'kafka' | 'zookeeper' | `clickhouse-${number}`;

/**
 * Who runs a service: `tally` (a process started by `tally services up`, known by its pid file),
 * `docker` (a container started through docker-compose.yml), `external` (something else that
 * already answered at the configured address; Tally never stops it).
 */
export type ServiceOwner = 'tally' | 'docker' | 'external';

export interface ServiceStatus {
  name: ServiceName;
  /** `starting`: our process is alive but does not answer yet. */
  state: 'running' | 'starting' | 'stopped';
  /** Undefined when stopped. */
  owner?: ServiceOwner;
  /** Server version; `unknown` when the protocol does not tell (a reused Kafka). */
  version?: string;
  /** The configured address: a URL for ClickHouse, host:port for Kafka. */
  address: string;
  pid?: number;
  logFile?: string;
  /** Something worth knowing, such as what else holds the port. */
  note?: string;
}

/**
 * What `up` did: `started` a new server, found its own server `already-running`, or `reused` a
 * server someone else runs at the address.
 */
export type UpAction = 'started' | 'already-running' | 'reused';

export interface UpResult extends ServiceStatus {
  state: 'running';
  owner: ServiceOwner;
  action: UpAction;
  elapsedMs: number;
}

/** What `down` did: `stopped` its server, found `not-running`, or left a server it does not own. */
export type DownAction = 'stopped' | 'not-running' | 'not-owned';

export interface DownResult {
  name: ServiceName;
  action: DownAction;
  owner?: ServiceOwner;
  address: string;
}

/** Progress lines for slow steps (downloads, installs); the CLI prints them, tests drop them. */
export type ProgressLog = (line: string) => void;

/** One managed server: start it (or find it), stop what we started, report its state. */
export interface Service {
  readonly name: ServiceName;
  readonly address: string;
  up(): Promise<UpResult>;
  down(): Promise<DownResult>;
  status(): Promise<ServiceStatus>;
}
