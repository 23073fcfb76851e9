import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Engine } from '../../src/clickhouse/engine.ts';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import { type Ingestion, startIngestion } from '../../src/ingest/ingestion.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import type { Project } from '../../src/project/model.ts';
import { Runtime } from '../../src/runtime/runtime.ts';
import { CopyScheduler } from '../../src/snapshot/copy-scheduler.ts';
import { runCopy } from '../../src/snapshot/run-copy.ts';
import { compilePipe } from '../../src/sql/compile-pipe.ts';
import { forEachBackend } from '../support/backends.ts';
import { exampleWithSettle } from '../support/snapshot-project.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

/**
 * Periodic snapshots (copy pipes) on the example project: "as of T" read as the latest snapshot
 * plus the tail must equal the fold of the raw log, for several accounts and instants, with late
 * events (past timestamps arriving after a snapshot) and events arriving while a copy runs.
 */

const SETTLE = 2;
const ACCOUNTS = ['acc_1', 'acc_2', 'acc_3', 'acc_4', 'acc_5', 'acc_6'];
const T1 = '2024-03-05 00:00:00';
const T2 = '2024-03-08 00:00:00';
const T3 = '2024-03-09 00:00:00';
const INSTANTS = [
  '2024-03-02 00:00:00',
  '2024-03-04 23:59:59',
  T1,
  '2024-03-05 00:00:01',
  '2024-03-06 12:00:00',
  T2,
  '2024-03-08 18:30:00',
  T3,
  '2024-03-20 00:00:00',
  undefined,
];

afterAll(removeProjects);

