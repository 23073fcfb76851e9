/**
 * Benchmark: backfill throughput of a new materialized view (deploy's create-view + backfill
 * steps: hold, snapshot, attach, INSERT ... SELECT over the snapshot) against a plain
 * INSERT ... SELECT of the same query over the same data, in the same run, alternating, median
 * of the rounds (5 by default). Goal: backfill >= 80% of the plain throughput.
 * Throughput is judged on a large backfill (100M rows by default): a backfill also has a fixed
 * cost per source partition (the snapshot's hard links, ~0.1 s for 54 partitions on 18.16) that
 * no row count changes; `--rows 20000000` shows how much of a small backfill it is.
 *
 * Run: npx tsx bench/backfill.ts [--rows 100000000] [--rounds 5] [--url http://127.0.0.1:8123] [--embedded]
 */

import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, quoteIdent } from '../src/clickhouse/create-engine.ts';
import { applyDeploy, ddlContextFor } from '../src/deploy/deploy.ts';
import { viewSpecFor } from '../src/deploy/view-spec.ts';
import { datasource, pipe, project, withPipe } from '../test/support/model-builder.ts';

const args = process.argv.slice(2);
const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const ROWS = Number(flag('--rows') ?? 100_000_000);
const embedded = args.includes('--embedded');
const url = flag('--url') ?? process.env.TALLY_CLICKHOUSE_URL ?? 'http://127.0.0.1:8123';
const ROUNDS = Number(flag('--rounds') ?? 5);
/** The log's time span, whatever its size: 140M s (54 monthly partitions), more rows per partition as it grows. */
const SPAN_S = 140_000_000;

const p = project({
  datasources: [
    datasource('transactions', {
      columns: [
        { name: 'transaction_id', type: 'String' },
        { name: 'timestamp', type: 'DateTime' },
        { name: 'account_id', type: 'String' },
        { name: 'type', type: 'String' },
        { name: 'amount', type: 'Decimal(18, 2)' },
        { name: 'currency', type: 'String' },
        { name: 'merchant', type: 'Nullable(String)' },
        { name: 'description', type: 'String' },
      ],
      engine: 'ReplacingMergeTree',
      sortingKey: ['account_id', 'timestamp', 'transaction_id'],
      partitionKey: 'toYYYYMM(timestamp)',
    }),
    datasource('balances', {
      columns: [
        { name: 'account_id', type: 'String' },
        { name: 'balance', type: 'AggregateFunction(sum, Decimal(18, 2))' },
        { name: 'transactions', type: 'AggregateFunction(count)' },
        { name: 'updated_at', type: 'AggregateFunction(max, DateTime)' },
      ],
      engine: 'AggregatingMergeTree',
      sortingKey: ['account_id'],
    }),
  ],
  pipes: [
    pipe(
      'balances_mv',
      'SELECT account_id, sumState(amount) AS balance, countState() AS transactions, maxState(timestamp) AS updated_at FROM transactions GROUP BY account_id',
      'balances',
    ),
  ],
});
const withoutView = withPipe(p, 'balances_mv', undefined);

const database = `bench_backfill_${process.pid}`;
const embeddedPath = join(tmpdir(), `tally-bench-backfill-${process.pid}`);
const engine = await createEngine({
  user: 'default',
  password: '',
  database,
  embeddedPath,
  ...(embedded ? {} : { url }),
});
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
try {
  console.log(`${engine.description}: ${ROWS.toLocaleString('en-US')} source rows`);
  const ok = await applyDeploy(withoutView, engine);
  if (!ok.ok) throw new Error(ok.error);
  for (let i = 0; i < 10; i++) {
    await engine.command(
      `INSERT INTO transactions SELECT toString(number), toDateTime('2024-01-01 00:00:00') + intDiv(number * ${SPAN_S}, ${ROWS}), toString(number % 50000), 'payment', toDecimal64(number % 1000, 2) / 10, 'USD', NULL, 'some description text here' FROM numbers(${(i * ROWS) / 10}, ${ROWS / 10})`,
    );
  }
  const view = viewSpecFor(p, p.pipes.get('balances_mv')!, ddlContextFor(p, engine));
  await engine.command(`CREATE TABLE plain_target AS ${quoteIdent(database)}.balances`);
  const cols = '`account_id`, `balance`, `transactions`, `updated_at`';
  // Warm caches once, so neither side pays for the first read.
  await engine.command(`INSERT INTO plain_target (${cols}) ${view.query}`);

  const plain: number[] = [];
  const backfill: number[] = [];
  const fill: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    await engine.command('TRUNCATE TABLE plain_target');
    let t = performance.now();
    await engine.command(`INSERT INTO plain_target (${cols}) ${view.query}`);
    plain.push(performance.now() - t);

    await applyDeploy(withoutView, engine);
    await engine.command('TRUNCATE TABLE balances');
    t = performance.now();
    const res = await applyDeploy(p, engine);
    if (!res.ok) throw new Error(res.error);
    const steps = res.steps.filter((s) => s.kind === 'create-view' || s.kind === 'backfill');
    backfill.push(steps.reduce((n, s) => n + (s.ms ?? 0), 0));
    fill.push(res.steps.find((s) => s.kind === 'backfill')?.ms ?? 0);
  }
  const [a] = await engine.rows<{ n: string }>(
    'SELECT toString(countMerge(transactions)) AS n FROM balances',
  );
  if (Number(a!.n) !== ROWS) throw new Error(`backfill counted ${a!.n} rows, expected ${ROWS}`);
  const mp = median(plain);
  const mb = median(backfill);
  const rate = (ms: number) => `${(((ROWS / ms) * 1000) / 1e6).toFixed(1)} M rows/s`;
  console.log(
    `plain INSERT ... SELECT:          median ${mp.toFixed(0)} ms (${rate(mp)})  [${plain.map((x) => x.toFixed(0)).join(', ')}]`,
  );
  console.log(
    `backfill (create-view + backfill): median ${mb.toFixed(0)} ms (${rate(mb)})  [${backfill.map((x) => x.toFixed(0)).join(', ')}]; the INSERT alone ${median(fill).toFixed(0)} ms`,
  );
  const ratio = mp / mb;
  console.log(
    `backfill throughput / plain: ${(ratio * 100).toFixed(0)}% (goal >= 80%) ${ratio >= 0.8 ? 'OK' : 'SLOW'}`,
  );
} finally {
  await engine
    .command(`DROP DATABASE IF EXISTS ${quoteIdent(`${database}__tally_backfill`)}`)
    .catch(() => {});
  await engine.command(`DROP DATABASE IF EXISTS ${quoteIdent(database)}`).catch(() => {});
  await engine.close();
  rmSync(embeddedPath, { recursive: true, force: true });
}
