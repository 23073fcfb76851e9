/**
 * Growth benchmark: how Tally's cost grows with the data, on both ClickHouse back ends.
 *
 * At each size (1x, 10x, 100x: 10k, 100k, 1M events; --quick 1k, 10k, 100k), on a fresh
 * `transactions` table of the example project (its snapshot view attached):
 * - ingest: the same NDJSON events through Tally's ingestion path (`ingestion.append`, 10k-event
 *   requests, 8 in flight: parse, coerce, dedup lookup, insert, bookkeeping), against the raw
 *   engine (`INSERT INTO transactions FORMAT JSONEachRow` of the same lines, 100k per insert);
 * - latency: the example `balance` endpoint (one account's balance folded from the raw log)
 *   through Tally's app (`app.request`, cache off), against the same compiled SQL sent straight
 *   to the engine, sequential requests, alternating in blocks, p50 and p99.
 * 1000 accounts at every size, so each answer folds 10x more events at each step.
 *
 * Each back end runs in its own process (chDB opens one data folder per process).
 *
 * Run: npx tsx bench/growth.ts [--quick] [--backend server|embedded] [--sizes 1000,10000]
 *        [--requests N] [--url http://127.0.0.1:8123]
 * Prints a table, then one JSON line `{ bench, metrics, growth }` (read by bench/run.ts).
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createEngine, quoteIdent } from '../src/clickhouse/create-engine.ts';
import type { Engine } from '../src/clickhouse/engine.ts';
import { applyDeploy } from '../src/deploy/deploy.ts';
import { seenTableName } from '../src/ingest/ingest-tables.ts';
import { type Ingestion, startIngestion } from '../src/ingest/ingestion.ts';
import { loadProjectOrThrow } from '../src/project/load-project.ts';
import type { Endpoint, Project } from '../src/project/model.ts';
import { createApp } from '../src/server/create-app.ts';
import { prepareEndpoint } from '../src/server/run-endpoint.ts';
import { StateHolder } from '../src/server/serving-state.ts';
import { servicesUp } from '../src/services/services.ts';
import { emitResult, rateMetric, timeMetric } from './lib/metric.ts';
import type { BenchOutput, GrowthPoint, Metric } from './lib/result-schema.ts';
import { lastJsonLine, runChild } from './lib/run-child.ts';
import { median, quantile } from './lib/stats.ts';

const REPO = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const QUICK = args.includes('--quick');
const SIZES = flag('--sizes')
  ? flag('--sizes')!.split(',').map(Number)
  : QUICK
    ? [1_000, 10_000, 100_000]
    : [10_000, 100_000, 1_000_000];
const REQUESTS = Number(flag('--requests') ?? (QUICK ? 100 : 300));
/** Latency sampling stops at REQUESTS per side, or after this long with at least MIN_REQUESTS. */
const LATENCY_BUDGET_MS = (QUICK ? 2 : 15) * 1000;
const MIN_REQUESTS = QUICK ? 20 : 30;
const URL_CH = flag('--url') ?? process.env.TALLY_CLICKHOUSE_URL ?? 'http://127.0.0.1:8123';
const BACKEND = flag('--backend') as 'server' | 'embedded' | undefined;
const ACCOUNTS = 1000;
/** Events per append call (one HTTP request's worth) and how many are in flight at once. */
const REQUEST_EVENTS = 10_000;
const IN_FLIGHT = 8;
/** Rows per raw INSERT, as the ingest benchmark's HTTP baseline. */
const RAW_INSERT_ROWS = 100_000;
const ENDPOINT = 'balance';

/** Runs each back end in its own process and merges what they print. */
async function parent(): Promise<void> {
  const pass = args.filter((a, i) => a !== '--backend' && args[i - 1] !== '--backend');
  const outputs: BenchOutput[] = [];
  const notes: string[] = [];
  for (const backend of ['server', 'embedded'] as const) {
    const run = await runChild(import.meta.filename, [...pass, '--backend', backend], {
      cwd: REPO,
      timeoutMs: 30 * 60_000,
      onLine: (l, stream) => {
        if (stream === 'stderr') process.stderr.write(`${l}\n`);
      },
    });
    const last = lastJsonLine(run.stdout) as BenchOutput | undefined;
    if (run.exitCode !== 0 || !last) {
      notes.push(`${backend}: failed (exit ${run.exitCode ?? run.signal}): ${tail(run.stderr)}`);
      continue;
    }
    outputs.push(last);
  }
  const growth = outputs.flatMap((o) => o.growth ?? []);
  printTable(growth);
  emitResult({
    bench: 'growth',
    metrics: outputs.flatMap((o) => o.metrics),
    notes: [...notes, ...outputs.flatMap((o) => o.notes ?? [])],
    growth,
  });
  if (outputs.length < 2) process.exitCode = 1;
}

