/**
 * The replay and diff suite, shared by replay.test.ts (the 18.16 server) and
 * replay-embedded.test.ts (chDB, in a test file of its own: the CLI opens the project's
 * `.tally/chdb`, and a process holds one chDB folder).
 */

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createEngine } from '../../src/clickhouse/create-engine.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { compareTables } from '../../src/replay/compare-tables.ts';
import { applyReplay } from '../../src/replay/replay.ts';
import { runCli } from '../support/capture-output.ts';
import { databaseExists, noDatabaseMessage } from '../support/cli-databases.ts';
import { copyExample } from '../support/example-copy.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

/** A copy of the example project (without its tests: they are not what is exercised here). */
function exampleCopy(): string {
  return copyExample(writeProject({}));
}

const run = (argv: string[], env: NodeJS.ProcessEnv, dir: string) =>
  runCli([...argv, '--project', dir], env, dir);

async function sql<T = Record<string, unknown>>(
  query: string,
  env: NodeJS.ProcessEnv,
  dir: string,
): Promise<T[]> {
  const r = await run(['sql', query, '--format', 'json'], env, dir);
  if (r.code !== 0) throw new Error(`sql failed (${r.code}): ${r.err}\n${query}`);
  return JSON.parse(r.out).data as T[];
}

/** The status rule of pipes/subscription_state_mv.pipe.yaml, and the changed one. */
const OLD_RULE = `event_name IN ('subscription_suspended', 'subscription_payment_rejected'), 'suspended',`;
const NEW_RULE = `event_name = 'subscription_suspended', 'suspended',
            event_name = 'subscription_payment_rejected', 'past_due',`;
const NEW_MAPPING = `multiIf(
  event_name IN ('subscription_created', 'subscription_updated', 'subscription_reactivated'), 'active',
  event_name = 'subscription_suspended', 'suspended',
  event_name = 'subscription_payment_rejected', 'past_due',
  event_name = 'subscription_deleted', 'deleted', 'unknown')`;

interface ReplayJson {
  rowsRead: number;
  fillMs: number;
  diff: {
    key: string[];
    counts: { added: number; removed: number; changed: number };
    samples: {
      changed: Array<{
        key: { subscription_id: unknown };
        live?: { status: string };
        replayed?: { status: string };
      }>;
    };
  };
}

