/**
 * Row parser throughput, alone (no Kafka, no ClickHouse): the example project's `transactions`
 * data source parsing 200k events, best of 5 runs.
 *
 *   npx tsx bench/row-parser.ts           events as the data source expects them
 *   npx tsx bench/row-parser.ts --mixed   half of them v1 events, when the data source has versions
 *   RUNS=10 npx tsx bench/row-parser.ts   more runs (best of)
 */
import { join } from 'node:path';
import { compileRowParser } from '../src/ingest/row-parser.ts';
import { loadProjectOrThrow } from '../src/project/load-project.ts';

const N = 200_000;
const RUNS = Number(process.env.RUNS ?? 5);
const mixed = process.argv.includes('--mixed');

const project = loadProjectOrThrow(join(import.meta.dirname, '..'), { env: {} });
const ds = project.datasources.get('transactions')!;
const parser = compileRowParser(ds);
const versioned = ds.versions !== undefined;

function event(i: number): string {
  const base = {
    transaction_id: String(100_000_000 + i),
    timestamp: `2024-0${1 + (i % 9)}-1${i % 10} 0${i % 10}:1${i % 6}:2${i % 10}`,
    account_id: (0x10000000 + (i % 4000)).toString(16),
    type: i % 3 === 0 ? 'deposit' : 'payment',
    currency: 'USD',
    merchant: i % 5 === 0 ? null : 'Whole Foods',
    description: 'Groceries',
  };
  const cents = ((i * 7919) % 200_000) - 100_000;
  if (mixed && versioned && i % 2 === 0) return JSON.stringify({ ...base, version: 1, amount_cents: cents });
  const amount = (cents / 100).toFixed(2);
  return `${JSON.stringify({ ...base, ...(versioned ? { version: 2 } : {}) }).slice(0, -1)},"amount":${amount}}`;
}

const events = Array.from({ length: N }, (_, i) => event(i));
let best = 0;
let good = 0;
for (let run = 0; run < RUNS; run++) {
  good = 0;
  const t0 = performance.now();
  for (const e of events) if (parser.parseLine(e).ok) good++;
  const rate = N / ((performance.now() - t0) / 1000);
  best = Math.max(best, rate);
}
if (good !== N) throw new Error(`only ${good} of ${N} events parsed`);
console.log(
  `row parser, transactions${versioned ? ' (versioned)' : ''}${mixed ? ', half v1' : ''}: ${Math.round(best).toLocaleString('en')} rows/s (best of ${RUNS}, ${N} events)`,
);
