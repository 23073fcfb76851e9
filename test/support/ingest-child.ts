/**
 * An ingester in a child process, for tests that kill it (SIGKILL) or run several.
 * Input: the JSON in TALLY_INGEST_CHILD = { clickhouse, datasources, kafka, options, report? }.
 * Output: one JSON line per 500 ms on stdout: { stats }. The line `report` on stdin stops it
 * gracefully, runs the report queries (the embedded engine's data can only be read by this
 * process), prints { done: true, report } and exits 0. SIGTERM stops gracefully (exit 0).
 */
import { createEngine } from '../../src/clickhouse/create-engine.ts';
import type { ClickHouseConfig, KafkaConfig } from '../../src/config/config.ts';
import { type IngestionOptions, startIngestion } from '../../src/ingest/ingestion.ts';
import type { DataSource } from '../../src/project/model.ts';
import { projectOf } from './ingest-kafka.ts';

interface ChildInput {
  clickhouse: ClickHouseConfig;
  datasources: DataSource[];
  kafka: KafkaConfig;
  options?: IngestionOptions;
  /** Statements to run first (idempotent: the child is restarted). */
  setup?: string[];
  /** Queries to run at the end (embedded engine: only this process can read its data). */
  report?: Record<string, string>;
}

const input = JSON.parse(process.env.TALLY_INGEST_CHILD ?? '{}') as ChildInput;
const print = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);

const engine = await createEngine(input.clickhouse);
for (const sql of input.setup ?? []) await engine.command(sql);
const ingestion = await startIngestion(projectOf(input.datasources), engine, input.kafka, {
  ...input.options,
  log: (e) => {
    if (e.level !== 'debug') print({ log: e });
  },
});

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) process.exit(1);
  stopping = true;
  void ingestion.stop({ graceMs: 5000 }).then(async () => {
    await engine.close();
    process.exit(0);
  });
});

const timer = setInterval(() => print({ stats: ingestion.stats() }), 500);

process.stdin.setEncoding('utf8');
process.stdin.on('data', async (chunk: string) => {
  if (!chunk.includes('report') || stopping) return;
  stopping = true;
  clearInterval(timer);
  await ingestion.stop({ graceMs: 5000 });
  const report: Record<string, unknown> = {};
  for (const [k, sql] of Object.entries(input.report ?? {})) report[k] = await engine.rows(sql);
  print({ done: true, report });
  await engine.close();
  process.exit(0);
});