export function replaySuite(backend: 'embedded' | 'server'): void {
  afterAll(removeProjects);

  describe(`tally replay and tally diff [${backend}]`, () => {
    const database = `replay_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    const env: NodeJS.ProcessEnv = {
      TALLY_CLICKHOUSE_DATABASE: database,
      ...(backend === 'server' ? { TALLY_CLICKHOUSE_URL: inject('clickhouseUrl') } : {}),
    };
    const dir = exampleCopy();
    /** A database nothing was deployed to. */
    const missing = `${database}_missing`;

    afterAll(async () => {
      if (backend !== 'server') return; // the embedded data lives in the temp project folder
      const engine = await createEngine(
        {
          url: inject('clickhouseUrl'),
          user: 'default',
          password: '',
          database: 'default',
          embeddedPath: '',
        },
        { createDatabase: false },
      );
      await engine.command(`DROP DATABASE IF EXISTS ${database}`).catch(() => {});
      await engine.command(`DROP DATABASE IF EXISTS ${missing}`).catch(() => {}); // if a replay made it
      await engine.close();
    });

    it('deploys the example and loads its fixtures', async () => {
      const d = await run(['deploy'], env, dir);
      expect(d.code, d.err + d.out).toBe(0);
      for (const ds of ['subscription_events', 'page_events', 'transactions']) {
        const a = await run(['append', ds, '--file', join(dir, 'fixtures', `${ds}.ndjson`)], env, dir);
        // Two transactions of unknown event versions are refused (exit 1); the rest is sent.
        expect(a.code, a.err + a.out).toBe(ds === 'transactions' ? 1 : 0);
        if (ds === 'transactions') expect(a.out + a.err).toMatch(/501 sent, 2 refused/);
      }
    });

    it('replay (and --apply) on a database nothing was deployed to: exit 1, and it stays missing', async () => {
      const elsewhere = { ...env, TALLY_CLICKHOUSE_DATABASE: missing };
      for (const apply of [[], ['--apply']]) {
        const r = await run(['replay', 'subscription_state_mv', ...apply], elsewhere, dir);
        expect(r.code, r.err + r.out).toBe(1);
        expect(r.out).toBe('');
        expect(r.err).toMatch(noDatabaseMessage(missing));
      }
      expect(await databaseExists(backend, missing, dir)).toBe(false);
    });

    it('replay with the logic unchanged reports no difference, and changes nothing', async () => {
      const r = await run(['replay', 'subscription_state_mv', '--json'], env, dir);
      expect(r.code, r.err).toBe(0);
      const j = JSON.parse(r.out) as ReplayJson;
      expect(j.diff.counts).toEqual({ added: 0, removed: 0, changed: 0 });
      expect(j.rowsRead).toBeGreaterThan(300);
      const tables = await sql<{ name: string }>(
        `SELECT name FROM system.tables WHERE database = '${database}' AND name LIKE '%tally_replay%'`,
        env,
        dir,
      );
      expect(tables).toEqual([]);
    });

    it('after a change of the status rule, replay reports exactly the subscriptions it alters', async () => {
      const file = join(dir, 'pipes', 'subscription_state_mv.pipe.yaml');
      const text = readFileSync(file, 'utf8');
      expect(text).toContain(OLD_RULE);
      writeFileSync(file, text.replace(OLD_RULE, NEW_RULE));

      // Independently: subscriptions whose latest event is a rejected payment (FINAL: one row per event).
      const expected = await sql<{ subscription_id: string | number }>(
        `SELECT subscription_id FROM (SELECT subscription_id, argMax(event_name, timestamp) AS last FROM subscription_events FINAL GROUP BY subscription_id) WHERE last = 'subscription_payment_rejected' ORDER BY subscription_id`,
        env,
        dir,
      );
      expect(expected.length).toBeGreaterThan(0);

      const r = await run(['replay', 'subscription_state_mv', '--json', '--sample', '1000'], env, dir);
      expect(r.code, r.err).toBe(0);
      const j = JSON.parse(r.out) as ReplayJson;
      expect(j.diff.key).toEqual(['subscription_id']);
      expect(j.diff.counts).toEqual({ added: 0, removed: 0, changed: expected.length });
      expect(j.diff.samples.changed.map((c) => String(c.key.subscription_id))).toEqual(
        expected.map((e) => String(e.subscription_id)),
      );
      for (const c of j.diff.samples.changed) {
        expect(c.live?.status).toBe('suspended');
        expect(c.replayed?.status).toBe('past_due');
      }
      // Nothing live changed.
      const live = await sql<{ n: string | number }>(
        `SELECT count() AS n FROM (SELECT subscription_id, argMaxMerge(status) AS s FROM subscription_state GROUP BY subscription_id) WHERE s = 'past_due'`,
        env,
        dir,
      );
      expect(Number(live[0]!.n)).toBe(0);

      const text2 = await run(['replay', 'subscription_state_mv', '--sample', '2'], env, dir);
      expect(text2.out).toMatch(
        new RegExp(`^Per key \\(subscription_id\\): 0 added, 0 removed, ${expected.length} changed\\.$`, 'm'),
      );
      expect(text2.out).toMatch(/^ {2}subscription_id=\d+ {2}status: suspended -> past_due$/m);
    });

    it('--apply swaps the replayed target in; totals equal an independent fold; the view keeps feeding it', async () => {
      const r = await run(['replay', 'subscription_state_mv', '--apply'], env, dir);
      expect(r.code, r.err + r.out).toBe(0);
      expect(r.out).toMatch(/^Applied: subscription_state recomputed and swapped in/m);

      const statuses = async () => ({
        live: await sql(
          `SELECT s, count() AS n FROM (SELECT subscription_id, argMaxMerge(status) AS s FROM subscription_state GROUP BY subscription_id) GROUP BY s ORDER BY s`,
          env,
          dir,
        ),
        fold: await sql(
          `SELECT s, count() AS n FROM (SELECT subscription_id, argMax(${NEW_MAPPING}, timestamp) AS s FROM subscription_events FINAL GROUP BY subscription_id) GROUP BY s ORDER BY s`,
          env,
          dir,
        ),
      });
      const after = await statuses();
      expect(after.live).toEqual(after.fold);
      expect(after.live.some((r) => r.s === 'past_due')).toBe(true);

      // An event after the swap reaches the swapped-in table through the live view.
      const event = {
        event_id: `replay-test-${database}`,
        timestamp: '2030-01-01 00:00:00',
        event_name: 'subscription_payment_rejected',
        subscription_id: 777000777,
        user_id: 1,
        plan: 'premium',
      };
      writeFileSync(join(dir, 'late.ndjson'), `${JSON.stringify(event)}\n`);
      const a = await run(['append', 'subscription_events', '--file', join(dir, 'late.ndjson')], env, dir);
      expect(a.code, a.err).toBe(0);
      const one = await sql<{ s: string }>(
        `SELECT argMaxMerge(status) AS s FROM subscription_state WHERE subscription_id = 777000777`,
        env,
        dir,
      );
      expect(one).toEqual([{ s: 'past_due' }]);
      const again = await statuses();
      expect(again.live).toEqual(again.fold);

      // Replaying now finds nothing to change, and deploy has no view work left (only the backup to drop).
      const r2 = await run(['replay', 'subscription_state_mv', '--json'], env, dir);
      expect((JSON.parse(r2.out) as ReplayJson).diff.counts).toEqual({ added: 0, removed: 0, changed: 0 });
      const plan = await run(['deploy', '--check', '--json'], env, dir);
      const steps = (JSON.parse(plan.out) as { steps: Array<{ kind: string }> }).steps.map((s) => s.kind);
      expect(steps).toEqual(['drop-backup']);

      // Applied anyway: it says the swap changed nothing, and names the backup it keeps.
      const same = await run(['replay', 'subscription_state_mv', '--apply'], env, dir);
      expect(same.code, same.err).toBe(0);
      const kept =
        /the swap changed no value; the previous table is kept as (subscription_state__backup_\w+) until/.exec(
          same.out,
        );
      expect(kept, same.out).not.toBeNull();
      const backups = await sql<{ name: string }>(
        `SELECT name FROM system.tables WHERE database = '${database}' AND name = '${kept![1]}'`,
        env,
        dir,
      );
      expect(backups).toEqual([{ name: kept![1] }]);
    });

    it('--apply while a writer keeps inserting: no transaction lost or counted twice by the sumState/countState snapshot', async () => {
      // On chDB a second engine on the same folder shares the process's one engine: the writer's
      // INSERTs interleave with the replay's statements.
      const engine = await createEngine({
        ...(backend === 'server' ? { url: inject('clickhouseUrl') } : {}),
        user: 'default',
        password: '',
        database,
        embeddedPath: join(dir, '.tally', 'chdb'),
      });
      try {
        // A log big enough for the recompute to take a while (seconds).
        await engine.command(
          `INSERT INTO transactions (transaction_id, timestamp, account_id, type, amount, currency) SELECT concat('bulk-', toString(number)), toDateTime('2025-01-01 00:00:00') + number % 86400, concat('acc', toString(number % 2000)), 'deposit', toDecimal64(number % 100, 2), 'USD' FROM numbers(1000000)`,
        );
        let stop = false;
        let written = 0;
        const writer = (async () => {
          for (let batch = 0; !stop; batch++) {
            const rows = Array.from({ length: 200 }, (_, i) => ({
              transaction_id: `w-${batch}-${i}`,
              timestamp: '2026-01-01 00:00:00',
              account_id: `acc${(batch * 200 + i) % 2000}`,
              type: 'deposit',
              amount: 1,
              currency: 'USD',
            }));
            for (;;) {
              try {
                await engine.insert('transactions', rows);
                written += rows.length;
                break;
              } catch {
                // held for a few milliseconds: retry, as an ingester does
                await new Promise((r) => setTimeout(r, 5));
              }
            }
          }
        })();
        await new Promise((r) => setTimeout(r, 300));
        try {
          // On the server through the CLI (its own connection, as a separate process would be). On
          // chDB through the API with the writer's engine: one process, one engine, as in
          // deploy-backfill.test.ts. (Two connections on one chDB folder in one process are not a
          // setup Tally runs; see docs/replay.md.)
          if (backend === 'server') {
            const r = await run(['replay', 'account_balances_mv', '--apply'], env, dir);
            expect(r.code, r.err + r.out).toBe(0);
          } else {
            const result = await applyReplay(loadProjectOrThrow(dir, { env }), engine, 'account_balances_mv');
            expect(result.ok, result.error).toBe(true);
          }
          await new Promise((r) => setTimeout(r, 300));
        } finally {
          // Also when the replay fails: a writer left running would outlive the test.
          stop = true;
          await writer;
        }
        expect(written).toBeGreaterThan(0);
        // Every row stored once (a retried INSERT that had half-written would show as raw > distinct),
        // and counted once by the swapped-in snapshot: per account, countMerge = count, sumMerge = sum.
        const [totals] = await engine.rows<{ raw: string; distinct: string }>(
          'SELECT count() AS raw, uniqExact(transaction_id) AS distinct FROM transactions',
        );
        expect(Number(totals!.raw)).toBe(Number(totals!.distinct));
        expect(Number(totals!.raw)).toBe(501 + 1_000_000 + written);
        const live = await engine.rows(
          'SELECT account_id, toString(sumMerge(balance)) AS b, countMerge(transactions) AS n FROM account_balances GROUP BY account_id ORDER BY account_id',
        );
        const fold = await engine.rows(
          'SELECT account_id, toString(sum(amount)) AS b, count() AS n FROM transactions GROUP BY account_id ORDER BY account_id',
        );
        expect(live.length).toBe(fold.length);
        expect(live).toEqual(fold);
      } finally {
        await engine.close();
      }
    });

    it('compares plain, replacing and aggregating tables per key on finalized values', async () => {
      const engine = await createEngine({
        ...(backend === 'server' ? { url: inject('clickhouseUrl') } : {}),
        user: 'default',
        password: '',
        database,
        embeddedPath: join(dir, '.tally', 'chdb'),
      });
      try {
        // Columns named like the diff's own aliases must not confuse it.
        const plain = {
          columns: [
            { name: 'id', type: 'UInt32' },
            { name: 'side', type: 'String' },
            { name: 'k0', type: 'Int64' },
          ],
          engine: { type: 'MergeTree' as const, sortingKey: ['id'], settings: {} },
        };
        for (const t of ['p_live', 'p_shadow']) {
          await engine.command(`DROP TABLE IF EXISTS ${t}`);
          await engine.command(
            `CREATE TABLE ${t} (id UInt32, side String, k0 Int64) ENGINE = MergeTree ORDER BY id`,
          );
        }
        await engine.command(`INSERT INTO p_live VALUES (1, 'a', 1), (2, 'b', 2), (2, 'c', 3), (3, 'x', 0)`);
        await engine.command(
          `INSERT INTO p_shadow VALUES (1, 'a', 1), (2, 'c', 3), (2, 'b', 2), (4, 'y', 9)`,
        );
        await engine.command(`INSERT INTO p_shadow VALUES (1, 'a', 1)`);
        const d = await compareTables(engine, 'p_live', 'p_shadow', plain, { sample: 10 });
        expect(d.counts).toEqual({ added: 1, removed: 1, changed: 1 });
        expect(d.samples.added.map((k) => Number(k.key.id))).toEqual([4]);
        expect(d.samples.removed[0]!.live!.side).toEqual(['x']);
        expect((d.samples.removed[0]!.live!.k0 as unknown[]).map(Number)).toEqual([0]);
        expect(d.samples.changed[0]).toMatchObject({
          key: { id: 1 },
          live: { side: ['a'] },
          replayed: { side: ['a', 'a'] },
        });

        // ReplacingMergeTree: read with FINAL, so an unmerged older version is not a difference.
        const replacing = {
          columns: [
            { name: 'id', type: 'UInt32' },
            { name: 'v', type: 'String' },
          ],
          engine: { type: 'ReplacingMergeTree' as const, sortingKey: ['id'], settings: {} },
        };
        for (const t of ['r_live', 'r_shadow']) {
          await engine.command(`DROP TABLE IF EXISTS ${t}`);
          await engine.command(
            `CREATE TABLE ${t} (id UInt32, v String) ENGINE = ReplacingMergeTree ORDER BY id`,
          );
        }
        await engine.command(`INSERT INTO r_live VALUES (1, 'old'), (2, 'same')`);
        await engine.command(`INSERT INTO r_live VALUES (1, 'new')`);
        await engine.command(`INSERT INTO r_shadow VALUES (1, 'new'), (2, 'other')`);
        const r = await compareTables(engine, 'r_live', 'r_shadow', replacing, { sample: 10 });
        expect(r.counts).toEqual({ added: 0, removed: 0, changed: 1 });
        expect(r.samples.changed[0]).toMatchObject({ live: { v: ['same'] }, replayed: { v: ['other'] } });

        const agg = {
          columns: [
            { name: 'k', type: 'String' },
            { name: 'total', type: 'AggregateFunction(sum, Decimal(18, 2))' },
            { name: 'q', type: 'AggregateFunction(quantiles(0.5), Float64)' },
          ],
          engine: { type: 'AggregatingMergeTree' as const, sortingKey: ['k'], settings: {} },
        };
        for (const t of ['a_live', 'a_shadow']) {
          await engine.command(`DROP TABLE IF EXISTS ${t}`);
          await engine.command(
            `CREATE TABLE ${t} (k String, total AggregateFunction(sum, Decimal(18, 2)), q AggregateFunction(quantiles(0.5), Float64)) ENGINE = AggregatingMergeTree ORDER BY k`,
          );
        }
        // Same totals reached through different partial states (two inserts vs one) are equal.
        const fill = (t: string, rows: string) =>
          engine.command(
            `INSERT INTO ${t} SELECT k, sumState(toDecimal64(v, 2)), quantilesState(0.5)(toFloat64(v)) FROM (SELECT arrayJoin([${rows}]) AS r, r.1 AS k, r.2 AS v) GROUP BY k`,
          );
        await fill('a_live', "('a', 1), ('b', 5)");
        await fill('a_live', "('a', 2), ('b', 5)");
        await fill('a_shadow', "('a', 1), ('a', 2), ('b', 5), ('b', 6)");
        const a = await compareTables(engine, 'a_live', 'a_shadow', agg, { sample: 10 });
        expect(a.counts).toEqual({ added: 0, removed: 0, changed: 1 });
        expect(a.samples.changed[0]!.key).toEqual({ k: 'b' });
        expect(Number(a.samples.changed[0]!.live!.total)).toBe(10);
        expect(Number(a.samples.changed[0]!.replayed!.total)).toBe(11);

        // A value that becomes NULL (or stops being NULL) is a change; NULL and NULL are equal.
        const nullable = {
          columns: [
            { name: 'k', type: 'String' },
            // A plain Nullable column (read with any): 18.16 has no SimpleAggregateFunction.
            { name: 'm', type: 'Nullable(String)' },
          ],
          engine: { type: 'AggregatingMergeTree' as const, sortingKey: ['k'], settings: {} },
        };
        for (const t of ['n_live', 'n_shadow']) {
          await engine.command(`DROP TABLE IF EXISTS ${t}`);
          await engine.command(
            `CREATE TABLE ${t} (k String, m Nullable(String)) ENGINE = AggregatingMergeTree ORDER BY k`,
          );
        }
        await engine.command(`INSERT INTO n_live VALUES ('a', 'x'), ('b', NULL), ('c', NULL), ('d', '')`);
        await engine.command(`INSERT INTO n_shadow VALUES ('a', NULL), ('b', 'y'), ('c', NULL), ('d', NULL)`);
        const n = await compareTables(engine, 'n_live', 'n_shadow', nullable, { sample: 10 });
        expect(n.counts).toEqual({ added: 0, removed: 0, changed: 3 });
        expect(n.samples.changed.map((k) => [k.key.k, k.live!.m, k.replayed!.m])).toEqual([
          ['a', 'x', null],
          ['b', null, 'y'],
          ['d', '', null],
        ]);

        // A table whose columns are all key columns: a key stored twice is a change.
        const keysOnly = {
          columns: [
            { name: 'id', type: 'String' },
            { name: 'day', type: 'Date' },
          ],
          engine: { type: 'MergeTree' as const, sortingKey: ['id', 'day'], settings: {} },
        };
        for (const t of ['d_live', 'd_shadow']) {
          await engine.command(`DROP TABLE IF EXISTS ${t}`);
          await engine.command(
            `CREATE TABLE ${t} (id String, day Date) ENGINE = MergeTree ORDER BY (id, day)`,
          );
        }
        await engine.command(`INSERT INTO d_live VALUES ('a', '2024-01-01'), ('b', '2024-01-01')`);
        await engine.command(
          `INSERT INTO d_shadow VALUES ('a', '2024-01-01'), ('a', '2024-01-01'), ('b', '2024-01-01')`,
        );
        const k = await compareTables(engine, 'd_live', 'd_shadow', keysOnly, { sample: 10 });
        expect(k.counts).toEqual({ added: 0, removed: 0, changed: 1 });
        expect(k.samples.changed[0]).toMatchObject({
          key: { id: 'a' },
          live: { '(rows)': 1 },
          replayed: { '(rows)': 2 },
        });
      } finally {
        await engine.close();
      }
    });

    it('replay of a pipe that is not materialized is a user error', async () => {
      const r = await run(['replay', 'attribution'], env, dir);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/pipe attribution is not materialized/);
      const copy = await run(['replay', 'balance_snapshots'], env, dir);
      expect(copy.code).toBe(1);
      expect(copy.err).toContain(
        'pipe balance_snapshots is a copy pipe (`copy: { to: balance_snapshots }`), not a materialized one: its snapshots are written by `tally snapshot run balance_snapshots`',
      );
      // A data source's name: the pipes that fill or read it are named.
      const log = await run(['replay', 'transactions'], env, dir);
      expect(log.code).toBe(1);
      expect(log.err).toContain(
        'transactions is a data source, not a pipe: replay names the materialized pipe that fills a table (materialized pipes reading transactions: account_balances_mv)',
      );
      const target = await run(['replay', 'account_balances'], env, dir);
      expect(target.err).toContain('(account_balances is filled by account_balances_mv)');
    });

    it('a pipe whose SELECT fails on rows of the log: replay and --apply name its file and line (exit 1), and change nothing', async () => {
      const file = join(dir, 'pipes', 'account_balances_mv.pipe.yaml');
      const deployed = readFileSync(file, 'utf8');
      expect(deployed).toContain('FROM transactions\n');
      // Valid SQL that ClickHouse refuses only when it reads a row: a division by zero.
      writeFileSync(
        file,
        deployed.replace(
          'FROM transactions\n',
          'FROM transactions\n      WHERE intDiv(1, length(account_id) - length(account_id)) = 0\n',
        ),
      );
      const state = () =>
        sql<{ name: string }>(
          `SELECT name FROM system.tables WHERE database = '${database}' ORDER BY name`,
          env,
          dir,
        );
      const balances = () =>
        sql<{ total: string }>(
          'SELECT toString(sum(b)) AS total FROM (SELECT sumMerge(balance) AS b FROM account_balances GROUP BY account_id)',
          env,
          dir,
        );
      const before = { tables: (await state()).map((t) => t.name), total: await balances() };
      try {
        for (const apply of [[], ['--apply']]) {
          const r = await run(['replay', 'account_balances_mv', ...apply], env, dir);
          expect(r.code, r.err + r.out).toBe(1);
          const line = deployed.split('\n').findIndex((l) => l.includes('SELECT')) + 1;
          expect(r.err).toContain(
            `pipes/account_balances_mv.pipe.yaml:${line}:7: materialized pipe \`account_balances_mv\` failed on ClickHouse while computing account_balances from transactions: `,
          );
          expect(r.err).toMatch(/Division by zero/);
          expect(r.err).toMatch(/hint: its SELECT fails on rows already in the log/);
          expect({ tables: (await state()).map((t) => t.name), total: await balances() }).toEqual(before);
        }
      } finally {
        writeFileSync(file, deployed);
      }
    });

    it('replay of a target whose file changed since the deploy names each difference', async () => {
      // A column added to the target and its pipe, not deployed yet.
      const file = join(dir, 'datasources', 'subscription_state.datasource.yaml');
      const pipeFile = join(dir, 'pipes', 'subscription_state_mv.pipe.yaml');
      const deployed = readFileSync(file, 'utf8');
      const deployedPipe = readFileSync(pipeFile, 'utf8');
      writeFileSync(
        file,
        deployed.replace(
          '  - { name: updated_at,',
          '  - { name: channel,         type: "AggregateFunction(any, String)" }\n  - { name: updated_at,',
        ),
      );
      writeFileSync(
        pipeFile,
        deployedPipe.replace(
          'anyState(user_id) AS user_id,',
          "anyState(user_id) AS user_id, anyState('web') AS channel,",
        ),
      );
      try {
        const r = await run(['replay', 'subscription_state_mv'], env, dir);
        expect(r.code).toBe(1);
        expect(r.err).toMatch(
          /the live subscription_state differs from the project: missing column channel\n/,
        );
        expect(r.err).toMatch(/run `tally deploy` to change the table, then replay/);
      } finally {
        writeFileSync(file, deployed);
        writeFileSync(pipeFile, deployedPipe);
      }
    });

    it('tally diff: first touch vs last touch reports exactly the carts whose first and last page differ', async () => {
      const git = (...args: string[]) =>
        execFileSync('git', ['-c', 'user.email=t@t', '-c', 'user.name=t', ...args], {
          cwd: dir,
          encoding: 'utf8',
        });
      git('init', '-q', '.');
      git('add', 'tally.yaml', 'datasources', 'pipes', 'endpoints');
      git('commit', '-q', '-m', 'last touch');

      const d0 = await run(['diff', 'attribution', '--base', 'HEAD'], env, dir);
      expect(d0.code, d0.err + d0.out).toBe(0);
      expect(d0.out).toMatch(/^No differences\.$/m);

      const file = join(dir, 'pipes', 'attribution.pipe.yaml');
      const text = readFileSync(file, 'utf8');
      expect(text).toContain('argMax(url, viewed_at) AS attributed_url');
      writeFileSync(
        file,
        text.replace('argMax(url, viewed_at) AS attributed_url', 'argMin(url, viewed_at) AS attributed_url'),
      );

      const expected = await sql<{ cart_event_id: string }>(
        `SELECT cart_event_id FROM (
           SELECT cart_event_id, argMax(url, viewed_at) AS last_url, argMin(url, viewed_at) AS first_url
           FROM (SELECT event_id AS cart_event_id, session_id, timestamp AS cart_at FROM page_events WHERE action = 'AddToCart') AS carts
           ALL INNER JOIN (SELECT session_id, timestamp AS viewed_at, url FROM page_events WHERE action = 'ViewPage') AS views USING session_id
           WHERE viewed_at <= cart_at
           GROUP BY cart_event_id)
         WHERE first_url != last_url ORDER BY cart_event_id`,
        env,
        dir,
      );
      expect(expected.length).toBeGreaterThan(0);

      const d = await run(['diff', 'attribution', '--base', 'HEAD', '--json'], env, dir);
      expect(d.code, d.err).toBe(1);
      const j = JSON.parse(d.out) as {
        identical: boolean;
        results: Array<{
          name: string;
          params: Record<string, unknown>;
          identical: boolean;
          diff?: {
            key: string[];
            added: unknown[];
            removed: unknown[];
            changed: Array<{ key: { cart_event_id: string }; columns: string[] }>;
          };
        }>;
      };
      expect(j.identical).toBe(false);
      // The params set without a time window covers every cart (81 < the default limit).
      const all = j.results.find((r) => Object.keys(r.params).length === 0)!;
      expect(all.diff!.key).toEqual(['cart_event_id']);
      expect(all.diff!.added).toEqual([]);
      expect(all.diff!.removed).toEqual([]);
      expect(all.diff!.changed.map((c) => c.key.cart_event_id).sort()).toEqual(
        expected.map((e) => e.cart_event_id).sort(),
      );
      for (const c of all.diff!.changed) expect(c.columns).toEqual(['attributed_url']);
      // The invalid-params case fails the same way on both revisions: not a difference.
      expect(j.results.find((r) => r.params.from === 'soon')?.identical).toBe(true);

      // Given params instead of the tests'.
      const p = await run(['diff', 'attribution', '--base', 'HEAD', '--param', 'limit=3'], env, dir);
      expect(p.out).toMatch(/^ {2}≠ --param \(limit=3\): 0 added, 0 removed, \d changed/m);
      const bad = await run(['diff', 'attribution', '--base', 'no-such-ref'], env, dir);
      expect(bad.code).toBe(1);
      expect(bad.err).toMatch(/--base no-such-ref is not a revision/);
    });

    it('tally diff refuses a --key column the endpoint does not return (exit 1, nothing printed)', async () => {
      const d = await run(
        ['diff', 'attribution', '--base', 'HEAD', '--key', 'cart_event_id,atributed_url'],
        env,
        dir,
      );
      expect(d.code).toBe(1);
      expect(d.out).toBe('');
      expect(d.err).toContain(
        '--key: endpoint attribution has no column `atributed_url` (did you mean `attributed_url`?)',
      );
      expect(d.err).toMatch(/hint: its columns: cart_event_id, .*\battributed_url\b.*pages_viewed_before/);
      // A key it has is taken.
      const ok = await run(
        ['diff', 'attribution', '--base', 'HEAD', '--key', 'session_id,item_id', '--json'],
        env,
        dir,
      );
      expect(ok.code, ok.err).toBe(1); // the working tree still takes the first touch
      const j = JSON.parse(ok.out) as { results: Array<{ diff?: { key: string[] } }> };
      expect(j.results.find((r) => r.diff)?.diff?.key).toEqual(['session_id', 'item_id']);
    });

    it('tally diff never passes having compared nothing: refused params fail it, and are shown', async () => {
      // An unknown param is refused as the server refuses it (it was ignored: an unfiltered run).
      const unknown = await run(['diff', 'attribution', '--base', 'HEAD', '--param', 'nope=1'], env, dir);
      expect(unknown.code).toBe(1);
      expect(unknown.err).toMatch(
        /endpoint attribution refused every params set on both revisions, so nothing was compared: unknown param "nope"/,
      );
      expect(unknown.err).toMatch(/hint: fix the --param values/);
      const twice = await run(
        ['diff', 'attribution', '--base', 'HEAD', '--param', 'limit=1', '--param', 'limit=2'],
        env,
        dir,
      );
      expect(twice.code).toBe(1);
      expect(twice.err).toContain('--param limit is given twice');
      const noEquals = await run(['diff', 'attribution', '--base', 'HEAD', '--param', 'limit'], env, dir);
      expect(noEquals.err).toMatch(/hint: e\.g\. --param account_id=6ad87cf1$/m);
      // The tests' own refused case is shown with its error, beside the sets that were compared.
      const all = await run(['diff', 'attribution', '--base', 'HEAD'], env, dir);
      expect(all.out).toMatch(/^ {2}= .*\(from=soon.*\): refused alike by both: .+/m);

      // A renamed column is a difference, shown as such, even where no row would show it.
      const file = join(dir, 'pipes', 'attribution.pipe.yaml');
      const text = readFileSync(file, 'utf8');
      writeFileSync(file, text.replaceAll('attributed_url', 'touch_url'));
      try {
        const renamed = await run(['diff', 'attribution', '--base', 'HEAD', '--sample', '1'], env, dir);
        expect(renamed.code, renamed.err).toBe(1);
        expect(renamed.out).toContain('      columns: - attributed_url, + touch_url');
        expect(renamed.out).toMatch(
          /attributed_url: "https:[^"]+" -> \(no such column\), touch_url: \(no such column\) -> "https:/,
        );
        expect(renamed.out).not.toContain('undefined');
      } finally {
        writeFileSync(file, text);
      }
    });
  });
}
