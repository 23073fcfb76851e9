// `npm run chaos` (full, about 4-5 minutes) and `npm run chaos -- --short` (about 3 minutes):
// faults during ingestion and query load, results printed and written into docs/reliability.md
// (`--no-write` only prints: for CI, which should not change the checkout). Exit 1 on a failure.
// Needs the ClickHouse server and Kafka (`tally services up`; started here when absent).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resultsMarkdown, writeResults } from '../test/chaos/results-table.ts';
import { runChaos } from '../test/chaos/run-chaos.ts';

const ROOT = join(import.meta.dirname, '..');
const short = process.argv.includes('--short');
const clickhouseUrl = process.env.TALLY_CLICKHOUSE_URL || 'http://127.0.0.1:8123';
const brokers = process.env.TALLY_KAFKA_BROKERS || '127.0.0.1:9092';

async function reachable(): Promise<boolean> {
  const ch = await fetch(`${clickhouseUrl}/ping`, { signal: AbortSignal.timeout(2000) })
    .then((r) => r.ok)
    .catch(() => false);
  const { createConnection } = await import('node:net');
  const [host, port] = (brokers.split(',')[0] as string).split(':');
  const kafka = await new Promise<boolean>((resolve) => {
    const s = createConnection(Number(port), host as string);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  return ch && kafka;
}

if (!(await reachable())) {
  console.log('ClickHouse or Kafka is not reachable: `tally services up`');
  execFileSync(process.execPath, [join(ROOT, 'bin', 'tally.js'), 'services', 'up'], {
    stdio: 'inherit',
    cwd: ROOT,
  });
}

const result = await runChaos({ short, clickhouseUrl, brokers, log: (l) => console.log(l) });
let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
} catch {
  // not a git checkout
}
const md = resultsMarkdown(result, commit);
console.log(`\n${md}\n`);
const doc = join(ROOT, 'docs', 'reliability.md');
if (existsSync(doc) && !process.argv.includes('--no-write')) writeResults(doc, md);
mkdirSync(join(ROOT, '.tally'), { recursive: true });
writeFileSync(join(ROOT, '.tally', `chaos-${result.mode}.json`), JSON.stringify(result, null, 2));
process.exitCode = result.ok ? 0 : 1;
