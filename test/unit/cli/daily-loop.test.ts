import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../../src/cli/commands/index.ts';
import { runMain } from '../../../src/cli/main.ts';
import { captureOutput } from '../../support/capture-output.ts';
import { removeProjects, writeProject } from '../project/write-project.ts';

// `tally test`, `append`, `sql`, `init` and help: the failure modes that stop before ClickHouse.
const REPO = join(import.meta.dirname, '..', '..', '..');

async function run(argv: string[], cwd = REPO) {
  const io = captureOutput();
  const code = await runMain(argv, { io, env: {}, cwd });
  return { code, out: io.stdout(), err: io.stderr() };
}

/** The example project without its tests, plus `files`. */
function example(files: Record<string, string>): string {
  const copy: Record<string, string> = {};
  for (const dir of ['datasources', 'pipes', 'endpoints']) {
    for (const f of readdirSync(join(REPO, dir))) {
      if (!f.endsWith('.test.yaml')) copy[`${dir}/${f}`] = readFileSync(join(REPO, dir, f), 'utf8');
    }
  }
  return writeProject({ ...copy, 'tally.yaml': 'name: copy\n', ...files });
}

afterAll(removeProjects);

describe('tally test: problems found before anything runs', () => {
  it('reports a bad test file with file:line:col and exits 1, running nothing', async () => {
    const dir = example({
      'endpoints/balance.test.yaml': [
        '- name: now',
        '  params: { acount_id: x }',
        '  expected: { rows: [] }',
        '- name: typo',
        '  expectd: { rows: [] }',
      ].join('\n'),
    });
    const r = await run(['test', '--project', dir]);
    expect(r.code).toBe(1);
    expect(r.err.split('\n')).toEqual([
      'endpoints/balance.test.yaml:2:13: error: endpoint `balance` has no param `acount_id` (did you mean `account_id`?) (its params: account_id, as_of) [unknown-param]',
      'endpoints/balance.test.yaml:4:3: error: case `typo` needs `expected` [missing-key]',
      'endpoints/balance.test.yaml:5:3: error: unknown key `expectd` in case `typo` (did you mean `expected`?) (allowed keys: name, endpoint, params, token, skip, expected) [unknown-key]',
      '✗ 3 problems in the test files; no test ran',
    ]);
    expect(r.out).toBe('');
  });

  it('says so when there are no test files, or the filter matches no case', async () => {
    const none = await run(['test', '--project', example({})]);
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/✗ no test files \(\*\.test\.yaml\) in /);
    const dir = example({ 'endpoints/balance.test.yaml': '- name: now\n  expected: { rows: [] }\n' });
    const filtered = await run(['test', '--project', dir, 'nomatch']);
    expect(filtered.code).toBe(1);
    expect(filtered.err).toBe('✗ no case matches "nomatch"');
    const asJson = await run(['test', '--project', dir, 'nomatch', '--json']);
    expect(asJson.code).toBe(1);
    expect(JSON.parse(asJson.out)).toEqual({
      ok: false,
      error: { code: 'no-match', message: 'no case matches "nomatch"' },
    });
  });

  it('answers --json with the problems', async () => {
    const dir = example({ 'endpoints/x.test.yaml': '- name: a\n  expected: { rows: [] }\n' });
    const r = await run(['test', '--project', dir, '--json']);
    expect(r.code).toBe(1);
    const body = JSON.parse(r.out) as {
      ok: boolean;
      error: { code: string; message: string; problems: unknown[] };
      problems: Array<{ code: string; location: unknown }>;
    };
    expect(body.ok).toBe(false);
    expect(body.error).toMatchObject({
      code: 'invalid-tests',
      message: '1 problem in the test files; no test ran',
    });
    expect(body.error.problems).toEqual(body.problems);
    expect(body.problems).toEqual([
      expect.objectContaining({
        code: 'missing-endpoint',
        location: { file: 'endpoints/x.test.yaml', line: 1, col: 3 },
      }),
    ]);
  });
});

