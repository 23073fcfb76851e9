import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { BACKENDS, type BackendName } from '../support/backends.ts';
import { runCli } from '../support/capture-output.ts';
import { CliDatabases, databaseExists, noDatabaseMessage } from '../support/cli-databases.ts';
import { exampleWithSettle } from '../support/snapshot-project.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

/** `tally snapshot run` end to end, in-process, on each back end (one chDB folder per CLI run). */

const REPO = join(import.meta.dirname, '..', '..');
const databases = new CliDatabases('snap');

const run = (argv: string[], env: NodeJS.ProcessEnv) => runCli(argv, env, REPO);

function envFor(backend: BackendName): NodeJS.ProcessEnv {
  return databases.env(backend);
}

afterAll(async () => {
  removeProjects();
  await databases.dropAll();
});

const SMALL: Record<string, string> = {
  'datasources/events.datasource.yaml': `columns:
  - { name: id, type: String }
  - { name: at, type: DateTime }
  - { name: amount, type: Float64 }
engine:
  sorting_key: [id, at]
`,
  'datasources/totals.datasource.yaml': `columns:
  - { name: snapshot_at, type: DateTime }
  - { name: settled_before, type: DateTime }
  - { name: total, type: Float64 }
engine:
  type: ReplacingMergeTree
  version: settled_before
  sorting_key: [snapshot_at]
`,
  'pipes/totals.pipe.yaml': `nodes:
  - name: t
    sql: |
      SELECT {{ snapshot_at }} AS snapshot_at, {{ settled_before }} AS settled_before, sum(amount) AS total
      FROM events WHERE at <= {{ snapshot_at }}
copy: { to: totals, schedule: "*/5 * * * *", settle: 0 }
`,
};

