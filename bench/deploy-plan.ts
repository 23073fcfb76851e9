/**
 * Benchmark: plan a generated project of 200 data sources (150 event logs, 50 snapshots filled
 * by 50 materialized pipes) against a live ClickHouse server, once the project is deployed (the
 * redeploy case: introspection, bookkeeping, diff). Goal: under 2 s. Also prints the first
 * deploy, a no-change redeploy, and the check `tally serve` makes before it serves (every node of
 * the 150 endpoint pipes tried on the deployed tables) beside the same check one pipe at a time.
 *
 * Run: npx tsx bench/deploy-plan.ts [--url http://127.0.0.1:8123] [--embedded]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, quoteIdent } from '../src/clickhouse/create-engine.ts';
import { applyDeploy, planDeploy } from '../src/deploy/deploy.ts';
import { loadProjectOrThrow } from '../src/project/load-project.ts';
import { checkServedPipes } from '../src/runtime/check-served-pipes.ts';

const EVENTS = 150;
const SNAPSHOTS = 50;
const args = process.argv.slice(2);
const embedded = args.includes('--embedded');
const url =
  args[args.indexOf('--url') + 1] && args.includes('--url')
    ? args[args.indexOf('--url') + 1]!
    : (process.env.TALLY_CLICKHOUSE_URL ?? 'http://127.0.0.1:8123');

function eventSource(i: number): string {
  return `description: Event log ${i}
source:
  kafka: { topic: events_${i}, start: earliest, metadata: [__partition, __offset] }
columns:
  - { name: id,         type: String,                 json: $.id }
  - { name: at,         type: DateTime,               json: $.at }
  - { name: account_id, type: String,                 json: $.account.id, comment: the account }
  - { name: amount,     type: Decimal(18, 2),         json: $.amount }
  - { name: kind,       type: String,                 json: "$.kind" }
  - { name: currency,   type: String,                 json: $.currency, default: USD }
  - { name: tags,       type: Array(String),          json: "$.tags" }
  - { name: merchant,   type: Nullable(String),       json: "$.merchant['name']" }
engine:
  type: ReplacingMergeTree
  sorting_key: [account_id, at, id]
  partition_key: toYYYYMM(at)
dedup_key: id
`;
}

const snapshot = `columns:
  - { name: account_id, type: String }
  - { name: total,      type: AggregateFunction(sum, Decimal(18, 2)) }
  - { name: last_at,    type: AggregateFunction(max, DateTime) }
engine:
  type: AggregatingMergeTree
  sorting_key: account_id
`;

const materialized = (events: number, snap: number) => `nodes:
  - name: totals
    sql: |
      SELECT account_id, sumState(amount) AS total, maxState(at) AS last_at
      FROM ds_${events} GROUP BY account_id
materialize: { to: snap_${snap} }
`;

/** An endpoint per event log: a filter node and an aggregate that reads it. */
const endpointPipe = (events: number) => `params:
  account_id: { type: String, required: true }
  since: { type: DateTime, default: "2024-01-01 00:00:00" }
nodes:
  - name: recent
    sql: |
      SELECT at, amount, kind FROM ds_${events}
      WHERE account_id = {{ account_id }} AND at >= {{ since }}
  - name: totals
    sql: SELECT kind, sum(amount) AS total, count() AS n FROM recent GROUP BY kind ORDER BY kind
`;

const dir = mkdtempSync(join(tmpdir(), 'tally-bench-plan-'));
mkdirSync(join(dir, 'datasources'));
mkdirSync(join(dir, 'pipes'));
for (let i = 0; i < EVENTS; i++)
  writeFileSync(join(dir, 'datasources', `ds_${i}.datasource.yaml`), eventSource(i));
mkdirSync(join(dir, 'endpoints'));
for (let i = 0; i < EVENTS; i++) {
  writeFileSync(join(dir, 'pipes', `by_account_${i}.pipe.yaml`), endpointPipe(i));
  writeFileSync(join(dir, 'endpoints', `by_account_${i}.endpoint.yaml`), `pipe: by_account_${i}\n`);
}
for (let j = 0; j < SNAPSHOTS; j++) {
  writeFileSync(join(dir, 'datasources', `snap_${j}.datasource.yaml`), snapshot);
  writeFileSync(join(dir, 'pipes', `snap_${j}_mv.pipe.yaml`), materialized(j, j));
}

const database = `bench_plan_${process.pid}`;
const project = loadProjectOrThrow(dir, { env: {} });
const engine = await createEngine({
  user: 'default',
  password: '',
  database,
  embeddedPath: join(dir, '.tally', 'chdb'),
  ...(embedded ? {} : { url }),
});
try {
  console.log(
    `${engine.description}: ${project.datasources.size} data sources, ${project.pipes.size} pipes (${SNAPSHOTS} materialized, ${project.endpoints.size} endpoints)`,
  );
  let t = performance.now();
  const empty = await planDeploy(project, engine);
  console.log(
    `plan against an empty database: ${(performance.now() - t).toFixed(0)} ms (${empty.steps.length} steps)`,
  );
  t = performance.now();
  const first = await applyDeploy(project, engine);
  if (!first.ok) throw new Error(first.error);
  console.log(`first deploy: ${(performance.now() - t).toFixed(0)} ms (${first.changes} steps)`);
  const times: number[] = [];
  for (let k = 0; k < 7; k++) {
    t = performance.now();
    const plan = await planDeploy(project, engine);
    times.push(performance.now() - t);
    if (plan.steps.length !== 0)
      throw new Error(`expected no changes, got ${plan.steps.map((s) => s.what).join('; ')}`);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  console.log(
    `plan of the deployed project (200 data sources): median ${median.toFixed(0)} ms, max ${times.at(-1)!.toFixed(0)} ms (goal < 2000 ms) ${median < 2000 ? 'OK' : 'SLOW'}`,
  );
  t = performance.now();
  const again = await applyDeploy(project, engine);
  console.log(
    `redeploy with no changes: ${(performance.now() - t).toFixed(0)} ms (${again.changes} changes)`,
  );
  // What `tally serve` checks before it serves, as it runs it and one pipe at a time.
  const startCheck = async (pipesAtOnce?: number) => {
    const runs: number[] = [];
    for (let k = 0; k < 3; k++) {
      const t0 = performance.now();
      const problems = await checkServedPipes(project, engine, pipesAtOnce);
      runs.push(performance.now() - t0);
      if (problems.length > 0) throw new Error(`served pipes refused: ${problems[0]!.message}`);
    }
    return runs.sort((a, b) => a - b)[1]!;
  };
  const sequential = await startCheck(1);
  const usual = await startCheck();
  console.log(
    `serve start check of ${project.endpoints.size} endpoint pipes (${project.endpoints.size * 2} nodes): median ${usual.toFixed(0)} ms; one pipe at a time: median ${sequential.toFixed(0)} ms`,
  );
} finally {
  await engine.command(`DROP DATABASE IF EXISTS ${quoteIdent(database)}`).catch(() => {});
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
}
