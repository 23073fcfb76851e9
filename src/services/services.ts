import { TallyError } from '../errors.ts';
import { ClickHouseService } from './clickhouse-service.ts';
import { clusterDown, clusterStatus, clusterUp } from './cluster/cluster-services.ts';
import { KafkaService } from './kafka-service.ts';
import type { DownResult, ProgressLog, Service, ServiceName, ServiceStatus, UpResult } from './service.ts';

export interface ServicesOptions {
  /** The project folder; data, logs and pid files go under `<projectDir>/.tally/`. */
  projectDir: string;
  /** ClickHouse HTTP URL (config `clickhouse.url`); default http://127.0.0.1:8123. */
  clickhouseUrl?: string;
  /** Kafka bootstrap brokers (config `kafka.brokers`); default 127.0.0.1:9092. */
  kafkaBrokers?: string[];
  /** Which services; default both. */
  only?: ServiceName[];
  /** Use Docker when an engine answers (default true); false always runs servers natively. */
  docker?: boolean;
  /** Progress of slow steps (installs, downloads, starts). */
  log?: ProgressLog;
  /**
   * The local ClickHouse cluster (ZooKeeper and two replicas, docs/scaling.md) instead of the
   * single ClickHouse server; Kafka as usual.
   */
  cluster?: boolean;
}

export const SERVICE_NAMES: readonly ServiceName[] = ['clickhouse', 'kafka'];

/** The managed services for these options, in a fixed order (ClickHouse, then Kafka). */
export function createServices(opts: ServicesOptions): Service[] {
  const wanted = new Set(opts.only ?? SERVICE_NAMES);
  const common = { projectDir: opts.projectDir, docker: opts.docker, log: opts.log };
  const services: Service[] = [];
  if (wanted.has('clickhouse')) services.push(new ClickHouseService({ ...common, url: opts.clickhouseUrl }));
  if (wanted.has('kafka')) services.push(new KafkaService({ ...common, brokers: opts.kafkaBrokers }));
  return services;
}

/**
 * Makes every service answer: reuses what already runs, else starts it (Docker, else natively),
 * in parallel, and waits until each is ready. A service that starts stays up even when another
 * fails; the failure is then thrown (both messages when both fail).
 */
export async function servicesUp(opts: ServicesOptions): Promise<UpResult[]> {
  if (opts.cluster) {
    const settled = await Promise.allSettled([
      clusterUp(opts),
      ...createServices(singleNodeless(opts)).map((s) => s.up().then((r) => [r])),
    ]);
    return collect(settled).flat();
  }
  const settled = await Promise.allSettled(createServices(opts).map((s) => s.up()));
  return collect(settled);
}

/**
 * Stops what `up` started (pid file or Docker marker); never a server Tally did not start. With
 * `cluster`, the cluster's processes only: Kafka may be serving the single-node setup too, and
 * a plain `down` stops it.
 */
export async function servicesDown(opts: ServicesOptions): Promise<DownResult[]> {
  if (opts.cluster) return clusterDown(opts);
  const settled = await Promise.allSettled(createServices(opts).map((s) => s.down()));
  return collect(settled);
}

/** Each service's state, owner and version, without changing anything. */
export async function servicesStatus(opts: ServicesOptions): Promise<ServiceStatus[]> {
  const [single, cluster] = await Promise.all([
    Promise.all(createServices(opts.cluster ? singleNodeless(opts) : opts).map((s) => s.status())),
    clusterStatus(opts),
  ]);
  // The cluster's rows when asked for, or when any of its processes runs.
  const showCluster = opts.cluster || cluster.some((s) => s.state !== 'stopped');
  return showCluster ? [...single, ...cluster] : single;
}

/** With --cluster the cluster's nodes replace the single ClickHouse server; Kafka stays. */
function singleNodeless(opts: ServicesOptions): ServicesOptions {
  const only = (opts.only ?? SERVICE_NAMES).filter((n) => n !== 'clickhouse');
  return { ...opts, only };
}

function collect<T>(settled: PromiseSettledResult<T>[]): T[] {
  const failures = settled
    .filter((s): s is PromiseRejectedResult => s.status === 'rejected')
    .map((s) => s.reason);
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) {
    const message = failures.map((f) => (f instanceof Error ? f.message : String(f))).join('\n\n');
    throw new TallyError('SERVICE_START_FAILED', message, { exitCode: 2, cause: failures });
  }
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}
