// `npm run chaos` (full) and `npm run chaos -- --short` (CI): faults during ingestion and query
// load on both back ends, results printed and written into docs/reliability.md (`--no-write` only
// prints: for CI, which should not change the checkout). Exit 1 on a failure.
// The run starts its own clickhouse-server and Kafka broker (data under .tally/chaos/, ports
// 18123/19000/19009 and 19092/19093 on loopback) so it can restart, kill and pause them; the
// shared services are never touched. `--backend server|embedded` runs one back end only.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { probeClickHouse } from '../src/services/clickhouse-probe.ts';
import { PrivateClickHouse } from '../test/chaos/private-clickhouse.ts';
import { PrivateKafka } from '../test/chaos/private-kafka.ts';
import { type ChaosReport, reportMarkdown, writeResults } from '../test/chaos/results-table.ts';
import { type ChaosBackend, type ChaosResult, runChaos } from '../test/chaos/run-chaos.ts';

const ROOT = join(import.meta.dirname, '..');
const WORK = join(ROOT, '.tally', 'chaos');
const args = process.argv.slice(2);
const short = args.includes('--short');
const only = args.includes('--backend') ? (args[args.indexOf('--backend') + 1] as ChaosBackend) : undefined;
const backends: ChaosBackend[] = only ? [only] : ['server', 'embedded'];
const log = (line: string) => console.log(line);
const t0 = performance.now();
const startedAt = new Date().toISOString();

const clickhouse = new PrivateClickHouse(join(WORK, 'clickhouse'));
const kafka = new PrivateKafka(join(WORK, 'kafka'));
const stopServices = async () => {
  await Promise.all([clickhouse.stop(), kafka.stop()]);
};
// Ctrl-C or a CI timeout: the private servers must not outlive the run.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void stopServices().finally(() => process.exit(130));
  });
}

const results: ChaosResult[] = [];
let services: ChaosReport['services'];
try {
  await Promise.all([clickhouse.prepare(log), kafka.prepare(log)]);
  const [clickhouseStartMs, kafkaStartMs] = await Promise.all([clickhouse.start(), kafka.start()]);
  const probe = await probeClickHouse(clickhouse.url);
  services = {
    clickhouse: `clickhouse-server ${probe.kind === 'clickhouse' ? probe.version : '?'} at ${clickhouse.url}`,
    kafka: `Kafka ${kafka.version} (KRaft) at ${kafka.brokers}`,
    clickhouseStartMs: Math.round(clickhouseStartMs),
    kafkaStartMs: Math.round(kafkaStartMs),
  };
  log(
    `private services: ${services.clickhouse} up in ${services.clickhouseStartMs} ms (pid ${clickhouse.pid}), ${services.kafka} up in ${services.kafkaStartMs} ms (pid ${kafka.pid})`,
  );
  for (const backend of backends) {
    results.push(
      await runChaos({
        short,
        backend,
        ...(backend === 'server' ? { clickhouse } : {}),
        kafka,
        workDir: join(WORK, backend),
        log,
      }),
    );
  }
} finally {
  await stopServices();
}

const report: ChaosReport = {
  mode: short ? 'short' : 'full',
  startedAt,
  durationS: Math.round((performance.now() - t0) / 1000),
  services,
  backends: results,
  ok: results.length === backends.length && results.every((r) => r.ok),
};
let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
} catch {
  // not a git checkout
}
const md = reportMarkdown(report, commit);
console.log(`\n${md}\n`);
const doc = join(ROOT, 'docs', 'reliability.md');
// Only a full run of both back ends is the documented result.
if (existsSync(doc) && !args.includes('--no-write') && !only) writeResults(doc, md);
mkdirSync(WORK, { recursive: true });
writeFileSync(join(WORK, `chaos-${report.mode}.json`), JSON.stringify(report, null, 2));
process.exitCode = report.ok ? 0 : 1;