describe.each(BACKENDS)('tally snapshot run [%s]', (backend) => {
  // A database per test: each deploys a different project.
  let env: NodeJS.ProcessEnv;
  beforeEach(() => {
    env = envFor(backend);
  });

  it('runs every copy pipe of the example at a tick, prints rows and ms, and re-runs it idempotently', async () => {
    const dir = exampleWithSettle(1);
    expect((await run(['deploy', '--project', dir], env)).code).toBe(0);
    const appended = await run(
      ['append', 'transactions', '--file', join(dir, 'fixtures', 'transactions.ndjson'), '--project', dir],
      env,
    );
    // The fixtures end with two events of unknown versions: refused (exit 1), the rest sent.
    expect(appended.code, appended.err).toBe(1);
    expect(appended.err.trim().split('\n')).toHaveLength(2);
    expect(appended.err).toMatch(/unknown event version/);
    await new Promise((r) => setTimeout(r, 2200)); // past settle
    const r = await run(['snapshot', 'run', '--at', '2024-03-12 00:00:00', '--project', dir], env);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(
      /balance_snapshots\s+-> balance_snapshots\s+snapshot_at 2024-03-12 00:00:00\s+settled_before \S+ \S+\s+\d+ rows\s+\d+ ms/,
    );
    expect(r.out).toMatch(/subscription_status_snapshots\s+-> subscription_status_snapshots/);
    expect(r.out).toContain('2 snapshots written');

    await new Promise((r) => setTimeout(r, 1100)); // a later settled_before: rows are counted per run
    const json = await run(
      ['snapshot', 'run', 'balance_snapshots', '--at', '2024-03-12 00:00:00', '--json', '--project', dir],
      env,
    );
    expect(json.code, json.err).toBe(0);
    const [again] = JSON.parse(json.out) as Array<{ rows: number; snapshotAt: string }>;
    const fold = await run(
      [
        'sql',
        "SELECT uniqExact(account_id) FROM transactions WHERE timestamp <= '2024-03-12 00:00:00'",
        '-f',
        'csv',
        '--project',
        dir,
      ],
      env,
    );
    const accounts = Number(fold.out.trim().split('\n')[1]);
    expect(accounts).toBeGreaterThan(10);
    expect(again).toMatchObject({ snapshotAt: '2024-03-12 00:00:00', rows: accounts });
    const stored = await run(
      ['sql', 'SELECT count() FROM balance_snapshots FINAL', '-f', 'csv', '--project', dir],
      env,
    );
    expect(Number(stored.out.trim().split('\n')[1])).toBe(accounts); // twice the tick, once the rows

    // The talk's account as of March 12 through the snapshot: the same as the fold (3701).
    const asOf = await run(
      [
        'sql',
        'SELECT balance, transactions FROM balance',
        '--param',
        'account_id=6ad87cf1',
        '--param',
        'as_of=2024-03-12 00:00:00',
        '-f',
        'csv',
        '--project',
        dir,
      ],
      env,
    );
    // 18.16 writes Decimal with its scale (3701.00), 26.x without.
    expect(asOf.out.trim().split('\n')[1]!.split(',').map(Number)).toEqual([3701, 2]);
  });

  it('says why a run wrote no rows: the events arrived after settled_before', async () => {
    const dir = exampleWithSettle(3600);
    expect((await run(['deploy', '--project', dir], env)).code).toBe(0);
    await run(
      ['append', 'transactions', '--file', join(dir, 'fixtures', 'transactions.ndjson'), '--project', dir],
      env,
    );
    const r = await run(
      ['snapshot', 'run', 'balance_snapshots', '--at', '2024-03-12 00:00:00', '--project', dir],
      env,
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/\s0 rows\s/);
    expect(r.out).toContain(
      "note: balance_snapshots wrote no rows: it counts events up to snapshot_at (2024-03-12 00:00:00) that reached ClickHouse before settled_before (the server's clock minus settle, 3600 s): either none is that old, or they were ingested since and wait for the next tick",
    );
    expect(r.out).toContain('1 snapshot written (1 with no rows: see the note)');
    expect(r.err).toBe(''); // a past tick of its schedule: nothing to warn of
  });

  it('writes an --at that is not a tick, or in the future, as asked, and warns of each', async () => {
    const dir = writeProject(SMALL);
    expect((await run(['deploy', '--project', dir], env)).code).toBe(0);
    const odd = await run(['snapshot', 'run', '--at', '2024-03-12 00:17:33', '--project', dir], env);
    expect(odd.code, odd.err).toBe(0);
    expect(odd.err).toMatch(
      /^warning: --at 2024-03-12 00:17:33 is not a tick of totals's schedule \(\*\/5 \* \* \* \*\): written as asked$/m,
    );
    expect(odd.err).not.toMatch(/future/);
    const later = await run(['snapshot', 'run', '--at', '2099-01-01 00:00:00', '--project', dir], env);
    expect(later.code, later.err).toBe(0);
    expect(later.err).toMatch(
      /^warning: --at 2099-01-01 00:00:00 is in the future: totals's row there is the latest snapshot/m,
    );
    expect(later.err).not.toMatch(/not a tick/);
  });

  it('takes the latest tick at or before now by default', async () => {
    const dir = writeProject(SMALL);
    expect((await run(['deploy', '--project', dir], env)).code).toBe(0);
    const before = Math.floor(Date.now() / 300_000) * 300_000;
    const r = await run(['snapshot', 'run', '--json', '--project', dir], env);
    expect(r.code, r.err).toBe(0);
    const [only] = JSON.parse(r.out) as Array<{ snapshotAt: string; rows: number }>;
    const tick = Date.parse(`${only!.snapshotAt.replace(' ', 'T')}Z`);
    expect(tick % 300_000).toBe(0);
    expect(tick === before || tick === before + 300_000).toBe(true);
    expect(only!.rows).toBe(1);
  });

  it('refuses what is not a copy pipe, a bad --at, and a missing action (exit 1)', async () => {
    const dir = writeProject(SMALL);
    const unknown = await run(['snapshot', 'run', 'totls', '--project', dir], env);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain('there is no pipe `totls` (did you mean `totals`?)');
    const badAt = await run(['snapshot', 'run', '--at', 'yesterday', '--project', dir], env);
    expect(badAt.code).toBe(1);
    expect(badAt.err).toContain('--at must be a DateTime');
    const noAction = await run(['snapshot', '--project', dir], env);
    expect(noAction.code).toBe(1);
    expect(noAction.err).toContain('tally snapshot needs an action: `run`');
    const example = await run(['snapshot', 'run', 'balance', '--project', exampleWithSettle(1)], env);
    expect(example.code).toBe(1);
    expect(example.err).toContain('pipe `balance` is not a copy pipe');
  });

  it('says which table is missing and how to create it (exit 1)', async () => {
    // Deploy without totals2, then add it: a project that knows it, a database that does not
    // have it yet (the same project folder: on chDB the database lives in it).
    const dir = writeProject(SMALL);
    expect((await run(['deploy', '--project', dir], env)).code).toBe(0);
    writeFileSync(
      join(dir, 'datasources', 'totals2.datasource.yaml'),
      SMALL['datasources/totals.datasource.yaml']!,
    );
    writeFileSync(
      join(dir, 'pipes', 'totals2.pipe.yaml'),
      SMALL['pipes/totals.pipe.yaml']!.replace('to: totals,', 'to: totals2,'),
    );
    const r = await run(['snapshot', 'run', 'totals2', '--at', '2024-01-01 00:00:00', '--project', dir], env);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /pipes\/totals2\.pipe\.yaml:6:13: copy pipe `totals2` cannot write: data source `totals2` has no table in snap_\w+/,
    );
    expect(r.err).toContain('hint: run `tally deploy` to create it');

    // Every copy pipe: the one that can write does, and the run says which did and which failed.
    const all = await run(['snapshot', 'run', '--at', '2024-01-01 00:05:00', '--project', dir], env);
    expect(all.code).toBe(1);
    expect(all.out).toMatch(/^totals\s+-> totals\s+snapshot_at 2024-01-01 00:05:00/m);
    expect(all.out).toContain('1 snapshot written, 1 failed (totals2)');
    expect(all.err).toMatch(/copy pipe `totals2` cannot write: data source `totals2` has no table/);
    const json = await run(
      ['snapshot', 'run', '--at', '2024-01-01 00:10:00', '--project', dir, '--json'],
      env,
    );
    expect(json.code).toBe(1);
    const doc = JSON.parse(json.out) as {
      ok: boolean;
      error: { code: string };
      written: Array<{ pipe: string }>;
      failed: Array<{ pipe: string; code: string; message: string }>;
    };
    expect(doc.ok).toBe(false);
    expect(doc.written.map((w) => w.pipe)).toEqual(['totals']);
    expect(doc.failed).toEqual([
      expect.objectContaining({
        pipe: 'totals2',
        code: doc.error.code,
        message: expect.stringContaining('totals2'),
      }),
    ]);
  });

  it('before any deploy: says the database is missing and creates nothing (exit 1)', async () => {
    const dir = writeProject(SMALL);
    const database = env.TALLY_CLICKHOUSE_DATABASE!;
    const r = await run(['snapshot', 'run', '--at', '2024-01-01 00:00:00', '--project', dir], env);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(noDatabaseMessage(database));
    expect(await databaseExists(backend, database, dir)).toBe(false);
  });

  it("names the file and line of a copy's SQL error (exit 1)", async () => {
    const dir = writeProject({
      ...SMALL,
      'pipes/totals.pipe.yaml': SMALL['pipes/totals.pipe.yaml']!.replace('sum(amount)', 'sum(amout)'),
    });
    // The tables are deployed; the copy pipe's SQL, tried on them, is refused at its line.
    const deployed = await run(['deploy', '--project', dir], env);
    expect(deployed.code).toBe(1);
    expect(deployed.err).toMatch(
      /pipes\/totals\.pipe\.yaml:4:\d+: error: .*refused node `\w+` of pipe `totals`/,
    );
    const r = await run(['snapshot', 'run', '--at', '2024-01-01 00:00:00', '--project', dir], env);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /pipes\/totals\.pipe\.yaml:4:\d+: copy pipe `totals` failed on ClickHouse: .*amout/,
    );
  });
});