describe('tally append: checks before sending', () => {
  it('names an unknown data source with did-you-mean', async () => {
    const r = await run(['append', 'transaction', '--file', 'x.ndjson']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('error: no data source named `transaction` (did you mean `transactions`?)');
  });

  it('reports bad rows with their line numbers and sends nothing on --dry-run', async () => {
    const dir = writeProject({
      'rows.ndjson': [
        '{"transaction_id":"t1","timestamp":"2024-03-14 10:00:00","account_id":"a","type":"refund","amount":10.5}',
        '',
        '{"transaction_id":"t2","timestamp":"yesterday","account_id":"a","type":"refund","amount":"x"}',
        'not json',
        '{"transaction_id":"t3","timestamp":"2024-03-14 10:00:00","account_id":"a","type":"refund","amount":1.234}',
      ].join('\n'),
    });
    const r = await run(['append', 'transactions', '--file', join(dir, 'rows.ndjson'), '--dry-run']);
    expect(r.code).toBe(1);
    const where = join(dir, 'rows.ndjson');
    expect(r.err.split('\n')).toEqual([
      expect.stringMatching(
        new RegExp(
          `^${where}:3: timestamp: expected a date and time .*; amount: expected a number \\(Decimal\\(18, 2\\)\\), got string "x"$`,
        ),
      ),
      expect.stringMatching(new RegExp(`^${where}:4: `)),
      `${where}:5: amount: Decimal(18, 2) takes at most 2 digits after the point, got 1.234`,
    ]);
    expect(r.out).toBe('✗ dry run: 4 rows checked, 1 good, 3 refused; nothing sent');
  });

  it('refuses rows that are not UTF-8 at their line and byte, rather than reading U+FFFD', async () => {
    const dir = writeProject({ 'rows.ndjson': '' });
    const where = join(dir, 'rows.ndjson');
    const good =
      '{"transaction_id":"t1","timestamp":"2024-03-14 10:00:00","account_id":"a","type":"refund","amount":1}';
    writeFileSync(
      where,
      Buffer.concat([
        Buffer.from(`${good}\n{"transaction_id":"caf`),
        Buffer.from([0xe9]),
        Buffer.from('"}\n'),
      ]),
    );
    const r = await run(['append', 'transactions', '--file', where, '--dry-run']);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      `error: ${where}:2:23: the rows are not valid UTF-8: line 2, byte 23 (0xE9); save them as UTF-8`,
    );
  });

  it('reads CSV: a header naming columns, quoted cells, empty cells take the default', async () => {
    const dir = writeProject({
      'rows.csv': [
        'transaction_id,timestamp,account_id,type,amount,merchant,description',
        't1,2024-03-14 10:00:00,a,refund,10.50,,"Refund, ""flight"""',
        't2,2024-03-14 10:00:00,a,refund,abc,,',
        't3,2024-03-14,a,refund,1,,,extra',
      ].join('\r\n'),
      'bad-header.csv': 'transaction_id,amout\nt1,1\n',
    });
    const r = await run(['append', 'transactions', '--file', join(dir, 'rows.csv'), '--dry-run', '--json']);
    expect(r.code).toBe(1);
    const body = JSON.parse(r.out) as { rows: number; refused_rows: Array<{ line: number; reason: string }> };
    expect(body.rows).toBe(3);
    expect(body.refused_rows).toEqual([
      { line: 3, reason: 'amount: expected a number (Decimal(18, 2)), got string "abc"' },
      { line: 4, reason: '8 cells for 7 header columns' },
    ]);
    const bad = await run(['append', 'transactions', '--file', join(dir, 'bad-header.csv'), '--dry-run']);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain(
      ':1: CSV column 2 `amout` is not a column of `transactions` (did you mean `amount`?)',
    );
  });

  it('reads rows from stdin (a spawned tally)', async () => {
    const child = spawn(
      process.execPath,
      [join(REPO, 'bin', 'tally.js'), 'append', 'transactions', '--dry-run', '--json', '--project', REPO],
      { env: { ...process.env, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += String(d)));
    child.stdin.end(
      '{"transaction_id":"t1","timestamp":"2024-03-14 10:00:00","account_id":"a","type":"refund","amount":1}\n{}\n',
    );
    const code = await new Promise((r) => child.once('exit', r));
    expect(code).toBe(1);
    expect(JSON.parse(out)).toMatchObject({
      rows: 2,
      refused: 1,
      refused_rows: [{ line: 2 }],
      dry_run: true,
    });
  });

  it('says what is wrong with the input', async () => {
    const missing = await run(['append', 'transactions', '--file', '/nonexistent/rows.ndjson']);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('cannot read /nonexistent/rows.ndjson: ENOENT');
    const format = await run(['append', 'transactions', '--file', 'x', '--format', 'xml']);
    expect(format.err).toContain('--format must be ndjson or csv (got `xml`)');
    const none = await run(['append']);
    expect(none.code).toBe(1);
    expect(none.err).toContain('tally append needs a data source');
  });
});

describe('tally sql: flags', () => {
  it('refuses a --param without a value', async () => {
    const r = await run(['sql', 'SELECT 1', '--param', 'account_id']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('--param takes name=value (got `account_id`)');
  });
});

describe('tally init', () => {
  it('scaffolds a project that tally check passes, and refuses a non-empty folder', async () => {
    const parent = writeProject({});
    const r = await run(['init', 'shop'], parent);
    expect(r.code).toBe(0);
    const dir = join(parent, 'shop');
    for (const f of [
      'tally.yaml',
      'datasources/events.datasource.yaml',
      'pipes/user_totals.pipe.yaml',
      'endpoints/user_totals.endpoint.yaml',
      'endpoints/user_totals.test.yaml',
      'fixtures/events.ndjson',
    ]) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
    expect(readFileSync(join(dir, 'tally.yaml'), 'utf8')).toContain('name: shop');
    const check = await run(['check', '--project', dir]);
    expect(check.code).toBe(0);
    expect(check.out).toContain('✓ 0 errors, 0 warnings');

    const again = await run(['init', 'shop'], parent);
    expect(again.code).toBe(1);
    expect(again.err).toContain(
      'is not empty (.gitignore, datasources, endpoints and 3 more); nothing was written',
    );
    expect(again.err).toContain('hint: choose an empty or new folder (tally init DIR), or add --force');
    const forced = await run(['init', 'shop', '--force', '--json'], parent);
    expect(forced.code).toBe(0);
    expect((JSON.parse(forced.out) as { replaced: string[] }).replaced).toContain('tally.yaml');
  });
});

describe('tally check: nodes that do not compile', () => {
  it('names each node that fails and each node that reads it, at its file and line; the rest compile', async () => {
    const dir = example({
      'pipes/broken.pipe.yaml': [
        'params:',
        '  since: { type: DateTime }',
        'nodes:',
        '  - name: first',
        '    sql: SELECT account_id, amount FROM transactions FINAL',
        '  - name: second',
        '    sql: SELECT account_id, amount FROM first WHERE 1 AND {{ since }} > 0',
        '  - name: third',
        '    sql: SELECT account_id, sum(amount) AS total FROM second GROUP BY account_id',
        '  - name: apart',
        '    sql: SELECT count() AS n FROM first',
        '',
      ].join('\n'),
    });
    const r = await run(['check', '--project', dir, '--json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.out) as {
      problems: Array<{ code: string; message: string; location: { file: string; line: number } }>;
    };
    const failing = report.problems.filter((p) => p.code === 'missing-param');
    expect(failing.map((p) => [p.location.file, p.location.line, p.message.split(' does not')[0]])).toEqual([
      [
        'pipes/broken.pipe.yaml',
        7,
        'node `second` uses {{ since }} where a request may give it no value (param `since` is optional and has no default)',
      ],
      ['pipes/broken.pipe.yaml', 8, 'node `third`'],
    ]);
    expect(failing[1]!.message).toContain('param "since" has no value');
  });
});

describe('tally serve / dev: a bad --port', () => {
  it('is refused before the project is read or anything starts, naming the value', async () => {
    for (const [command, value] of [
      ['serve', '70000'],
      ['dev', 'abc'],
      ['serve', '-1'],
    ] as const) {
      // A folder that does not exist: the flag's error comes first, so nothing else was tried.
      const r = await run([command, '--project', join(REPO, 'no-such-folder'), `--port=${value}`]);
      expect(r.code, `${command} --port ${value}`).toBe(1);
      expect(r.err).toContain(`--port must be a port number, got \`${value}\``);
      expect(r.err).not.toContain('does not exist');
    }
  });
});

describe('help', () => {
  it('lists every command in tally --help', async () => {
    const r = await run(['--help']);
    for (const c of COMMANDS)
      expect(r.out).toMatch(new RegExp(`^  ${c.name} +${c.summary.slice(0, 10)}`, 'm'));
  });

  it('each entry of the list is its module: the same name and summary', async () => {
    for (const entry of COMMANDS) {
      const c = await entry.load();
      expect(c.name).toBe(entry.name);
      expect(c.summary, c.name).toBe(entry.summary);
    }
  });

  it("each command's help names every one of its flags", async () => {
    for (const entry of COMMANDS) {
      const c = await entry.load();
      const r = await run([c.name, '--help']);
      expect(r.code, c.name).toBe(0);
      for (const [flag, spec] of Object.entries(c.options)) {
        expect(r.out, `${c.name} --${flag}`).toContain(`--${flag}`);
        if (spec.short) expect(r.out, `${c.name} -${spec.short}`).toContain(`-${spec.short}`);
      }
    }
  });
});