/** A small deterministic generator (mulberry32), so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let nextId = 0;
/** `count` transactions spread between `from` and `to` (UTC), over `accounts`. */
function transactions(
  random: () => number,
  count: number,
  from: string,
  to: string,
  accounts = ACCOUNTS,
): string[] {
  const a = Date.parse(`${from.replace(' ', 'T')}Z`);
  const b = Date.parse(`${to.replace(' ', 'T')}Z`);
  return Array.from({ length: count }, () => {
    const at = new Date(a + Math.floor(random() * ((b - a) / 1000)) * 1000);
    const cents = Math.floor(random() * 200_000) - 60_000;
    return JSON.stringify({
      transaction_id: `tx_${++nextId}`,
      timestamp: at.toISOString().slice(0, 19).replace('T', ' '),
      account_id: accounts[Math.floor(random() * accounts.length)],
      type: cents >= 0 ? 'deposit' : 'payment',
      amount: cents / 100,
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Balance {
  account_id: string;
  balance: string;
  transactions: string;
  updated_at: string;
}

forEachBackend('copy pipes and as-of over snapshots', (ctx) => {
  let project: Project;
  let ingestion: Ingestion;
  const random = rng(20240305);

  const append = async (ds: string, events: string[]) => {
    const r = await ingestion.append(ds, events, { requestId: `test-${nextId}`, source: 'append' });
    expect(r.successful_rows + r.duplicate_rows).toBe(events.length); // the fixtures hold duplicates
  };

  /** The balance pipe (snapshot + tail), with its values as text. */
  const viaPipe = async (engine: Engine, account: string, asOf?: string): Promise<Balance[]> => {
    const q = compilePipe(
      project,
      'balance',
      { account_id: account, ...(asOf ? { as_of: asOf } : {}) },
      { capabilities: engine.capabilities, database: engine.database },
    );
    return engine.rows<Balance>(
      `SELECT account_id, toString(balance) AS balance, toString(transactions) AS transactions, toString(updated_at) AS updated_at FROM (${q.sql})`,
      { params: { ...q.params } },
    );
  };

  /** The plain fold of the raw log, the truth. */
  const viaFold = async (engine: Engine, account: string, asOf?: string): Promise<Balance[]> => {
    const rows = await engine.rows<Balance>(
      `SELECT account_id, toString(sum(amount)) AS balance, toString(count()) AS transactions, toString(max(timestamp)) AS updated_at
       FROM transactions FINAL WHERE account_id = '${account}' ${asOf ? `AND timestamp <= toDateTime('${asOf}', 'UTC')` : ''}
       GROUP BY account_id`,
    );
    return rows;
  };

  const snapshotOf = async (engine: Engine, account: string, asOf?: string) => {
    const q = compilePipe(
      project,
      'balance',
      { account_id: account, ...(asOf ? { as_of: asOf } : {}) },
      { capabilities: engine.capabilities, database: engine.database, node: 'snapshot' },
    );
    // Epoch seconds: 18.16 prints the zero DateTime as 0000-00-00 00:00:00, newer ones as 1970-01-01.
    const sql = `SELECT toString(toUInt32(snap_at)) AS s FROM (${q.sql})`;
    const [row] = await engine.rows<{ s: string }>(sql, { params: { ...q.params } });
    return row?.s;
  };

  const expectAsOfEqualsFold = async () => {
    for (const account of [...ACCOUNTS, 'acc_late_only', 'nobody']) {
      for (const asOf of INSTANTS) {
        const [pipe, fold] = [
          await viaPipe(ctx.engine, account, asOf),
          await viaFold(ctx.engine, account, asOf),
        ];
        expect(pipe, `${account} as of ${asOf ?? 'now'}`).toEqual(fold);
      }
    }
  };

  beforeAll(async () => {
    project = loadProjectOrThrow(exampleWithSettle(SETTLE), { env: {} });
    const deployed = await applyDeploy(project, ctx.engine);
    expect(deployed.ok, deployed.error).toBe(true);
    ingestion = await startIngestion(project, ctx.engine, undefined, { consume: false });
  });

  afterAll(async () => {
    await ingestion?.stop();
  });

  it('snapshots the settled events at each tick, and as of any instant equals the fold', async () => {
    await append('transactions', transactions(random, 120, '2024-03-01 00:00:00', '2024-03-10 00:00:00'));
    await sleep((SETTLE + 1.2) * 1000); // every event above is now settled
    const r1 = await runCopy(project, ctx.engine, 'balance_snapshots', new Date('2024-03-05T00:00:00Z'));
    expect(r1).toMatchObject({ pipe: 'balance_snapshots', to: 'balance_snapshots', snapshotAt: T1 });
    expect(r1.rows).toBe(ACCOUNTS.length);
    const r2 = await runCopy(project, ctx.engine, 'balance_snapshots', new Date('2024-03-08T00:00:00Z'));
    expect(r2.rows).toBe(ACCOUNTS.length);
    // The snapshot is used: as of an instant after T1 reads T1's row.
    expect(await snapshotOf(ctx.engine, 'acc_1', '2024-03-06 12:00:00')).toBe(
      String(Date.parse('2024-03-05T00:00:00Z') / 1000),
    );
    expect(await snapshotOf(ctx.engine, 'acc_1', '2024-03-04 00:00:00')).toBe('0');
    await expectAsOfEqualsFold();
  });

  it('counts late events (past timestamps arriving after the snapshot) exactly once', async () => {
    const before = await viaPipe(ctx.engine, 'acc_1', T1);
    // Late: timestamps before T1 and between T1 and T2, arriving after both snapshots, and an
    // account that only late events know.
    await append('transactions', [
      ...transactions(random, 20, '2024-03-01 00:00:00', T1),
      ...transactions(random, 20, T1, T2),
      ...transactions(random, 3, '2024-03-02 00:00:00', '2024-03-03 00:00:00', ['acc_late_only']),
      JSON.stringify({
        transaction_id: 'late_1',
        timestamp: '2024-03-04 10:00:00',
        account_id: 'acc_1',
        type: 'deposit',
        amount: 1000.5,
      }),
    ]);
    const after = await viaPipe(ctx.engine, 'acc_1', T1);
    expect(Number(after[0]!.balance)).toBeGreaterThanOrEqual(Number(before[0]!.balance) + 1000.5);
    await expectAsOfEqualsFold();

    // The check can fail: ignoring ingested_at, "as of T1" would be T1's snapshot alone (no
    // event has a timestamp after T1 and at or before it), which misses the late events.
    const [snap] = await ctx.engine.rows<{ b: string }>(
      `SELECT toString(balance) AS b FROM balance_snapshots FINAL WHERE account_id = 'acc_1' AND snapshot_at = toDateTime('${T1}', 'UTC')`,
    );
    const [truth] = await viaFold(ctx.engine, 'acc_1', T1);
    expect(Number(snap!.b)).not.toBe(Number(truth!.balance));
    expect(after).not.toEqual(before);
  });

  it('stays exact with events arriving while a copy runs and just after it', async () => {
    const copy = runCopy(project, ctx.engine, 'balance_snapshots', new Date('2024-03-09T00:00:00Z'));
    const writes = (async () => {
      for (let i = 0; i < 5; i++) {
        await append('transactions', transactions(random, 10, '2024-03-03 00:00:00', '2024-03-12 00:00:00'));
        await sleep(40);
      }
    })();
    const [run] = await Promise.all([copy, writes]);
    expect(run.snapshotAt).toBe(T3);
    await append('transactions', transactions(random, 10, '2024-03-07 00:00:00', '2024-03-09 00:00:00'));
    await expectAsOfEqualsFold();
  });

  it('writes one row per account and tick however often the tick runs (ReplacingMergeTree by settled_before)', async () => {
    const tick = new Date('2024-03-08T00:00:00Z');
    await runCopy(project, ctx.engine, 'balance_snapshots', tick);
    await sleep(1100); // a later settled_before: the newest run must win
    const last = await runCopy(project, ctx.engine, 'balance_snapshots', tick);
    const [stored] = await ctx.engine.rows<{ rows: string; accounts: string; newest: string }>(
      `SELECT toString(count()) AS rows, toString(uniqExact(account_id)) AS accounts, toString(max(settled_before)) AS newest
       FROM balance_snapshots FINAL WHERE snapshot_at = toDateTime('${T2}', 'UTC')`,
    );
    expect(stored!.rows).toBe(stored!.accounts);
    expect(stored!.newest).toBe(last.settledBefore);
    const [raw] = await ctx.engine.rows<{ n: string }>(
      `SELECT toString(count()) AS n FROM balance_snapshots WHERE snapshot_at = toDateTime('${T2}', 'UTC')`,
    );
    expect(Number(raw!.n)).toBeGreaterThan(Number(stored!.rows)); // the duplicates exist; FINAL folds them
    await expectAsOfEqualsFold();
  });

  it('answers subscription status as of an instant from the snapshot plus late events', async () => {
    const fixtures = (await import('node:fs'))
      .readFileSync(`${project.root}/fixtures/subscription_events.ndjson`, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '');
    await append('subscription_events', fixtures);
    await sleep((SETTLE + 1.2) * 1000);
    await runCopy(project, ctx.engine, 'subscription_status_snapshots', new Date('2024-02-25T00:00:00Z'));
    // Late: 923890 was deleted on Feb 24 (an event that arrives after the snapshot).
    await append('subscription_events', [
      JSON.stringify({
        event_id: 'late-deleted-923890',
        timestamp: '2024-02-24 08:00:00',
        event_name: 'subscription_deleted',
        subscription_id: 923890,
        user_id: 4329878,
        plan: 'premium',
      }),
    ]);
    const status = async (id: number, asOf: string) => {
      const q = compilePipe(
        project,
        'subscription_status',
        { subscription_id: String(id), as_of: asOf },
        { capabilities: ctx.engine.capabilities, database: ctx.engine.database },
      );
      return ctx.engine.rows<Record<string, unknown>>(
        `SELECT toString(subscription_id) AS id, status, plan, toString(updated_at) AS updated_at FROM (${q.sql})`,
        { params: { ...q.params } },
      );
    };
    const fold = (id: number, asOf: string) =>
      ctx.engine.rows<Record<string, unknown>>(
        `SELECT toString(subscription_id) AS id,
           argMax(multiIf(event_name IN ('subscription_created', 'subscription_updated', 'subscription_reactivated'), 'active',
             event_name IN ('subscription_suspended', 'subscription_payment_rejected'), 'suspended',
             event_name = 'subscription_deleted', 'deleted', 'unknown'), (timestamp, event_id)) AS status,
           argMax(plan, (timestamp, event_id)) AS plan, toString(max(timestamp)) AS updated_at
         FROM subscription_events WHERE subscription_id = ${id} AND timestamp <= toDateTime('${asOf}', 'UTC')
         GROUP BY subscription_id`,
      );
    expect(await status(923890, '2024-02-25 12:00:00')).toEqual([
      { id: '923890', status: 'deleted', plan: 'premium', updated_at: '2024-02-24 08:00:00' },
    ]);
    const ids = await ctx.engine.rows<{ id: string }>(
      'SELECT DISTINCT toString(subscription_id) AS id FROM subscription_events ORDER BY id LIMIT 25',
    );
    for (const { id } of ids) {
      for (const asOf of [
        '2024-01-15 00:00:00',
        '2024-02-25 00:00:00',
        '2024-02-26 00:00:00',
        '2024-04-01 00:00:00',
      ]) {
        expect(await status(Number(id), asOf), `${id} as of ${asOf}`).toEqual(await fold(Number(id), asOf));
      }
    }
  });

  it('fires a copy at its tick, re-arms for the next one, and stops cleanly', async () => {
    const realNow = Date.now();
    const tick = Math.ceil((realNow + 1000) / 3_600_000) * 3_600_000; // the next hour, at least 1 s ahead
    const offset = tick - realNow - 400; // the scheduler's clock reaches the tick in 400 ms
    const logs: Array<Record<string, unknown>> = [];
    let done = () => {};
    const written = new Promise<void>((resolve) => {
      done = resolve;
    });
    const scheduler = new CopyScheduler({
      engine: ctx.engine,
      now: () => Date.now() + offset,
      log: (e) => {
        logs.push(e);
        if (logs.filter((l) => l.msg === 'snapshot written').length === 2) done();
      },
    });
    stopAfterAll.push(scheduler);
    scheduler.schedule(project);
    expect(scheduler.pending().map((p) => p.pipe)).toEqual([
      'balance_snapshots',
      'subscription_status_snapshots',
    ]);
    await written;
    const at = new Date(tick).toISOString().slice(0, 19).replace('T', ' ');
    expect(
      logs
        .filter((l) => l.msg === 'snapshot written')
        .map((l) => [l.pipe, l.snapshot_at])
        .sort(),
    ).toEqual([
      ['balance_snapshots', at],
      ['subscription_status_snapshots', at],
    ]);
    const [n] = await ctx.engine.rows<{ n: string }>(
      `SELECT toString(count()) AS n FROM balance_snapshots FINAL WHERE snapshot_at = toDateTime('${at}', 'UTC')`,
    );
    expect(Number(n!.n)).toBe(ACCOUNTS.length + 1); // acc_late_only too
    const next = new Date(tick + 3_600_000).toISOString().slice(0, 19).replace('T', ' ');
    expect(scheduler.pending()).toContainEqual({ pipe: 'balance_snapshots', next });
    await scheduler.stop();
    expect(scheduler.pending()).toEqual([]);
  });

  it('skips a tick while the previous run of the pipe is still going, without stacking', async () => {
    const logs: Array<Record<string, unknown>> = [];
    const scheduler = new CopyScheduler({ engine: ctx.engine, log: (e) => logs.push(e) });
    scheduler.schedule(project);
    const tick = new Date('2024-03-06T00:00:00Z');
    const first = scheduler.fire('balance_snapshots', tick);
    const second = await scheduler.fire('balance_snapshots', new Date('2024-03-06T01:00:00Z'));
    expect(second).toBeUndefined();
    expect(logs).toContainEqual({
      level: 'warn',
      msg: 'snapshot skipped: the previous run of this copy pipe is still going',
      pipe: 'balance_snapshots',
      snapshot_at: '2024-03-06 01:00:00',
    });
    expect((await first)?.snapshotAt).toBe('2024-03-06 00:00:00');
    // Once it is done, the next tick runs.
    expect((await scheduler.fire('balance_snapshots', new Date('2024-03-06T02:00:00Z')))?.rows).toBe(
      ACCOUNTS.length + 1,
    );
    await scheduler.stop();
    await expectAsOfEqualsFold();
  });
});

forEachBackend('the copy scheduler in the runtime', (ctx) => {
  it('logs a failed run with its location and hint, and stays armed for the next tick', async () => {
    const dir = writeProject({
      'datasources/events.datasource.yaml':
        'columns:\n  - { name: id, type: String }\n  - { name: amount, type: Float64 }\nengine:\n  sorting_key: [id]\n',
      'datasources/ghost.datasource.yaml':
        'columns:\n  - { name: snapshot_at, type: DateTime }\n  - { name: total, type: Float64 }\nengine:\n  sorting_key: [snapshot_at]\n',
      'pipes/ghost.pipe.yaml':
        'nodes:\n  - name: t\n    sql: SELECT {{ snapshot_at }} AS snapshot_at, sum(amount) AS total FROM events\ncopy: { to: ghost, schedule: "@hourly" }\n',
    });
    const project = loadProjectOrThrow(dir, { env: {} });
    // Only events exists: the copy's target has no table.
    await ctx.engine.command(
      'CREATE TABLE events (id String, amount Float64) ENGINE = MergeTree ORDER BY id',
    );
    const realNow = Date.now();
    const tick = Math.ceil((realNow + 1000) / 3_600_000) * 3_600_000;
    const offset = tick - realNow - 300;
    const logs: Array<Record<string, unknown>> = [];
    let failed = () => {};
    const logged = new Promise<void>((resolve) => {
      failed = resolve;
    });
    const scheduler = new CopyScheduler({
      engine: ctx.engine,
      now: () => Date.now() + offset,
      log: (e) => {
        logs.push(e);
        if (e.level === 'error') failed();
      },
    });
    scheduler.schedule(project);
    await logged;
    expect(logs[0]).toMatchObject({
      level: 'error',
      msg: 'snapshot failed; retrying at the next tick',
      pipe: 'ghost',
      snapshot_at: new Date(tick).toISOString().slice(0, 19).replace('T', ' '),
      location: 'pipes/ghost.pipe.yaml:4:13',
      hint: 'run `tally deploy` to create it',
    });
    expect(String(logs[0]!.error)).toContain(
      'copy pipe `ghost` cannot write: data source `ghost` has no table',
    );
    const next = new Date(tick + 3_600_000).toISOString().slice(0, 19).replace('T', ' ');
    expect(scheduler.pending()).toEqual([{ pipe: 'ghost', next }]);
    await scheduler.stop();
  });

  it('is armed by the runtime, rescheduled by a reload, and stopped with it', async () => {
    const dir = exampleWithSettle(SETTLE);
    const project = loadProjectOrThrow(dir, { env: {} });
    const runtime = new Runtime({ engine: ctx.engine, project, port: 0, host: '127.0.0.1' });
    await runtime.start();
    try {
      expect(runtime.snapshots!.pending().map((p) => p.pipe)).toEqual([
        'balance_snapshots',
        'subscription_status_snapshots',
      ]);
      const path = join(dir, 'pipes', 'balance_snapshots.pipe.yaml');
      writeFileSync(path, readFileSync(path, 'utf8').replace('schedule: "@hourly"', 'schedule: "7 3 * * *"'));
      const reloaded = await runtime.reload({});
      expect(reloaded.applied, JSON.stringify(reloaded.problems)).toBe(true);
      const next = runtime.snapshots!.pending().find((p) => p.pipe === 'balance_snapshots')!.next;
      expect(next).toMatch(/^\d{4}-\d{2}-\d{2} 03:07:00$/);
    } finally {
      await runtime.stop();
    }
    expect(runtime.snapshots!.pending()).toEqual([]);
  });
});

const stopAfterAll: CopyScheduler[] = [];
afterAll(async () => {
  for (const s of stopAfterAll) await s.stop();
});