async function child(backend: 'server' | 'embedded'): Promise<void> {
  if (backend === 'server') {
    await servicesUp({
      projectDir: REPO,
      clickhouseUrl: URL_CH,
      only: ['clickhouse'],
      log: (s) => console.error(s),
    });
  }
  const database = `bench_growth_${process.pid}`;
  const embeddedPath = join(tmpdir(), `tally-bench-growth-${process.pid}`);
  const engine = await createEngine({
    user: 'default',
    password: '',
    database,
    embeddedPath,
    ...(backend === 'server' ? { url: URL_CH } : {}),
  });
  const points: GrowthPoint[] = [];
  const metrics: Metric[] = [];
  const notes: string[] = [];
  let ingestion: Ingestion | undefined;
  try {
    console.error(`growth, ${engine.description}: sizes ${SIZES.join(', ')}; ${REQUESTS} requests per side`);
    const loaded = loadProjectOrThrow(REPO, { env: {} });
    // Cache off: every request is a query, as the straight side.
    const project: Project = {
      ...loaded,
      endpoints: new Map(
        [...loaded.endpoints].map(([n, e]): [string, Endpoint] => [n, { ...e, cacheMs: undefined }]),
      ),
    };
    const tDeploy = performance.now();
    const deployed = await applyDeploy(project, engine);
    if (!deployed.ok) throw new Error(`deploy: ${deployed.error}`);
    console.error(`deployed the example project in ${((performance.now() - tDeploy) / 1000).toFixed(1)} s`);
    ingestion = await startIngestion(project, engine, undefined, {
      consume: false,
      datasources: ['transactions'],
    });
    const holder = new StateHolder({ project, engine, version: 'growth' });
    const app = createApp({ state: holder, tokens: [], coalesce: false, staleness: 'report' });
    const endpoint = project.endpoints.get(ENDPOINT)!;

    // Warm up both paths once (first inserts into new tables, first parser run), untimed.
    const warm = Array.from({ length: 1000 }, (_, i) => event(i, 1000));
    await insertRaw(engine, warm);
    await truncate(engine);
    await appendAll(ingestion, warm);

    for (const events of SIZES) {
      const multiple = events / SIZES[0]!;
      const lines = Array.from({ length: events }, (_, i) => event(i, events));
      const mb = lines.reduce((n, l) => n + Buffer.byteLength(l), 0) / 1e6;

      await truncate(engine);
      const t0 = performance.now();
      const rawMs = await insertRaw(engine, lines);
      await expectCount(engine, events, 'raw insert');
      await truncate(engine);
      const before = totals(ingestion);
      const tallyMs = await appendAll(ingestion, lines);
      const after = totals(ingestion);
      await expectCount(engine, events, 'Tally');

      const accounts = Array.from({ length: 20 }, (_, i) => accountId(i * 37));
      const prepared = accounts.map((a) => prepareEndpoint(holder.get(), endpoint, { account_id: a }));
      const viaTally = async (i: number) => {
        const res = await app.request(
          `/v0/pipes/${ENDPOINT}.json?account_id=${accounts[i % accounts.length]}`,
        );
        const body = await res.text();
        if (res.status !== 200) throw new Error(`Tally answered ${res.status}: ${body.slice(0, 300)}`);
        return body;
      };
      const straight = async (i: number) => {
        const p = prepared[i % prepared.length]!;
        return engine.query(p.compiled.sql, { params: { ...p.compiled.params }, settings: p.settings });
      };
      await sameAnswer(viaTally, straight);
      const t1 = performance.now();
      const lat = await latencies(viaTally, straight);
      const phases = `ingest both ${((t1 - t0) / 1000).toFixed(1)} s, latency ${((performance.now() - t1) / 1000).toFixed(1)} s (${lat.tally.length} requests per side)`;

      const point: GrowthPoint = {
        backend,
        events,
        multiple,
        ingest: { tallyRowsPerS: (events / tallyMs) * 1000, rawRowsPerS: (events / rawMs) * 1000 },
        latency: {
          tallyP50Ms: median(lat.tally),
          rawP50Ms: median(lat.raw),
          tallyP99Ms: quantile(lat.tally, 0.99),
          rawP99Ms: quantile(lat.raw, 0.99),
        },
      };
      points.push(point);
      const split = {
        flushes: after.flushes - before.flushes,
        lookup: after.ms.lookup - before.ms.lookup,
        insert: after.ms.insert - before.ms.insert,
        bookkeeping: after.ms.bookkeeping - before.ms.bookkeeping,
      };
      notes.push(
        `${backend}, ${events.toLocaleString('en-US')} events: Tally ${tallyMs.toFixed(0)} ms in all, ${split.flushes} flushes; waiting on ClickHouse: dedup lookups ${split.lookup.toFixed(0)} ms, inserts ${split.insert.toFixed(0)} ms, bookkeeping ${split.bookkeeping.toFixed(0)} ms; raw inserts ${rawMs.toFixed(0)} ms`,
      );
      const size = `${events.toLocaleString('en-US')} events (${multiple}x)`;
      metrics.push(
        rateMetric(
          `ingest rate, ${size}`,
          point.ingest.tallyRowsPerS,
          'rows/s',
          {
            name: 'same NDJSON inserted straight',
            value: point.ingest.rawRowsPerS,
          },
          { backend },
        ),
        timeMetric(
          `${ENDPOINT} endpoint p50, ${size}`,
          point.latency.tallyP50Ms,
          'ms',
          {
            name: 'same SQL straight',
            value: point.latency.rawP50Ms,
          },
          { backend },
        ),
        timeMetric(
          `${ENDPOINT} endpoint p99, ${size}`,
          point.latency.tallyP99Ms,
          'ms',
          {
            name: 'same SQL straight',
            value: point.latency.rawP99Ms,
          },
          { backend },
        ),
      );
      console.error(
        `${backend.padEnd(8)} ${String(events).padStart(9)} events (${(mb).toFixed(1)} MB): ingest Tally ${fmt(point.ingest.tallyRowsPerS)} rows/s, raw ${fmt(point.ingest.rawRowsPerS)} rows/s; ` +
          `${ENDPOINT} p50 Tally ${point.latency.tallyP50Ms.toFixed(2)} ms, raw ${point.latency.rawP50Ms.toFixed(2)} ms; ${phases}`,
      );
    }
  } finally {
    await ingestion?.stop().catch(() => {});
    await engine.command(`DROP DATABASE IF EXISTS ${quoteIdent(database)}`).catch(() => {});
    await engine.close();
    rmSync(embeddedPath, { recursive: true, force: true });
  }
  emitResult({
    bench: 'growth',
    metrics,
    notes: [
      `${backend}: ${engine.description}; ${ACCOUNTS} accounts; Tally appends ${REQUEST_EVENTS}-event requests, ${IN_FLIGHT} in flight; raw inserts ${RAW_INSERT_ROWS.toLocaleString('en-US')} rows each; up to ${REQUESTS} sequential requests per side per size`,
      ...notes,
    ],
    growth: points,
  });
}

