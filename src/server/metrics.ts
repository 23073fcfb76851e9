/**
 * A small metrics registry with the Prometheus text exposition format (version 0.0.4) written by
 * hand: counters, gauges and histograms with labels, plus collectors that report values at scrape
 * time. The server registers its own series (see `serverMetrics`); other modules (ingestion)
 * add theirs to the same registry:
 *
 *   const rows = registry.counter('tally_ingest_rows_total', 'Rows stored', ['datasource']);
 *   rows.inc({ datasource: 'transactions' }, 500);
 *   registry.collect('tally_ingest_lag', 'Messages behind the partition end', 'gauge', () =>
 *     lags.map((l) => ({ labels: { datasource: l.ds, topic: l.topic, partition: String(l.p) }, value: l.lag })));
 */

export type Labels = Readonly<Record<string, string>>;
export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface Sample {
  labels: Labels;
  value: number;
}

export interface Counter {
  inc(labels?: Labels, by?: number): void;
}

export interface Gauge {
  set(labels: Labels, value: number): void;
  inc(labels?: Labels, by?: number): void;
}

export interface Histogram {
  observe(labels: Labels, value: number): void;
}

/** Seconds: 1 ms to 10 s, for request and query latency. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

interface Family {
  name: string;
  help: string;
  type: MetricType;
  labelNames: readonly string[];
  render(out: string[]): void;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export class MetricsRegistry {
  private readonly families = new Map<string, Family>();

  /** A counter; asking again for the same name returns the same counter. */
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    const existing = this.existing(name, 'counter');
    if (existing) return existing as unknown as Counter;
    const series = new SeriesMap(labelNames);
    const family = Object.assign(this.define(name, help, 'counter', labelNames, series), {
      inc(labels: Labels = {}, by = 1) {
        if (by < 0 || !Number.isFinite(by)) return;
        series.add(labels, by);
      },
    });
    return family;
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    const existing = this.existing(name, 'gauge');
    if (existing) return existing as unknown as Gauge;
    const series = new SeriesMap(labelNames);
    return Object.assign(this.define(name, help, 'gauge', labelNames, series), {
      set: (labels: Labels, value: number) => series.set(labels, value),
      inc: (labels: Labels = {}, by = 1) => series.add(labels, by),
    });
  }

  histogram(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    buckets: readonly number[] = LATENCY_BUCKETS,
  ): Histogram {
    const existing = this.existing(name, 'histogram');
    if (existing) return existing as unknown as Histogram;
    const bounds = [...buckets].sort((a, b) => a - b);
    const series = new SeriesIndex(labelNames, (picked) => ({
      labels: picked,
      counts: bounds.map(() => 0),
      sum: 0,
      count: 0,
    }));
    const family: Family & Histogram = {
      name,
      help,
      type: 'histogram',
      labelNames,
      observe(labels: Labels, value: number) {
        const s = series.get(labels);
        for (let i = 0; i < bounds.length; i++) if (value <= bounds[i]!) s.counts[i]!++;
        s.sum += value;
        s.count++;
      },
      render(out: string[]) {
        for (const s of series.all) {
          bounds.forEach((b, i) => {
            out.push(`${name}_bucket${labelText({ ...s.labels, le: formatNumber(b) })} ${s.counts[i]}`);
          });
          out.push(`${name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
          out.push(`${name}_sum${labelText(s.labels)} ${formatNumber(s.sum)}`);
          out.push(`${name}_count${labelText(s.labels)} ${s.count}`);
        }
      },
    };
    this.add(family);
    return family;
  }

  /**
   * Series computed at scrape time (lag, queue sizes): `fn` returns the current samples. A
   * collector that throws is skipped for that scrape.
   */
  collect(name: string, help: string, type: 'counter' | 'gauge', fn: () => readonly Sample[]): void {
    if (this.families.has(name)) throw new Error(`metric ${name} is already registered`);
    this.add({
      name,
      help,
      type,
      labelNames: [],
      render(out) {
        let samples: readonly Sample[];
        try {
          samples = fn();
        } catch {
          return;
        }
        for (const s of samples) out.push(`${name}${labelText(s.labels)} ${formatNumber(s.value)}`);
      },
    });
  }

  /** The exposition text of every family, in registration order. */
  render(): string {
    const out: string[] = [];
    for (const f of this.families.values()) {
      out.push(`# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
      out.push(`# TYPE ${f.name} ${f.type}`);
      f.render(out);
    }
    return `${out.join('\n')}\n`;
  }

  private existing(name: string, type: MetricType): Family | undefined {
    const f = this.families.get(name);
    if (f && f.type !== type) throw new Error(`metric ${name} is already registered as a ${f.type}`);
    return f;
  }

  private define(
    name: string,
    help: string,
    type: MetricType,
    labelNames: readonly string[],
    series: SeriesMap,
  ): Family {
    const family: Family = {
      name,
      help,
      type,
      labelNames,
      render(out) {
        for (const s of series.values()) out.push(`${name}${labelText(s.labels)} ${formatNumber(s.value)}`);
      },
    };
    this.add(family);
    return family;
  }

  private add(f: Family): void {
    if (!NAME.test(f.name)) throw new Error(`invalid metric name ${f.name}`);
    for (const l of f.labelNames) if (!LABEL.test(l)) throw new Error(`invalid label name ${l}`);
    this.families.set(f.name, f);
  }
}

/** The series the HTTP server keeps. */
export interface ServerMetrics {
  requests: Counter;
  duration: Histogram;
  clickhouseErrors: Counter;
  cache: Counter;
}

/** Registers (or finds) the server's series on `registry`. */
export function serverMetrics(registry: MetricsRegistry): ServerMetrics {
  return {
    requests: registry.counter(
      'tally_http_requests_total',
      'HTTP requests answered, by endpoint and status',
      ['endpoint', 'status'],
    ),
    duration: registry.histogram(
      'tally_http_request_duration_seconds',
      'Time to answer an endpoint request, in seconds',
      ['endpoint'],
    ),
    clickhouseErrors: registry.counter(
      'tally_clickhouse_errors_total',
      'Endpoint queries ClickHouse refused or failed, by endpoint and ClickHouse error code',
      ['endpoint', 'code'],
    ),
    cache: registry.counter('tally_cache_requests_total', 'Endpoint cache lookups, by result (hit or miss)', [
      'endpoint',
      'result',
    ]),
  };
}

class SeriesMap {
  private readonly index: SeriesIndex<{ labels: Labels; value: number }>;
  constructor(labelNames: readonly string[]) {
    this.index = new SeriesIndex(labelNames, (labels) => ({ labels, value: 0 }));
  }

  add(labels: Labels, by: number): void {
    this.index.get(labels).value += by;
  }

  set(labels: Labels, value: number): void {
    this.index.get(labels).value = value;
  }

  values(): readonly { labels: Labels; value: number }[] {
    return this.index.all;
  }
}

/**
 * A family's series, found by their label values through one Map per label: no key string is
 * built and hashed for every update (three per request). `all` keeps them in creation order.
 */
class SeriesIndex<S> {
  private readonly root = new Map<string, unknown>();
  readonly all: S[] = [];

  constructor(
    private readonly names: readonly string[],
    private readonly make: (labels: Labels) => S,
  ) {}

  get(labels: Labels): S {
    const names = this.names;
    let level = this.root;
    const last = names.length - 1;
    for (let i = 0; i < last; i++) {
      const v = labels[names[i]!] ?? '';
      let next = level.get(v) as Map<string, unknown> | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(v, next);
      }
      level = next;
    }
    const v = last < 0 ? '' : (labels[names[last]!] ?? '');
    let s = level.get(v) as S | undefined;
    if (s === undefined) {
      s = this.make(pick(names, labels));
      level.set(v, s);
      this.all.push(s);
    }
    return s;
  }
}

function pick(names: readonly string[], labels: Labels): Labels {
  const out: Record<string, string> = {};
  for (const n of names) out[n] = labels[n] ?? '';
  return out;
}

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(
    ([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`,
  );
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Number.POSITIVE_INFINITY) return '+Inf';
  if (n === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(n);
}

/** What `registerIngestMetrics` reads: the ingestion's own counters (src/ingest/ingestion.ts). */
export interface IngestStatsView {
  restartRecoveries?: { count: number };
  datasources: ReadonlyArray<{
    name: string;
    totals: {
      stored: number;
      quarantined: number;
      duplicates: number;
      skipped: number;
      failures: number;
      viewFailures?: Readonly<Record<string, { failures: number }>>;
    };
    kafka?: { topic: string; partitions: ReadonlyArray<{ partition: number; lag: number }> };
    /** The group's lag from the broker: preferred, it does not freeze when consuming stops. */
    groupLag?: { partitions: ReadonlyArray<{ partition: number; lag: number }> };
  }>;
}

/**
 * Series from the ingestion's counters, read at scrape time: rows stored, quarantined, dropped as
 * duplicates and skipped (redelivered), failed flushes, and Kafka lag per partition.
 * Call once with `() => ingestion.stats()`.
 */
export function registerIngestMetrics(registry: MetricsRegistry, stats: () => IngestStatsView): void {
  const per = (pick: (t: IngestStatsView['datasources'][number]['totals']) => number) => () =>
    stats().datasources.map((d) => ({ labels: { datasource: d.name }, value: pick(d.totals) }));
  registry.collect(
    'tally_ingest_rows_total',
    'Rows stored, by data source',
    'counter',
    per((t) => t.stored),
  );
  registry.collect(
    'tally_ingest_quarantined_total',
    'Rows refused into the quarantine table, by data source',
    'counter',
    per((t) => t.quarantined),
  );
  registry.collect(
    'tally_ingest_duplicates_total',
    'Events dropped because their dedup key was already stored, by data source',
    'counter',
    per((t) => t.duplicates),
  );
  registry.collect(
    'tally_ingest_skipped_total',
    'Kafka messages skipped because they were handled before (redelivery), by data source',
    'counter',
    per((t) => t.skipped),
  );
  registry.collect(
    'tally_ingest_flush_failures_total',
    'Failed attempts to write a batch to ClickHouse, by data source',
    'counter',
    per((t) => t.failures),
  );
  registry.collect(
    'tally_ingest_view_failures_total',
    'Writes whose rows were stored but a materialized view failed on them (its target lacks them until a replay), by data source and view',
    'counter',
    () =>
      stats().datasources.flatMap((d) =>
        Object.entries(d.totals.viewFailures ?? {}).map(([view, f]) => ({
          labels: { datasource: d.name, view },
          value: f.failures,
        })),
      ),
  );
  registry.collect(
    'tally_ingest_restart_recoveries_total',
    'Recomputes of marks, seen keys and views after ClickHouse restarted under an INSERT',
    'counter',
    () => [{ labels: {}, value: stats().restartRecoveries?.count ?? 0 }],
  );
  registry.collect('tally_ingest_lag', 'Kafka messages behind the partition end', 'gauge', () =>
    stats().datasources.flatMap((d) =>
      (d.groupLag?.partitions.length ? d.groupLag.partitions : (d.kafka?.partitions ?? [])).map((p) => ({
        labels: { datasource: d.name, topic: d.kafka!.topic, partition: String(p.partition) },
        value: p.lag,
      })),
    ),
  );
}
