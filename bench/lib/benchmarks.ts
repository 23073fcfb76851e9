import {
  parseBackfill,
  parseCheck200,
  parseDeployPlan,
  parseDevLoop,
  parseEndpoints,
  parseIngest,
  untargeted,
} from './adapters.ts';
import type { BenchOutput } from './result-schema.ts';

export type Mode = 'quick' | 'full';

/** One benchmark the runner knows: a script, its arguments per mode, and how to read it. */
export interface BenchSpec {
  id: string;
  title: string;
  /** Relative to the repository; absent when the benchmark is not built yet. */
  script?: string;
  args: Record<Mode, string[] | 'skip'>;
  /** Seconds before the child is stopped and the benchmark reported as timed out. */
  timeoutS: Record<Mode, number>;
  /**
   * Reads the output when the script does not print a `{ bench, metrics }` JSON line last.
   * `last` is the last stdout line when it is JSON.
   */
  parse?: (stdout: string, last: Record<string, unknown> | undefined) => BenchOutput;
  /** Extra environment for the child, per mode. */
  env?: Partial<Record<Mode, Record<string, string>>>;
  /** Targets this benchmark answers, so a missing figure still shows in the report. */
  targets: string[];
  /** Why there is nothing to run yet. */
  notImplemented?: string;
}

/**
 * Every benchmark, in the order they run. Quick mode trims sizes and durations so that the whole
 * set takes under 3 minutes on a 2-core machine; the full mode uses each script's own defaults.
 */