function totals(ingestion: Ingestion) {
  return ingestion.stats().datasources.find((d) => d.name === 'transactions')!.totals;
}

/** Empties the event log and what its views fill: the snapshot and Tally's dedup memory. */
async function truncate(engine: Engine): Promise<void> {
  for (const t of ['transactions', 'account_balances', seenTableName('transactions')])
    await engine.command(`TRUNCATE TABLE ${quoteIdent(t)}`);
}

async function insertRaw(engine: Engine, lines: readonly string[]): Promise<number> {
  const bodies: string[] = [];
  for (let i = 0; i < lines.length; i += RAW_INSERT_ROWS)
    bodies.push(lines.slice(i, i + RAW_INSERT_ROWS).join('\n'));
  const t0 = performance.now();
  for (const body of bodies) await engine.command(`INSERT INTO transactions FORMAT JSONEachRow\n${body}`);
  return performance.now() - t0;
}

/** Tally's append path, as concurrent HTTP requests would use it; resolves once all are stored. */
async function appendAll(ingestion: Ingestion, lines: readonly string[]): Promise<number> {
  const chunks: string[][] = [];
  for (let i = 0; i < lines.length; i += REQUEST_EVENTS) chunks.push(lines.slice(i, i + REQUEST_EVENTS));
  let next = 0;
  let stored = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(IN_FLIGHT, chunks.length) }, async () => {
      while (next < chunks.length) {
        const i = next++;
        const r = await ingestion.append('transactions', chunks[i]!, {
          requestId: `growth-${i}`,
          source: 'append',
        });
        stored += r.successful_rows;
        if (r.quarantined_rows || r.duplicate_rows)
          throw new Error(`append ${i}: ${r.quarantined_rows} quarantined, ${r.duplicate_rows} duplicates`);
      }
    }),
  );
  const ms = performance.now() - t0;
  if (stored !== lines.length) throw new Error(`Tally stored ${stored} of ${lines.length} events`);
  return ms;
}

