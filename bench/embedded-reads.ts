/**
 * Benchmark: point reads on the embedded engine while the same process inserts, as `tally serve`
 * does when it ingests and answers endpoints with chDB.
 * - raw chDB: one Session for both (what a program using chDB's session, or @clickhouse/client
 *   over chdb/connection, does): a read waits for the insert in flight;
 * - Tally: its engine (inserts on the engine's session, reads on its read sessions,
 *   src/clickhouse/chdb-reader.ts).
 * Each side inserts 50,000-row batches back to back while one reader sends the same point read
 * (with a server-side param, as endpoints send theirs) one after the other; the read latency
 * (median, p99) and the insert rate are reported.
 *
 * Run: npx tsx bench/embedded-reads.ts [--quick] [--seconds S] [--rounds N]
 * Prints a table, then the `{ bench, metrics }` JSON as the last line of stdout.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine } from '../src/clickhouse/create-engine.ts';
import type { Metric } from './lib/result-schema.ts';
import { median, quantile } from './lib/stats.ts';

const args = process.argv.slice(2);
const option = (name: string, dflt: number) =>
  args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt;
const QUICK = args.includes('--quick');
const SECONDS = option('--seconds', QUICK ? 2 : 5);
const ROUNDS = option('--rounds', QUICK ? 1 : 3);
const BATCH = 50_000;
const FOLDER = join(tmpdir(), `tally-bench-embedded-reads-${process.pid}`);
/** With a server-side param, as endpoints send their string and date params. */
const POINT_READ = (table: string) => `SELECT count() AS c, max(v) AS v FROM ${table} WHERE id = {id:UInt64}`;
const PARAMS = { id: 4242 };

interface Side {
  p50: number;
  p99: number;
  reads: number;
  insertRowsPerS: number;
}

interface RawSession {
  queryAsync(sql: string, opts?: { format?: string }): Promise<{ text(): string }>;
  queryBindAsync(sql: string, params: object, opts?: { format?: string }): Promise<{ text(): string }>;
  close(): void;
}

const rows = Array.from({ length: BATCH }, (_, i) => ({ id: i, v: `event-${i}-${'x'.repeat(200)}` }));

/** Inserts back to back and reads one after the other for SECONDS; the latencies of the reads. */
async function measure(insert: () => Promise<unknown>, read: () => Promise<unknown>): Promise<Side> {
  let writing = true;
  let inserted = 0;
  const t0 = performance.now();
  const writer = (async () => {
    while (writing) {
      await insert();
      inserted += BATCH;
    }
  })();
  await new Promise((r) => setTimeout(r, 200)); // the first insert is in flight
  const lat: number[] = [];
  const start = performance.now();
  while (performance.now() - start < SECONDS * 1000) {
    const t = performance.now();
    await read();
    lat.push(performance.now() - t);
  }
  writing = false;
  await writer;
  const elapsed = (performance.now() - t0) / 1000;
  return {
    p50: quantile(lat, 0.5),
    p99: quantile(lat, 0.99),
    reads: lat.length,
    insertRowsPerS: inserted / elapsed,
  };
}

async function main(): Promise<void> {
  rmSync(FOLDER, { recursive: true, force: true });
  const { Session } = (await import('chdb')) as unknown as { Session: new (path: string) => RawSession };
  const raw = new Session(FOLDER);
  const engine = await createEngine({
    user: 'default',
    password: '',
    database: 'bench',
    embeddedPath: FOLDER,
  });
  const ddl = (t: string) => `CREATE TABLE ${t} (id UInt64, v String) ENGINE = MergeTree ORDER BY id`;
  await raw.queryAsync('CREATE DATABASE IF NOT EXISTS raw');
  await raw.queryAsync(ddl('raw.t'));
  await engine.command(ddl('bench.t'));
  console.log(`${engine.description}: ${SECONDS} s per side, ${ROUNDS} round(s), ${BATCH}-row inserts`);

  const rawSides: Side[] = [];
  const tallySides: Side[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    rawSides.push(
      await measure(
        // The body is built for each insert, as the engine's insert does.
        () =>
          raw.queryAsync(
            `INSERT INTO raw.t FORMAT JSONEachRow\n${rows.map((r) => JSON.stringify(r)).join('\n')}`,
          ),
        () => raw.queryBindAsync(POINT_READ('raw.t'), PARAMS, { format: 'JSONEachRow' }),
      ),
    );
    tallySides.push(
      await measure(
        () => engine.insert('bench.t', rows),
        () => engine.rows(POINT_READ('bench.t'), { params: PARAMS }),
      ),
    );
  }
  const pick = (sides: Side[]): Side => ({
    p50: median(sides.map((s) => s.p50)),
    p99: median(sides.map((s) => s.p99)),
    reads: median(sides.map((s) => s.reads)),
    insertRowsPerS: median(sides.map((s) => s.insertRowsPerS)),
  });
  const r = pick(rawSides);
  const t = pick(tallySides);
  const line = (name: string, s: Side) =>
    console.log(
      `${name.padEnd(34)} read p50 ${s.p50.toFixed(2).padStart(7)} ms  p99 ${s.p99.toFixed(2).padStart(7)} ms  ${String(s.reads).padStart(6)} reads  inserts ${Math.round(s.insertRowsPerS).toLocaleString('en-US').padStart(9)} rows/s`,
    );
  line('raw chDB, one session', r);
  line("Tally's engine (read sessions)", t);
  console.log(
    `read latency while inserting: median ${(r.p50 / t.p50).toFixed(1)}x lower, p99 ${(r.p99 / t.p99).toFixed(1)}x lower; insert rate ${(t.insertRowsPerS / r.insertRowsPerS).toFixed(2)}x`,
  );
  await engine.close();
  raw.close();
  rmSync(FOLDER, { recursive: true, force: true });

  const baseline = (name: string, value: number, unit: string) => ({ name, value, unit });
  const metrics: Metric[] = [
    {
      name: 'point read while the process inserts, median',
      backend: 'embedded',
      value: t.p50,
      unit: 'ms',
      baseline: baseline('raw chDB, reads and inserts on one session', r.p50, 'ms'),
      ratio: r.p50 / t.p50,
    },
    {
      name: 'point read while the process inserts, p99',
      backend: 'embedded',
      value: t.p99,
      unit: 'ms',
      baseline: baseline('raw chDB, reads and inserts on one session', r.p99, 'ms'),
      ratio: r.p99 / t.p99,
    },
    {
      name: 'insert rate meanwhile (50k-row batches)',
      backend: 'embedded',
      value: t.insertRowsPerS,
      unit: 'rows/s',
      baseline: baseline('raw chDB, one session', r.insertRowsPerS, 'rows/s'),
      ratio: t.insertRowsPerS / r.insertRowsPerS,
    },
  ];
  console.log(JSON.stringify({ bench: 'embedded-reads', metrics }));
  process.exit(0);
}

await main();
