import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { BACKENDS, type BackendName } from '../support/backends.ts';
import { runCli } from '../support/capture-output.ts';
import { CliDatabases, databaseExists, noDatabaseMessage } from '../support/cli-databases.ts';
import { copyExample } from '../support/example-copy.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

const REPO = join(import.meta.dirname, '..', '..');
const databases = new CliDatabases('sql');

const run = (argv: string[], env: NodeJS.ProcessEnv) => runCli(argv, env, REPO);

function envFor(backend: BackendName): NodeJS.ProcessEnv {
  return databases.env(backend);
}

afterAll(async () => {
  removeProjects();
  await databases.dropAll();
});

describe.each(BACKENDS)('tally sql with pipe nodes as tables [%s]', (backend) => {
  const env = envFor(backend);
  const dir = writeProject({});

  it('loads the example project (deploy, then the fixtures with tally append)', async () => {
    copyExample(dir);
    expect((await run(['deploy', '--project', dir], env)).code).toBe(0);
    for (const ds of ['transactions', 'subscription_events', 'page_events']) {
      const r = await run(
        ['append', ds, '--file', join(dir, 'fixtures', `${ds}.ndjson`), '--project', dir],
        env,
      );
      // The transactions fixtures end with two events of versions the data source does not know:
      // refused by line (exit 1), every other row sent.
      if (ds === 'transactions') {
        expect(r.code, r.err).toBe(1);
        expect(r.out + r.err).toMatch(/511 rows to transactions .*: 501 sent, 2 refused/);
      } else expect(r.code, r.err).toBe(0);
    }
  });

  it('reads a node as a table, with --param, as a table, JSON and CSV', async () => {
    const table = await run(
      [
        'sql',
        'SELECT account_id, amount, timestamp FROM balance.movements ORDER BY timestamp',
        '--param',
        'account_id=6ad87cf1',
        '--project',
        dir,
      ],
      env,
    );
    expect(table.code, table.err).toBe(0);
    expect(table.out.split('\n').slice(0, 5)).toEqual([
      'account_id  amount  timestamp',
      '----------  ------  -------------------',
      '6ad87cf1    5000    2024-03-11 12:30:45',
      '6ad87cf1    -1299   2024-03-11 15:57:09',
      '6ad87cf1    -879    2024-03-13 09:17:28',
    ]);
    const json = await run(
      [
        'sql',
        'SELECT balance FROM balance',
        '--param',
        'account_id=6ad87cf1',
        '--param',
        'balance.as_of=2024-03-12 00:00:00',
        '--json',
        '--project',
        dir,
      ],
      env,
    );
    expect((JSON.parse(json.out) as { data: Array<{ balance: number }> }).data).toEqual([{ balance: 3701 }]);
    // ClickHouse's own JSON text: no number rounded by a parse (quoted or bare, every digit).
    const big = await run(
      ['sql', "SELECT toUInt64('18446744073709551615') AS u", '--json', '--project', dir],
      env,
    );
    expect(big.out).toMatch(/"u": "?18446744073709551615"?\s/);
    const csv = await run(['sql', 'SELECT * FROM active_subscriptions', '-f', 'csv', '--project', dir], env);
    expect(csv.out).toBe('"active_subscriptions"\n97');
  });

  it('joins two pipes: the snapshot equals the raw balance', async () => {
    const r = await run(
      [
        'sql',
        'SELECT s.balance = b.balance AS same FROM balances_snapshot AS s ALL INNER JOIN balance.balance AS b USING account_id',
        '--param',
        'account_id=6ad87cf1',
        '--json',
        '--project',
        dir,
      ],
      env,
    );
    expect(r.code, r.err).toBe(0);
    expect((JSON.parse(r.out) as { data: Array<{ same: number }> }).data).toEqual([{ same: 1 }]);
  });

  it('compiles with sample values when a required param is missing, and says so', async () => {
    const r = await run(['sql', 'SELECT * FROM balance.movements', '--compile', '--project', dir], env);
    expect(r.code).toBe(0);
    expect(r.err).toContain(
      'note: balance.movements compiled with a sample value for the required param `account_id`',
    );
    expect(r.out).toMatch(/^SELECT \* FROM \(.*FROM `\w+`\.`transactions`\s.*LIMIT 1 BY transaction_id/s);
    expect(r.out).not.toContain('{{');
  });

  it('names an unknown node or param with did-you-mean', async () => {
    const node = await run(['sql', 'SELECT * FROM balance.movemnts', '--project', dir], env);
    expect(node.code).toBe(1);
    expect(node.err).toContain('pipe `balance` has no node `movemnts` (did you mean `movements`?)');
    const param = await run(
      ['sql', 'SELECT * FROM balance', '--param', 'acount_id=x', '--project', dir],
      env,
    );
    expect(param.code).toBe(1);
    expect(param.err).toContain(
      '--param acount_id: no pipe the query reads declares `acount_id` (did you mean `account_id`?)',
    );
    const value = await run(
      ['sql', 'SELECT * FROM balance', '--param', 'as_of=tomorrow', '--project', dir],
      env,
    );
    expect(value.code).toBe(1);
    expect(value.err).toContain('--param as_of:');
  });

  it('runs statements that answer no rows (CREATE, INSERT, DROP) and says ok', async () => {
    const create = await run(
      [
        'sql',
        '/* a scratch table */ CREATE TABLE scratch_t (x UInt8) ENGINE = MergeTree ORDER BY x',
        '--project',
        dir,
      ],
      env,
    );
    expect(create.err).toBe('');
    expect(create.code).toBe(0);
    expect(create.out).toMatch(/^ok in \d+(\.\d+)? ms$/);
    const insert = await run(['sql', 'INSERT INTO scratch_t VALUES (7)', '--json', '--project', dir], env);
    expect(insert.code, insert.err).toBe(0);
    expect(JSON.parse(insert.out)).toMatchObject({ ok: true });
    const read = await run(['sql', '(SELECT x FROM scratch_t)', '--format', 'csv', '--project', dir], env);
    expect(read.code, read.err).toBe(0);
    expect(read.out).toBe('"x"\n7');
    const drop = await run(['sql', 'DROP TABLE scratch_t', '--project', dir], env);
    expect(drop.code, drop.err).toBe(0);
    const gone = await run(['sql', 'SELECT x FROM scratch_t', '--project', dir], env);
    expect(gone.code).not.toBe(0);
    expect(gone.err).toMatch(/scratch_t/);
  });

  it('runs one statement: several, or only comments, are refused before anything runs', async () => {
    const two = await run(
      ['sql', 'CREATE TABLE never_made (x UInt8) ENGINE = Memory; SELECT 1', '--project', dir],
      env,
    );
    expect(two.code).toBe(1);
    expect(two.err).toContain('tally sql runs one statement; this has 2');
    const made = await run(['sql', 'EXISTS TABLE never_made', '--format', 'csv', '--project', dir], env);
    expect(made.out.split('\n').at(-1)).toBe('0');
    for (const q of ['/* only a comment */', '-- a line comment', ' ; ']) {
      const none = await run(['sql', '--project', dir, '--', q], env);
      expect(none.code, q).toBe(1);
      expect(none.err, q).toContain('there is no statement to run');
    }
    const trailing = await run(['sql', "SELECT ';' AS x;", '--format', 'csv', '--project', dir], env);
    expect(trailing.out).toBe('"x"\n";"');
  });

  it('prints every digit of big numbers in its table (they were rounded through a double)', async () => {
    const r = await run(
      [
        'sql',
        "SELECT toUInt64('18446744073709551615') AS u, toDecimal128('1234567890123456789012345678.01', 2) AS d",
        '--project',
        dir,
      ],
      env,
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('18446744073709551615');
    expect(r.out).toContain('1234567890123456789012345678.01');
  });

  it("prints a query's own FORMAT as ClickHouse wrote it (it crashed the table printer)", async () => {
    const csv = await run(['sql', "SELECT 1 AS x, 'a' AS y FORMAT CSVWithNames", '--project', dir], env);
    expect(csv.err).toBe('');
    expect(csv.code).toBe(0);
    expect(csv.out).toBe('"x","y"\n1,"a"');
    const lines = await run(
      ['sql', 'SELECT toUInt8(number) AS n FROM numbers(2) FORMAT JSONEachRow;', '--project', dir],
      env,
    );
    expect(lines.code, lines.err).toBe(0);
    expect(lines.out).toBe('{"n":0}\n{"n":1}');
    // FORMAT in a comment is not a format clause either: the table is printed.
    const commented = await run(['sql', 'SELECT 7 AS x -- FORMAT CSV', '--project', dir], env);
    expect(commented.code, commented.err).toBe(0);
    expect(commented.out).toMatch(/^x\n-+\n7\n1 row in /);
    // FORMAT inside a string is not a format clause.
    const text = await run(['sql', "SELECT 'FORMAT CSV' AS f", '--format', 'csv', '--project', dir], env);
    expect(text.code, text.err).toBe(0);
    expect(text.out).toBe('"f"\n"FORMAT CSV"');
  });
});

describe.each(BACKENDS)('tally sql before any deploy [%s]', (backend) => {
  it('creates no database: --compile prints the query, a query is refused naming the database', async () => {
    const env = envFor(backend);
    const database = env.TALLY_CLICKHOUSE_DATABASE!;
    const dir = writeProject({});
    copyExample(dir);
    for (const query of ['SELECT 1', 'SELECT * FROM balance.movements']) {
      const compiled = await run(['sql', query, '--compile', '--project', dir], env);
      expect(compiled.code, compiled.err).toBe(0);
      expect(compiled.out).toContain('SELECT');
    }
    expect(await databaseExists(backend, database, dir)).toBe(false);
    for (const query of ['SELECT 1', 'SELECT count() FROM transactions']) {
      const r = await run(['sql', query, '--project', dir], env);
      expect(r.code, query).toBe(1);
      expect(r.err, query).toMatch(noDatabaseMessage(database));
    }
    expect(await databaseExists(backend, database, dir)).toBe(false);
  });
});

describe.each(BACKENDS)('tally init [%s]', (backend) => {
  it('scaffolds a project whose tests pass under tally test', async () => {
    const parent = writeProject({});
    const env = backend === 'server' ? { TALLY_CLICKHOUSE_URL: inject('clickhouseUrl') } : {};
    expect((await run(['init', join(parent, 'p')], env)).code).toBe(0);
    const r = await run(['test', '--project', join(parent, 'p')], env);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toContain('fixtures/events.ndjson: 6 events, 5 stored, 1 duplicate dropped');
    expect(r.out).toMatch(/^✓ 3 passed, 0 failed \(3 cases in 1 file, /m);
  });

  it('sends a token that may read by default; a case can name one, or none', async () => {
    const parent = writeProject({});
    const env = backend === 'server' ? { TALLY_CLICKHOUSE_URL: inject('clickhouseUrl') } : {};
    const dir = join(parent, 'p');
    expect((await run(['init', dir], env)).code).toBe(0);
    appendFileSync(
      join(dir, 'tally.yaml'),
      'tokens:\n  reader: { token: r-secret, scope: read }\n  loader: { token: l-secret, scope: append }\n',
    );
    appendFileSync(
      join(dir, 'endpoints/user_totals.test.yaml'),
      [
        '',
        '- name: without a token, 401',
        '  token: none',
        '  params: { user_id: u1 }',
        '  expected: { status: 401, error: token }',
        '- name: an append token may not read, 403',
        '  token: loader',
        '  params: { user_id: u1 }',
        '  expected: { status: 403 }',
        '',
      ].join('\n'),
    );
    const r = await run(['test', '--project', dir], env);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/^✓ 5 passed, 0 failed/m);
  });
});