async function expectCount(engine: Engine, n: number, what: string): Promise<void> {
  const [r] = await engine.rows<{ n: string }>('SELECT toString(count()) AS n FROM transactions');
  if (Number(r!.n) !== n) throw new Error(`${what}: ${r!.n} rows in transactions, expected ${n}`);
}

/** Both sides give the same rows before anything is timed. */
async function sameAnswer(
  viaTally: (i: number) => Promise<string>,
  straight: (i: number) => Promise<{ data: unknown[] }>,
): Promise<void> {
  const a = (JSON.parse(await viaTally(0)) as { data: unknown[] }).data;
  const b = (await straight(0)).data;
  if (JSON.stringify(a) !== JSON.stringify(b) || a.length !== 1)
    throw new Error(`answers differ: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
}

/** Sequential requests, Tally and straight alternating in blocks of 10 so both see the same noise. */
async function latencies(
  viaTally: (i: number) => Promise<unknown>,
  straight: (i: number) => Promise<unknown>,
): Promise<{ tally: number[]; raw: number[] }> {
  for (let i = 0; i < 10; i++) {
    await viaTally(i);
    await straight(i);
  }
  const tally: number[] = [];
  const raw: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < REQUESTS; i += 10) {
    if (i >= MIN_REQUESTS && performance.now() - t0 > LATENCY_BUDGET_MS) break;
    for (let j = i; j < Math.min(REQUESTS, i + 10); j++) {
      const t0 = performance.now();
      await viaTally(j);
      tally.push(performance.now() - t0);
    }
    for (let j = i; j < Math.min(REQUESTS, i + 10); j++) {
      const t0 = performance.now();
      await straight(j);
      raw.push(performance.now() - t0);
    }
  }
  return { tally, raw };
}

const TYPES = ['deposit', 'payment', 'transfer', 'withdrawal', 'refund', 'fee'];
const YEAR_S = 365 * 86_400;

/** About 300 bytes of JSON, readable as is by Tally and by ClickHouse's JSONEachRow. */
function event(i: number, size: number): string {
  const d = new Date(Date.UTC(2024, 0, 1) + Math.floor((i * YEAR_S) / size) * 1000);
  return JSON.stringify({
    transaction_id: `g${size}-${i.toString(36).padStart(8, '0')}-${((i * 2654435761) >>> 0).toString(16).padStart(8, '0')}`,
    timestamp: d.toISOString().slice(0, 19).replace('T', ' '),
    account_id: accountId(i % ACCOUNTS),
    type: TYPES[i % TYPES.length],
    amount: Number((((i * 37) % 200_000) / 100 - 1000).toFixed(2)),
    currency: ['EUR', 'USD', 'GBP'][i % 3],
    merchant: i % 4 === 0 ? null : `merchant-${i % 1733}`,
    description: `Card payment ${i % 97} at store ${i % 389}, reference ${(i * 31337).toString(16)}, terminal ${i % 53}, batch ${i % 7919} of the day`,
  });
}

function accountId(n: number): string {
  return `acct-${n.toString().padStart(6, '0')}`;
}

function printTable(points: readonly GrowthPoint[]): void {
  console.log(
    '| back end | events | Tally ingest rows/s | raw rows/s | ratio | Tally p50 ms | raw p50 ms | ratio | Tally p99 ms | raw p99 ms |',
  );
  console.log('| --- | --: | --: | --: | --: | --: | --: | --: | --: | --: |');
  for (const p of points) {
    const i = p.ingest;
    const l = p.latency;
    console.log(
      `| ${p.backend} | ${p.events.toLocaleString('en-US')} (${p.multiple}x) | ${fmt(i.tallyRowsPerS)} | ${fmt(i.rawRowsPerS)} | ${(i.tallyRowsPerS / i.rawRowsPerS).toFixed(2)} | ${l.tallyP50Ms.toFixed(2)} | ${l.rawP50Ms.toFixed(2)} | ${(l.rawP50Ms / l.tallyP50Ms).toFixed(2)} | ${l.tallyP99Ms.toFixed(2)} | ${l.rawP99Ms.toFixed(2)} |`,
    );
  }
}

function fmt(x: number): string {
  return Math.round(x).toLocaleString('en-US');
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-5).join(' | ').slice(0, 800);
}

if (BACKEND) await child(BACKEND);
else await parent();
