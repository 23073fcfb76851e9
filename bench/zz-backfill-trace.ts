import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine } from '../src/clickhouse/create-engine.ts';
import type { Engine } from '../src/clickhouse/engine.ts';
import { applyDeploy } from '../src/deploy/deploy.ts';
import { datasource, pipe, project, withPipe } from '../test/support/model-builder.ts';
const embedded = process.argv.includes('--embedded');
const p = project({
  datasources: [
    datasource('transactions', { columns: [{ name: 'transaction_id', type: 'String' }, { name: 'timestamp', type: 'DateTime' }, { name: 'account_id', type: 'String' }, { name: 'amount', type: 'Decimal(18, 2)' }], engine: 'ReplacingMergeTree', sortingKey: ['account_id', 'timestamp', 'transaction_id'], partitionKey: 'toYYYYMM(timestamp)' }),
    datasource('balances', { columns: [{ name: 'account_id', type: 'String' }, { name: 'balance', type: 'AggregateFunction(sum, Decimal(18, 2))' }], engine: 'AggregatingMergeTree', sortingKey: ['account_id'] }),
  ],
  pipes: [pipe('balances_mv', 'SELECT account_id, sumState(amount) AS balance FROM transactions GROUP BY account_id', 'balances')],
});
const without = withPipe(p, 'balances_mv', undefined);
const base = await createEngine({ user: 'default', password: '', database: `zz_trace_${process.pid}`, embeddedPath: join(tmpdir(), `zz-trace-${process.pid}`), ...(embedded ? {} : { url: 'http://127.0.0.1:8123' }) });
let log: Array<[number, string]> | undefined;
const wrap = <K extends 'command' | 'rows' | 'query'>(k: K) => async (sql: string, o?: unknown) => { const t = performance.now(); try { return await (base[k] as any).call(base, sql, o); } finally { log?.push([performance.now() - t, `${k} ${sql.replace(/\s+/g, ' ').slice(0, 110)}`]); } };
const engine = new Proxy(base, { get: (t, k) => (k === 'command' || k === 'rows' || k === 'query' ? wrap(k) : (t as any)[k]) }) as Engine;
await applyDeploy(without, engine);
await base.command(`INSERT INTO transactions SELECT toString(number), toDateTime('2024-01-01 00:00:00') + number * 7, toString(number % 50000), toDecimal64(number % 1000, 2) / 10 FROM numbers(2000000)`);
for (let r = 0; r < 2; r++) {
  await applyDeploy(without, engine);
  await base.command('TRUNCATE TABLE balances');
  log = [];
  const t = performance.now();
  const res = await applyDeploy(p, engine);
  const total = performance.now() - t;
  const steps = res.steps.map((s) => `${s.kind}:${(s.ms ?? 0).toFixed(0)}`).join(' ');
  if (r === 1) { console.log(`total ${total.toFixed(0)} ms; ${steps}; statements ${log.length}, sum ${log.reduce((a, b) => a + b[0], 0).toFixed(0)} ms`); for (const [ms, s] of log.sort((a, b) => b[0] - a[0]).slice(0, 25)) console.log(ms.toFixed(1).padStart(7), s); }
  log = undefined;
}
await base.command(`DROP DATABASE IF EXISTS ${base.database}__tally_backfill`).catch(() => {});
await base.command(`DROP DATABASE ${base.database}`);
await base.close();
