import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deployCommand } from '../../src/cli/commands/deploy.ts';
import { applyDeploy, planDeploy } from '../../src/deploy/deploy.ts';
import { newDeployId } from '../../src/deploy/names.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { BACKENDS } from '../support/backends.ts';
import { dump, freshEngine, num } from '../support/deploy-fixtures.ts';
import { datasource, eventsProject, pipe, withDatasource, withPipe } from '../support/model-builder.ts';

const REPO = join(import.meta.dirname, '..', '..');

const eventRows = (n: number, from = 0) =>
  Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return {
      id: i,
      account: `a${i % 7}`,
      amount: (i % 100) / 4,
      ts: `2024-0${1 + (i % 3)}-0${1 + (i % 9)} 10:00:00`,
    };
  });

describe.each(BACKENDS)('deploy [%s]', (backend) => {
  it('deploys the example project into a fresh database; a redeploy changes nothing, in under a second', async () => {
    const { engine, drop } = await freshEngine(backend);
    try {
      const project = loadProjectOrThrow(REPO);
      const first = await applyDeploy(project, engine);
      expect(first.error).toBeUndefined();
      expect(first.ok).toBe(true);
      expect(first.resources.length).toBeGreaterThan(0);
      expect(first.resources.filter((r) => r.result !== 'created')).toEqual([]);
      const tables = (
        await engine.rows<{ name: string }>(
          'SELECT name FROM system.tables WHERE database = currentDatabase()',
        )
      ).map((r) => r.name);
      for (const ds of project.datasources.keys())
        expect(tables).toEqual(expect.arrayContaining([ds, `${ds}_quarantine`]));
      expect(tables).toEqual(
        expect.arrayContaining(['account_balances_mv', 'subscription_state_mv', 'tally_deployments']),
      );

      // The views fire: fixture transactions reach the balances snapshot.
      const tx = readFileSync(join(REPO, 'fixtures', 'transactions.ndjson'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .slice(0, 50)
        .map((l) => {
          const e = JSON.parse(l) as Record<string, unknown>;
          return {
            ...e,
            timestamp: String(e.timestamp)
              .replace('T', ' ')
              .replace(/\..*$|Z$/, ''),
          };
        });
      await engine.insert('transactions', tx);
      const [bal] = await engine.rows<{ n: string }>(
        'SELECT countMerge(transactions) AS n FROM account_balances',
      );
      expect(num(bal!.n)).toBe(50);

      const t0 = performance.now();
      const again = await applyDeploy(project, engine);
      const ms = performance.now() - t0;
      console.log(
        `[${backend}] redeploy of the example project: ${ms.toFixed(0)} ms, ${again.changes} changes`,
      );
      expect(again.ok).toBe(true);
      expect(again.changes).toBe(0);
      expect(again.plan.steps).toEqual([]);
      expect(again.resources.length).toBeGreaterThan(0);
      expect(again.resources.filter((r) => r.result !== 'unchanged')).toEqual([]);
    } finally {
      await drop();
    }
  });

  it('tally deploy: --check prints the plan and changes nothing; apply prints progress and a summary', async () => {
    const { engine, drop } = await freshEngine(backend);
    try {
      const p = eventsProject();
      const out: string[] = [];
      const err: string[] = [];
      const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s) };
      const run = (check: boolean, json = false, allowDestructive = false) =>
        deployCommand({ project: p, engine, check, json, allowDestructive, ...io });
      expect(await run(true)).toBe(0);
      const text = out.join('\n');
      expect(text).toMatch(/^Plan for `d_\w+` on .*: 5 step\(s\)/);
      expect(text).toMatch(/ 4 +totals_mv +create-view +create view totals_mv: events -> totals/);
      const tables = await engine.rows('SELECT name FROM system.tables WHERE database = currentDatabase()');
      expect(tables).toEqual([]);
      out.length = 0;
      expect(await run(true, true)).toBe(0);
      const json = JSON.parse(out.join(''));
      expect(json.steps.map((s: { kind: string }) => s.kind)).toEqual([
        'create-bookkeeping',
        'create-table',
        'create-table',
        'create-view',
        'backfill',
      ]);
      out.length = 0;
      expect(await run(false)).toBe(0);
      const log = out.join('\n');
      expect(log).toMatch(/\[4\] create view totals_mv/);
      expect(log).toMatch(
        backend === 'embedded'
          ? /writers held off every table of the database \(embedded write gate, for events\) for \d+ ms/
          : /writers held off events for \d+ ms/,
      );
      expect(log).toMatch(/totals_mv \[#+\] 0\/0 rows/);
      expect(log).toMatch(/Deployed \S+ in [\d.]+ s: 5 step\(s\) ran; 3 created/);
      out.length = 0;
      expect(await run(true)).toBe(0);
      expect(out.join('\n')).toMatch(/^No changes: 2 data source\(s\) and 1 view\(s\)/);
      out.length = 0;
      // A data source with rows is not dropped without --allow-destructive...
      await engine.insert('events', [{ id: 1, account: 'a', amount: 1, ts: '2024-01-01 00:00:00' }]);
      const withoutTotals = withDatasource(withPipe(p, 'totals_mv', undefined), 'totals', undefined);
      const deployWithoutTotals = () =>
        deployCommand({
          project: withoutTotals,
          engine,
          check: false,
          json: false,
          allowDestructive: false,
          ...io,
        });
      expect(await deployWithoutTotals()).toBe(1);
      expect(err.join('\n')).toMatch(
        /refusing to deploy: 1 step\(s\) would lose data:\n {2}- step \d+ \(drop table totals and totals_quarantine\): data source totals: 1 row; totals_quarantine: 0 rows\n/,
      );
      // ...an empty one is: nothing is lost.
      await engine.command('TRUNCATE TABLE totals');
      expect(await deployWithoutTotals()).toBe(0);
      const left = await engine.rows(
        "SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE 'totals%'",
      );
      expect(left).toEqual([]);
    } finally {
      await drop();
    }
  });

  it('adds a column with ALTER and keeps the rows', async () => {
    const { engine, drop } = await freshEngine(backend);
    try {
      const p1 = eventsProject();
      expect((await applyDeploy(p1, engine)).ok).toBe(true);
      await engine.insert('events', eventRows(1000));
      const before = await dump(engine, 'events', 'id');
      const ev = p1.datasources.get('events')!;
      const p2 = withDatasource(
        p1,
        'events',
        datasource('events', {
          columns: [
            ...ev.columns.map((c) => ({ name: c.name, type: c.type.text })),
            { name: 'channel', type: 'String', default: "'web'", comment: 'where it came from' },
          ],
          sortingKey: ['account', 'id'],
          partitionKey: 'toYYYYMM(ts)',
        }),
      );
      const plan = await planDeploy(p2, engine);
      expect(plan.steps.map((s) => s.kind)).toEqual(['alter-table']);
      expect(plan.steps[0]!.destructive).toBe(false);
      const r = await applyDeploy(p2, engine);
      expect(r.ok).toBe(true);
      expect(r.resources.find((x) => x.name === 'events')!.result).toBe('altered');
      const after = await engine.rows<Record<string, unknown>>('SELECT * FROM events ORDER BY id');
      expect(after.map(({ channel, ...rest }) => JSON.stringify(rest))).toEqual(before);
      expect(new Set(after.map((x) => x.channel))).toEqual(new Set(['web']));
      expect((await applyDeploy(p2, engine)).changes).toBe(0);
    } finally {
      await drop();
    }
  });

  it('refuses a column type change that a view over the table could not store; deploys it once the view keeps its state type', async () => {
    const { engine, drop } = await freshEngine(backend);
    try {
      const p1 = eventsProject();
      expect((await applyDeploy(p1, engine)).ok).toBe(true);
      await engine.insert('events', eventRows(100));
      const ev = p1.datasources.get('events')!;
      // amount: Decimal(18, 2) -> Decimal(20, 2) is safe for the table (an ALTER), but totals_mv's
      // sumState(amount) becomes another state type than totals.total stores.
      const wider = withDatasource(
        p1,
        'events',
        datasource('events', {
          columns: ev.columns.map((c) => ({
            name: c.name,
            type: c.name === 'amount' ? 'Decimal(20, 2)' : c.type.text,
          })),
          sortingKey: ['account', 'id'],
          partitionKey: 'toYYYYMM(ts)',
        }),
      );
      expect((await planDeploy(wider, engine)).steps.map((s) => s.kind)).toEqual(['alter-table']);
      const refused = await applyDeploy(wider, engine);
      expect(refused.ok).toBe(false);
      expect(refused.refused).toBe(true);
      expect(refused.exitCode).toBe(1);
      expect(refused.error).toMatch(
        /after the change to .*events.*totals_mv produces `total` as AggregateFunction\(sum, Decimal\(20, 2\)\), but data source totals stores AggregateFunction\(sum, Decimal\(18, 2\)\)/s,
      );
      expect(refused.error).toMatch(/CAST\(amount AS Decimal\(18, 2\)\)/);
      // Nothing changed: the column, and the view still counts every insert.
      const [col] = await engine.rows<{ type: string }>(
        "SELECT type FROM system.columns WHERE database = currentDatabase() AND table = 'events' AND name = 'amount'",
      );
      expect(col!.type).toBe('Decimal(18, 2)');
      await engine.insert('events', eventRows(10, 100));
      const count = async () =>
        num((await engine.rows<{ n: string }>('SELECT countMerge(n) AS n FROM totals'))[0]!.n);
      expect(await count()).toBe(110);
      const scratch = await engine.rows(
        "SELECT name FROM system.databases WHERE name = concat(currentDatabase(), '__tally_backfill')",
      );
      expect(scratch).toEqual([]);

      // The view keeps its state's type: the same change deploys, and inserts still reach it.
      const kept = withPipe(
        wider,
        'totals_mv',
        pipe(
          'totals_mv',
          'SELECT account, sumState(CAST(amount AS Decimal(18, 2))) AS total, countState() AS n FROM events GROUP BY account',
          'totals',
        ),
      );
      const ok = await applyDeploy(kept, engine);
      expect(ok.error).toBeUndefined();
      expect(ok.ok).toBe(true);
      await engine.insert('events', eventRows(5, 200));
      expect(await count()).toBe(115);
    } finally {
      await drop();
    }
  });

  it('a type change the stored values cannot take fails before any hold, naming the data source and column (exit 1)', async () => {
    const { engine, drop } = await freshEngine(backend);
    try {
      const p1 = eventsProject();
      expect((await applyDeploy(p1, engine)).ok).toBe(true);
      await engine.insert('events', eventRows(50));
      const ev = p1.datasources.get('events')!;
      // account holds 'a0' .. 'a6': CAST to UInt64 compiles, and fails on the first row.
      const numeric = withDatasource(
        p1,
        'events',
        datasource('events', {
          columns: ev.columns.map((c) => ({
            name: c.name,
            type: c.name === 'account' ? 'UInt64' : c.type.text,
          })),
          sortingKey: ['account', 'id'],
          partitionKey: 'toYYYYMM(ts)',
        }),
      );
      const r = await applyDeploy(numeric, engine);
      expect(r.ok).toBe(false);
      expect(r.exitCode).toBe(1);
      expect(r.error).toMatch(
        /data source events: its rows do not convert to the new column types \(account: String -> UInt64\)/,
      );
      expect(r.holds).toEqual([]);
      expect(r.steps.find((s) => s.kind === 'rebuild-table')!.status).toBe('failed');
      // Nothing changed: the table, its rows, and the view on it.
      expect((await dump(engine, 'events', 'id')).length).toBe(50);
      await engine.insert('events', eventRows(5, 50));
      const [tot] = await engine.rows<{ n: string }>('SELECT countMerge(n) AS n FROM totals');
      expect(num(tot!.n)).toBe(55);
      const leftovers = await engine.rows(
        "SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE '%\\_\\_tally\\_%'",
      );
      expect(leftovers).toEqual([]);
    } finally {
      await drop();
    }
  });

  it('rebuilds for a new sorting key: same rows, views still fire, backup dropped by the next deploy', async () => {
    const { engine, drop } = await freshEngine(backend);
    try {
      const p1 = eventsProject();
      expect((await applyDeploy(p1, engine)).ok).toBe(true);
      await engine.insert('events', eventRows(5000));
      const before = await dump(engine, 'events', 'id');
      const ev = p1.datasources.get('events')!;
      const p2 = withDatasource(
        p1,
        'events',
        datasource('events', {
          columns: ev.columns.map((c) => ({ name: c.name, type: c.type.text })),
          sortingKey: ['id'],
          partitionKey: 'toYYYYMM(ts)',
        }),
      );
      const plan = await planDeploy(p2, engine);
      expect(plan.steps.map((s) => s.kind)).toEqual(['rebuild-table']);
      expect(plan.steps[0]!.why).toMatch(/sorting key/);
      expect(plan.steps[0]!.destructive).toBe(false);
      const r = await applyDeploy(p2, engine);
      expect(r.error).toBeUndefined();
      expect(r.resources.find((x) => x.name === 'events')!.result).toBe('rebuilt');
      expect(await dump(engine, 'events', 'id')).toEqual(before);
      const [t] = await engine.rows<{ sorting_key: string }>(
        "SELECT sorting_key FROM system.tables WHERE database = currentDatabase() AND name = 'events'",
      );
      expect(t!.sorting_key.replace(/[()]/g, '')).toBe('id');
      const backups = await engine.rows<{ name: string }>(
        "SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE 'events__backup_%'",
      );
      expect(backups).toHaveLength(1);

      // The view on events follows the new table (re-attached on servers that bind by UUID).
      await engine.insert('events', eventRows(10, 5000));
      const [tot] = await engine.rows<{ n: string }>('SELECT countMerge(n) AS n FROM totals');
      expect(num(tot!.n)).toBe(5010);

      const next = await applyDeploy(p2, engine);
      expect(next.plan.steps.map((s) => s.kind)).toEqual(['drop-backup']);
      expect((await applyDeploy(p2, engine)).changes).toBe(0);
    } finally {
      await drop();
    }
  });

  it('recomputes a target when its pipe changes, exactly', async () => {
    const { engine, drop } = await freshEngine(backend);
    try {
      const p1 = eventsProject();
      expect((await applyDeploy(p1, engine)).ok).toBe(true);
      await engine.insert('events', eventRows(3000));
      const p2 = withPipe(
        p1,
        'totals_mv',
        pipe(
          'totals_mv',
          "SELECT account, sumState(amount * 2) AS total, countState() AS n FROM events WHERE account != 'a0' GROUP BY account",
          'totals',
        ),
      );
      const plan = await planDeploy(p2, engine);
      expect(plan.steps.map((s) => s.kind)).toEqual(['replace-view']);
      expect(plan.steps[0]!.why).toMatch(/changed/);
      const r = await applyDeploy(p2, engine);
      expect(r.error).toBeUndefined();
      expect(r.resources.find((x) => x.name === 'totals_mv')!.result).toBe('replaced');
      await engine.insert('events', eventRows(100, 3000));
      const got = await engine.rows<{ account: string; total: string; n: string }>(
        'SELECT account, toString(sumMerge(total)) AS total, toString(countMerge(n)) AS n FROM totals GROUP BY account ORDER BY account',
      );
      const want = await engine.rows<{ account: string; total: string; n: string }>(
        "SELECT account, toString(sum(amount * 2)) AS total, toString(count()) AS n FROM events WHERE account != 'a0' GROUP BY account ORDER BY account",
      );
      expect(got).toEqual(want);
      expect((await applyDeploy(p2, engine)).plan.steps.map((s) => s.kind)).toEqual(['drop-backup']);
    } finally {
      await drop();
    }
  });

  it('stops at a failing step, keeps what was deployed answering, and the next deploy finishes', async () => {
    const { engine, drop } = await freshEngine(backend);
    try {
      const p1 = eventsProject();
      expect((await applyDeploy(p1, engine)).ok).toBe(true);
      await engine.insert('events', eventRows(200));
      const extra = datasource('clicks', {
        columns: [
          { name: 'id', type: 'UInt64' },
          { name: 'url', type: 'String' },
        ],
      });
      const counts = datasource('click_counts', {
        columns: [
          { name: 'url', type: 'String' },
          { name: 'n', type: 'AggregateFunction(count)' },
        ],
        engine: 'AggregatingMergeTree',
        sortingKey: ['url'],
      });
      const broken = withPipe(
        withDatasource(withDatasource(p1, 'clicks', extra), 'click_counts', counts),
        'click_counts_mv',
        pipe(
          'click_counts_mv',
          'SELECT url, countState() AS n FROM clicks GROUP BY no_such_column',
          'click_counts',
        ),
      );
      const r = await applyDeploy(broken, engine);
      expect(r.ok).toBe(false);
      expect(r.exitCode).toBe(1);
      expect(r.error).toMatch(
        /pipes\/click_counts_mv\.pipe\.yaml:\d+:\d+: the SQL of materialized pipe click_counts_mv does not run: .*no_such_column/,
      );
      // Recovery after the failure found nothing to do: its own running record is no news.
      expect(r.error).not.toMatch(/recovery after the failure did not complete/);
      const status = Object.fromEntries(r.steps.map((s) => [s.kind + ':' + s.resource, s.status]));
      expect(status['create-table:clicks']).toBe('done');
      expect(status['create-view:click_counts_mv']).toBe('failed');
      expect(status['backfill:click_counts_mv']).toBe('skipped');
      expect(r.resources.find((x) => x.name === 'click_counts_mv')!.result).toBe('failed');
      // What was there still answers, and still fires.
      await engine.insert('events', eventRows(5, 200));
      const [tot] = await engine.rows<{ n: string }>('SELECT countMerge(n) AS n FROM totals');
      expect(num(tot!.n)).toBe(205);
      const [rec] = await engine.rows<{ status: string; steps: string }>(
        'SELECT argMax(status, version) AS status, argMax(steps, version) AS steps FROM tally_deployments GROUP BY id ORDER BY id DESC LIMIT 1',
      );
      expect(rec!.status).toBe('failed');
      expect(JSON.parse(rec!.steps).some((s: { status: string }) => s.status === 'failed')).toBe(true);

      await engine.insert('clicks', [
        { id: 1, url: '/a' },
        { id: 2, url: '/a' },
        { id: 3, url: '/b' },
      ]);
      const fixed = withPipe(
        broken,
        'click_counts_mv',
        pipe('click_counts_mv', 'SELECT url, countState() AS n FROM clicks GROUP BY url', 'click_counts'),
      );
      const plan = await planDeploy(fixed, engine);
      expect(plan.steps.map((s) => s.kind)).toEqual(['create-view', 'backfill']);
      const done = await applyDeploy(fixed, engine);
      expect(done.ok).toBe(true);
      const counted = await engine.rows<{ url: string; n: string }>(
        'SELECT url, toString(countMerge(n)) AS n FROM click_counts GROUP BY url ORDER BY url',
      );
      expect(counted).toEqual([
        { url: '/a', n: '2' },
        { url: '/b', n: '1' },
      ]);
      expect((await applyDeploy(fixed, engine)).changes).toBe(0);
    } finally {
      await drop();
    }
  });

  it('refuses to drop a removed data source without allowDestructive, naming what would be lost', async () => {
    const { engine, drop } = await freshEngine(backend);
    try {
      const p1 = eventsProject();
      const extra = datasource('old_events', { columns: [{ name: 'id', type: 'UInt64' }] });
      const withOld = withDatasource(p1, 'old_events', extra);
      expect((await applyDeploy(withOld, engine)).ok).toBe(true);
      await engine.insert('old_events', [{ id: 1 }, { id: 2 }, { id: 3 }]);
      const refused = await applyDeploy(p1, engine);
      expect(refused.refused).toBe(true);
      expect(refused.exitCode).toBe(1);
      expect(refused.error).toMatch(/old_events: 3 rows/);
      expect(refused.changes).toBe(0);
      expect(await engine.rows('SELECT * FROM old_events')).toHaveLength(3);
      const dropped = await applyDeploy(p1, engine, { allowDestructive: true });
      expect(dropped.ok).toBe(true);
      expect(dropped.resources.find((r) => r.name === 'old_events')!.result).toBe('dropped');
      const left = await engine.rows(
        "SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE 'old_events%'",
      );
      expect(left).toEqual([]);
      expect((await applyDeploy(p1, engine)).changes).toBe(0);
    } finally {
      await drop();
    }
  });

  it('finishes the job of a deploy that was interrupted while a table was held', async () => {
    const { engine, drop } = await freshEngine(backend);
    try {
      const p1 = eventsProject();
      expect((await applyDeploy(p1, engine)).ok).toBe(true);
      await engine.insert('events', eventRows(100));
      // What a crash in the middle of a hold and a rebuild leaves behind.
      await engine.command('RENAME TABLE events TO events__tally_hold');
      // ... with the gate an Ordinary database's hold puts in its place.
      await engine.command(
        "CREATE TABLE events AS events__tally_hold ENGINE = Merge(currentDatabase(), '^events__tally_hold$')",
      );
      await engine.command('CREATE TABLE events__tally_next (x UInt8) ENGINE = MergeTree ORDER BY x');
      const crashed = newDeployId();
      await engine.command(
        `INSERT INTO tally_deployments (id, status, version) VALUES ('${crashed}', 'running', 1)`,
      );
      const plan = await planDeploy(p1, engine);
      expect(plan.steps.map((s) => s.what)).toEqual([
        'drop events__tally_next',
        'put events__tally_hold back in place of its gate',
      ]);
      expect(plan.notes.join()).toMatch(/did not finish/);
      const r = await applyDeploy(p1, engine);
      expect(r.ok).toBe(true);
      expect(num((await engine.rows<{ c: string }>('SELECT count() AS c FROM events'))[0]!.c)).toBe(100);
      expect((await applyDeploy(p1, engine)).changes).toBe(0);
    } finally {
      await drop();
    }
  });
});
