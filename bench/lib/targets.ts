import type { Metric, Target } from './result-schema.ts';

/** Every goal the issues name for a benchmark, in one place. */
export const TARGETS: readonly Target[] = [
  {
    id: 'check-200',
    text: '`tally check` of a 200-source, 500-pipe project < 1 s',
    source: 'issue 3',
    on: 'value',
    op: '<',
    threshold: 1000,
  },
  {
    id: 'plan-200',
    text: 'plan of a 200-source project against a live server < 2 s',
    source: 'issue 4',
    on: 'value',
    op: '<',
    threshold: 2000,
  },
  {
    id: 'noop-deploy',
    text: 'deploying the same project again makes 0 changes in < 1 s',
    source: 'issue 4',
    on: 'value',
    op: '<',
    threshold: 1000,
  },
  {
    id: 'backfill',
    text: 'backfill throughput >= 80% of a plain INSERT ... SELECT',
    source: 'issue 4',
    on: 'ratio',
    op: '>=',
    threshold: 0.8,
  },
  {
    id: 'ingest-http',
    text: 'Kafka -> ClickHouse >= 70% of straight HTTP inserts (100k-row batches)',
    source: 'issue 5',
    on: 'ratio',
    op: '>=',
    threshold: 0.7,
  },
  {
    id: 'ingest-kafka-engine',
    text: "Kafka -> ClickHouse >= ClickHouse's Kafka engine + MV",
    source: 'issue 5',
    on: 'ratio',
    op: '>=',
    threshold: 1,
  },
  {
    id: 'ingest-rss',
    text: 'ingester RSS <= 300 MB throughout',
    source: 'issue 5',
    on: 'value',
    op: '<=',
    threshold: 300,
  },
  {
    id: 'endpoint-throughput',
    text: 'throughput at 32 connections >= 80% of the same query sent straight',
    source: 'issue 6',
    on: 'ratio',
    op: '>=',
    threshold: 0.8,
  },
  {
    id: 'endpoint-added-latency',
    text: 'added median latency <= 2 ms',
    source: 'issue 6',
    on: 'value',
    op: '<=',
    threshold: 2,
  },
  {
    id: 'endpoint-cache',
    text: 'cache on >= 10x direct throughput',
    source: 'issue 6',
    on: 'ratio',
    op: '>=',
    threshold: 10,
  },
  {
    id: 'save-to-served',
    text: 'file save to new answer served <= 1 s (median of 20 edits)',
    source: 'issue 7',
    on: 'value',
    op: '<=',
    threshold: 1000,
  },
  {
    id: 'tally-test',
    text: '`tally test` on the example project <= 10 s',
    source: 'issue 7',
    on: 'value',
    op: '<=',
    threshold: 10_000,
  },
  {
    id: 'snapshot-latency',
    text: 'balance now from the snapshot <= 10 ms median (10M events, 100k accounts)',
    source: 'issue 8',
    on: 'value',
    op: '<=',
    threshold: 10,
  },
  {
    id: 'snapshot-vs-log',
    text: 'balance now from the snapshot >= 20x faster than from the raw log',
    source: 'issue 8',
    on: 'ratio',
    op: '>=',
    threshold: 20,
  },
  {
    id: 'as-of-vs-log',
    text: 'as-of via snapshot + tail >= 5x faster than from the raw log',
    source: 'issue 8',
    on: 'ratio',
    op: '>=',
    threshold: 5,
  },
];

export function targetById(id: string): Target {
  const t = TARGETS.find((x) => x.id === id);
  if (!t) throw new Error(`no target \`${id}\` in bench/lib/targets.ts`);
  return t;
}

/** Fills `target` and `pass` of a metric that names a target; a missing figure never passes. */
export function judge(metric: Metric): Metric {
  if (!metric.targetId) return metric;
  const target = targetById(metric.targetId);
  const x = target.on === 'ratio' ? metric.ratio : metric.value;
  const pass = x !== undefined && Number.isFinite(x) && compare(x, target.op, target.threshold);
  return { ...metric, target, pass };
}

function compare(x: number, op: Target['op'], threshold: number): boolean {
  switch (op) {
    case '<':
      return x < threshold;
    case '<=':
      return x <= threshold;
    case '>=':
      return x >= threshold;
    case '>':
      return x > threshold;
  }
}

/** A human rendering of the threshold: "< 1000 ms", ">= 0.80x". */
export function thresholdText(target: Target, unit: string): string {
  return target.on === 'ratio'
    ? `${target.op} ${target.threshold}x`
    : `${target.op} ${target.threshold} ${unit}`;
}