export const BENCHMARKS: readonly BenchSpec[] = [
  {
    id: 'check-200',
    title: 'Load + check a generated project (200 data sources, 500 pipes)',
    script: 'bench/check-200.ts',
    args: { quick: [], full: [] },
    timeoutS: { quick: 60, full: 120 },
    parse: parseCheck200,
    targets: ['check-200'],
  },
  {
    id: 'deploy-plan-server',
    title: 'Deploy plan of 200 data sources, ClickHouse server',
    script: 'bench/deploy-plan.ts',
    args: { quick: [], full: [] },
    timeoutS: { quick: 120, full: 300 },
    parse: parseDeployPlan,
    targets: ['plan-200', 'noop-deploy'],
  },
  {
    id: 'deploy-plan-embedded',
    title: 'Deploy plan of 200 data sources, embedded chDB',
    script: 'bench/deploy-plan.ts',
    args: { quick: 'skip', full: ['--embedded'] },
    timeoutS: { quick: 120, full: 300 },
    parse: parseDeployPlan,
    targets: [],
  },
  {
    id: 'backfill-server',
    title: 'Backfill of a new materialized view vs INSERT ... SELECT, ClickHouse server',
    script: 'bench/backfill.ts',
    args: { quick: ['--rows', '2000000', '--rounds', '3'], full: [] },
    timeoutS: { quick: 90, full: 900 },
    parse: parseBackfill,
    targets: ['backfill'],
  },
  {
    id: 'backfill-embedded',
    title: 'Backfill of a new materialized view vs INSERT ... SELECT, embedded chDB',
    script: 'bench/backfill.ts',
    args: { quick: 'skip', full: ['--embedded'] },
    timeoutS: { quick: 90, full: 900 },
    parse: parseBackfill,
    targets: [],
  },
  {
    id: 'backfill-server-20m',
    title: 'Backfill at 20M rows, where its fixed cost weighs more (no target), ClickHouse server',
    script: 'bench/backfill.ts',
    args: { quick: 'skip', full: ['--rows', '20000000'] },
    timeoutS: { quick: 90, full: 300 },
    parse: (out) => untargeted(parseBackfill(out)),
    targets: [],
  },
  {
    id: 'ingest',
    title: 'Ingest: Kafka -> ClickHouse through Tally vs HTTP inserts vs the Kafka engine',
    script: 'bench/ingest.ts',
    args: { quick: ['--quick'], full: [] },
    timeoutS: { quick: 150, full: 900 },
    parse: parseIngest,
    targets: ['ingest-http', 'ingest-kafka-engine', 'ingest-rss'],
  },
  // The same work as the Kafka engine's (no dedup_key: no seen-key lookups, no seen table), so
  // the Kafka-engine target is judged like for like too; the run above keeps dedup's cost in view.
  {
    id: 'ingest-no-dedup',
    title: 'Ingest without a dedup_key (as the Kafka engine: no dedup), same three paths',
    script: 'bench/ingest.ts',
    args: { quick: 'skip', full: ['--no-dedup'] },
    timeoutS: { quick: 150, full: 900 },
    parse: parseIngest,
    targets: ['ingest-http', 'ingest-kafka-engine', 'ingest-rss'],
  },
  // Topics whose batches the broker compresses: what the pure-JavaScript codecs cost per event.
  ...(['lz4', 'zstd'] as const).map(
    (codec): BenchSpec => ({
      id: `ingest-${codec}`,
      title: `Ingest from a ${codec}-compressed topic (no target), same three paths`,
      script: 'bench/ingest.ts',
      args: { quick: 'skip', full: ['--compression', codec, '--rounds', '1'] },
      timeoutS: { quick: 150, full: 600 },
      parse: (out) => untargeted(parseIngest(out)),
      targets: [],
    }),
  ),
  {
    id: 'endpoints-server',
    title: 'Endpoints under load (wrk) vs the same SQL straight to ClickHouse, server',
    script: 'bench/endpoints.ts',
    args: {
      quick: ['--backend', 'server', '--quick', '--duration', '1', '--endpoint', 'balances_snapshot'],
      full: ['--backend', 'server'],
    },
    timeoutS: { quick: 120, full: 900 },
    parse: parseEndpoints,
    targets: ['endpoint-throughput', 'endpoint-added-latency', 'endpoint-cache'],
  },
  {
    id: 'endpoints-embedded',
    title: 'Endpoints under load (wrk) vs the same SQL straight to chDB, embedded',
    script: 'bench/endpoints.ts',
    args: {
      quick: ['--backend', 'embedded', '--quick', '--duration', '1', '--endpoint', 'balances_snapshot'],
      full: ['--backend', 'embedded'],
    },
    timeoutS: { quick: 120, full: 900 },
    parse: parseEndpoints,
    targets: ['endpoint-throughput', 'endpoint-added-latency', 'endpoint-cache'],
  },
  {
    id: 'embedded-reads',
    title: 'Embedded: point reads while the same process inserts, vs one chDB session (no target)',
    script: 'bench/embedded-reads.ts',
    args: { quick: ['--quick'], full: [] },
    timeoutS: { quick: 60, full: 180 },
    targets: [],
  },
  {
    id: 'growth',
    title: 'Growth: ingest rate and endpoint latency at 1x, 10x, 100x the data, both back ends',
    script: 'bench/growth.ts',
    args: { quick: ['--quick'], full: [] },
    timeoutS: { quick: 150, full: 1200 },
    targets: [],
  },
  {
    id: 'dev-loop',
    title: 'Dev loop: save to served, `tally test`, no-op deploy',
    script: 'bench/dev-loop.ts',
    args: { quick: [], full: [] },
    // With a server URL it also times `tally test` on the server (full runs only: time).
    env: { full: { TALLY_CLICKHOUSE_URL: process.env.TALLY_CLICKHOUSE_URL || 'http://127.0.0.1:8123' } },
    timeoutS: { quick: 120, full: 600 },
    parse: parseDevLoop,
    targets: ['save-to-served', 'tally-test', 'noop-deploy'],
  },
  {
    id: 'event-sourcing',
    title: 'Event sourcing: snapshot vs raw log, as-of via snapshot + tail vs raw log, both back ends',
    script: 'bench/event-sourcing.ts',
    args: { quick: ['--events', '1000000', '--rounds', '11'], full: [] },
    timeoutS: { quick: 150, full: 1200 },
    targets: ['snapshot-latency', 'snapshot-vs-log', 'as-of-vs-log'],
  },
];
