import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runMain } from '../../../src/cli/main.ts';
import { captureOutput } from '../../support/capture-output.ts';
import { DESIGN_FILES, removeProjects, writeProject } from '../project/write-project.ts';

const REPO = join(import.meta.dirname, '..', '..', '..');
const BROKEN = join(REPO, 'test', 'fixtures', 'broken');

async function run(...argv: string[]) {
  const io = captureOutput();
  const code = await runMain(argv, { io, env: {}, cwd: REPO });
  return { code, out: io.stdout(), err: io.stderr() };
}

afterAll(removeProjects);

describe('tally CLI', () => {
  it('lists every command in --help and exits 0', async () => {
    const r = await run('--help');
    expect(r.code).toBe(0);
    for (const c of ['check', 'services', 'sql']) expect(r.out).toMatch(new RegExp(`^  ${c} `, 'm'));
    expect(r.out).toContain('Exit codes: 0 ok, 1');
  });

  it('suggests the closest command for a typo and exits 1', async () => {
    const r = await run('chekc');
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      'error: unknown command `chekc` (did you mean `check`?); run `tally --help` for the list',
    );
  });

  it('suggests the closest flag for a typo', async () => {
    const r = await run('check', '--projcet', '.');
    expect(r.code).toBe(1);
    expect(r.err).toContain('unknown flag `--projcet` (did you mean `--project`?)');
    expect(r.err).toContain('Usage: tally check');
  });

  it('takes --project and --json before the command too, and names a mistyped leading flag', async () => {
    const before = await run('-p', REPO, '--json', 'check');
    expect(before.code).toBe(0);
    expect(JSON.parse(before.out)).toMatchObject({ ok: true, errors: 0 });
    expect((await run(`--project=${REPO}`, 'check')).code).toBe(0);
    const typo = await run('--projcet', REPO, 'check');
    expect(typo.code).toBe(1);
    expect(typo.err).toBe(
      "error: unknown flag `--projcet` (did you mean `--project`?); a command's flags go after it: tally <command> [flags]",
    );
    expect((await run('--verison')).err).toContain('(did you mean `--version`?)');
    expect((await run('--json')).err).toBe(
      'error: `--json` without a command; run `tally --help` for the list',
    );
    // A command's own flag before it is not moved: it is the command's, so it goes after it.
    expect((await run('--sql', 'check')).err).toContain('unknown flag `--sql`');
  });

  it('with --json, a failure is one JSON document on stdout as well as a message on stderr', async () => {
    const broken = await run('deploy', '--check', '--json', '--project', join(BROKEN, 'yaml-syntax'));
    expect(broken.code).toBe(1);
    expect(JSON.parse(broken.out)).toMatchObject({
      ok: false,
      error: {
        code: 'invalid-project',
        message: expect.stringContaining('1 problem in'),
        problems: [
          {
            severity: 'error',
            code: 'yaml-syntax',
            location: { file: 'datasources/events.datasource.yaml', line: 2, col: 5 },
          },
        ],
      },
    });
    expect(broken.err).toContain('yaml-syntax');

    const flag = await run('check', '--json', '--projcet', '.');
    expect(flag.code).toBe(1);
    expect(JSON.parse(flag.out)).toEqual({
      ok: false,
      error: { code: 'bad-flag', message: 'unknown flag `--projcet` (did you mean `--project`?)' },
    });
    // Without --json, stdout stays empty.
    expect((await run('deploy', '--check', '--project', join(BROKEN, 'yaml-syntax'))).out).toBe('');
  });

  it('with --json, a wrong command, argument or flag value is a JSON document too, before anything runs', async () => {
    const cases: Array<[string[], string, RegExp]> = [
      [['chekc'], 'unknown-command', /did you mean `check`/],
      [['sql'], 'bad-args', /tally sql needs a query/],
      [['sql', 'SELECT 1', '--format', 'xml'], 'bad-flag', /--format must be table, json or csv/],
      [['append'], 'bad-args', /tally append needs a data source/],
      [['append', 'transactio', '--file', 'x.ndjson'], 'unknown-datasource', /did you mean `transactions`/],
      [['quarantine', '--limit', '0'], 'bad-flag', /--limit must be a whole number/],
      [['snapshot'], 'bad-args', /tally snapshot needs an action/],
      [['snapshot', 'run', '--at', 'soon'], 'bad-flag', /--at must be a DateTime/],
      [['init', 'a', 'b'], 'bad-args', /tally init takes one folder/],
      [['dev', '--port', 'x'], 'bad-flag', /--port must be a port number/],
      [['replay'], 'bad-args', /tally replay needs one materialized pipe/],
      [['replay', 'account_balances_mv', '--sample', 'x'], 'bad-flag', /--sample must be a whole number/],
      [['diff', 'balance'], 'bad-args', /tally diff needs one endpoint and --base/],
      [['services', 'bogus'], 'bad-args', /tally services needs one of/],
      [['append', 'transactions', '--format', 'xml'], 'bad-flag', /--format must be ndjson or csv/],
      [['sql', 'SELECT 1', '--param', 'oops'], 'bad-flag', /--param takes name=value/],
    ];
    for (const [argv, code, message] of cases) {
      const r = await run(...argv, '--json');
      const what = argv.join(' ');
      expect(r.code, what).toBe(1);
      const doc = JSON.parse(r.out);
      expect(doc, what).toMatchObject({ ok: false, error: { code } });
      expect(doc.error.message, what).toMatch(message);
      expect(r.err, what).toMatch(message);
    }
  });

  it('refuses a folder that is not a project before opening anything there', async () => {
    const empty = writeProject({});
    for (const argv of [
      ['deploy', '--check'],
      ['deploy', '--allow-destructive'],
      ['test'],
      ['sql', 'SELECT 1'],
      ['quarantine'],
      ['services', 'status'],
    ]) {
      const r = await run(...argv, '--project', empty);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(r.err).toContain(`${empty} has no tally.yaml and no datasources/, pipes/ or endpoints/ folder`);
    }
    // Nothing was created there: no embedded engine's data folder.
    expect(existsSync(join(empty, '.tally'))).toBe(false);
  });

  it('prints command help', async () => {
    const r = await run('check', '--help');
    expect(r.code).toBe(0);
    expect(r.out).toContain('--sql');
  });

  it('checks the example project: a tree of resources, no problems, exit 0', async () => {
    const r = await run('check');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/data sources \(7\)/);
    expect(r.out).toMatch(/^ {2}transactions +ReplacingMergeTree +9 columns +kafka: transactions/m);
    // Where a data source's rows come from: a pipe, not events.
    expect(r.out).toMatch(
      /^ {2}account_balances +AggregatingMergeTree +4 columns +filled by account_balances_mv \(materialized\)/m,
    );
    expect(r.out).toMatch(
      /^ {2}balance_snapshots +ReplacingMergeTree +6 columns +filled by balance_snapshots \(copy\)/m,
    );
    expect(r.out).toMatch(/^ {2}account_balances_mv +-> account_balances \(materialized\)/m);
    expect(r.out).toMatch(/^ {2}balance_snapshots +-> balance_snapshots \(copy @hourly\)/m);
    expect(r.out).toMatch(/✓ 0 errors, 0 warnings/);
  });

  it('warns of aggregate states no pipe fills any more, named by what reads them, "filled by nothing"', async () => {
    const { 'pipes/account_balances.pipe.yaml': _removed, ...files } = DESIGN_FILES;
    const dir = writeProject({
      ...files,
      'pipes/balances_now.pipe.yaml':
        'nodes:\n  - name: n\n    sql: SELECT account_id, sumMerge(balance) AS balance FROM account_balances GROUP BY account_id\n',
      'endpoints/balances_now.endpoint.yaml': 'pipe: balances_now\n',
    });
    const r = await run('check', '--project', dir);
    expect(r.code).toBe(0);
    // Not "events API": ingestion refuses aggregate states.
    expect(r.out).toMatch(/^ {2}account_balances +AggregatingMergeTree +3 columns +filled by nothing$/m);
    expect(r.out).toMatch(/^ {2}transactions +ReplacingMergeTree +7 columns +kafka: transactions/m);
    expect(r.err).toContain(
      'datasources/account_balances.datasource.yaml:4:5: warning: data source `account_balances` holds aggregate states (column `balance` AggregateFunction(sum, Decimal(18, 2))) and no materialized pipe fills it; events cannot, so it never changes: endpoint `balances_now` (pipe `balances_now`) reads a frozen table (add a pipe with materialize: { to: account_balances } (deploy backfills it), or remove the data source and what reads it) [aggregate-not-filled]',
    );
    expect(r.err.match(/\[aggregate-not-filled\]/g)).toHaveLength(1);
  });

  it('checks the endpoint test files too', async () => {
    const dir = writeProject({
      'datasources/t.datasource.yaml':
        'columns:\n  - { name: id, type: String }\nengine: { sorting_key: [id] }\n',
      'pipes/p.pipe.yaml': 'nodes:\n  - name: n\n    sql: SELECT id FROM t\n',
      'endpoints/p.endpoint.yaml': 'pipe: p\n',
      'endpoints/p.test.yaml': '- name: bad\n  expected: { rowz: [] }\n',
    });
    const r = await run('check', '--project', dir);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/endpoints\/p\.test\.yaml:2:\d+: error: unknown key `rowz`/);
  });

  it('refuses to check a folder that is not a project (a mistyped --project), exit 1', async () => {
    const r = await run('check', '--project', join(REPO, 'docs'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /docs has no tally\.yaml and no datasources\/, pipes\/ or endpoints\/ folder: nothing to check/,
    );
    // No empty lists of resources before the error: there is no project to list.
    expect(r.out).not.toContain('data sources (0)');
  });

  it('reports every problem of a broken project with file:line:col and exits 1', async () => {
    const r = await run('check', '--project', join(BROKEN, 'unknown-column'));
    expect(r.code).toBe(1);
    expect(r.err.split('\n')).toEqual([
      'datasources/events.datasource.yaml:6:12: error: version names unknown column `updated_at` (columns: id, at) [unknown-column]',
      'datasources/events.datasource.yaml:7:33: error: sorting_key names unknown column `tiemstamp` (columns: id, at) [unknown-column]',
      'datasources/events.datasource.yaml:8:13: error: dedup_key names unknown column `event_id` (columns: id, at) [unknown-column]',
    ]);
    expect(r.out).toContain('✗ 3 errors, 0 warnings');
  });

  it('reports an optional param used without a guard at its {{ }}, with the three fixes', async () => {
    const pipe = DESIGN_FILES['pipes/balance.pipe.yaml']!.replace(
      'WHERE account_id = {{ account_id }}\n',
      'WHERE account_id = {{ account_id }} AND timestamp > {{ as_of }} - 86400\n',
    );
    const r = await run(
      'check',
      '--project',
      writeProject({ ...DESIGN_FILES, 'pipes/balance.pipe.yaml': pipe }),
    );
    expect(r.code).toBe(1);
    expect(r.err.split('\n').filter((l) => !l.includes('[tokens-not-configured]'))).toEqual([
      'pipes/balance.pipe.yaml:9:59: error: node `movements` uses {{ as_of }} where a request may give it no value (param `as_of` is optional and has no default) (give it a default, make it required: true, or wrap the SQL in {% if defined(as_of) %} ... {% end %}) [missing-param]',
      // The node after it reads it: it fails with it, at itself.
      expect.stringMatching(
        /^pipes\/balance\.pipe\.yaml:11:5: error: node `balance` does not compile: param "as_of" has no value/,
      ),
      expect.stringContaining('[dedup-read]'),
    ]);
  });

  it('answers --json with problems and resources', async () => {
    const r = await run('check', '--json', '--project', join(BROKEN, 'unknown-type'));
    expect(r.code).toBe(1);
    const body = JSON.parse(r.out);
    expect(body.ok).toBe(false);
    expect(body.errors).toBeGreaterThan(0);
    expect(body.problems[0]).toMatchObject({
      severity: 'error',
      location: { file: expect.stringMatching(/\.yaml$/) },
    });
    const good = JSON.parse((await run('check', '--json')).out);
    expect(good.ok).toBe(true);
    expect(good.resources.endpoints.map((e: { name: string }) => e.name)).toContain('balance');
  });

  it('refuses arguments a command does not take (they were ignored)', async () => {
    for (const command of ['check', 'deploy', 'dev', 'serve']) {
      const r = await run(command, 'examples', '--json');
      expect(r.code, command).toBe(1);
      expect(r.err, command).toContain(`tally ${command} takes no arguments; unexpected \`examples\``);
      expect(JSON.parse(r.out).error, command).toMatchObject({ code: 'bad-args' });
    }
  });

  it('refuses a second data source for tally quarantine, and says how to pass a negative flag value', async () => {
    const q = await run('quarantine', 'transactions', 'balance_snapshots');
    expect(q.code).toBe(1);
    expect(q.err).toContain('tally quarantine takes one data source; unexpected `balance_snapshots`');
    const r = await run('replay', 'account_balances_mv', '--sample', '-1');
    expect(r.code).toBe(1);
    expect(r.err).toContain('--sample needs a value; one that starts with a dash is written --sample=-1');
  });

  it('names an unknown command asked for with tally help', async () => {
    const r = await run('help', 'chek');
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      'error: unknown command `chek` (did you mean `check`?); run `tally --help` for the list',
    );
    expect((await run('help', 'check')).out).toContain('Usage: tally check');
  });

  it('checks a folder that is not a project without searching its subfolders for test files', async () => {
    const dir = writeProject({ 'notes/deep/er/old.test.yaml': 'endpoint: [unclosed\n' });
    const r = await run('check', '--json', '--project', dir);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out).problems.map((p: { code: string }) => p.code)).toEqual(['project-not-found']);
    const file = await run('check', '--project', join(dir, 'notes', 'deep', 'er', 'old.test.yaml'));
    expect(file.err).toContain('old.test.yaml is a file, not a folder');
  });

  it('init names a folder it cannot write instead of crashing, and quotes a path the shell would split', async () => {
    const dir = writeProject({ 'a-file': 'x' });
    const r = await run('init', join(dir, 'a-file', 'sub'));
    expect(r.code).toBe(1);
    expect(r.err).toContain(`cannot write ${join(dir, 'a-file', 'sub', 'tally.yaml')}: ENOTDIR`);
    expect(r.err).not.toContain('internal error');
    const spaced = await run('init', join(dir, 'my project'));
    expect(spaced.code, spaced.err).toBe(0);
    expect(spaced.out).toContain(` test --project '${join(dir, 'my project')}'`);
  });

  it('says when the project folder does not exist', async () => {
    const r = await run('check', '--project', '/nonexistent/tally-project');
    expect(r.code).toBe(1);
    expect(r.err).toContain('project folder /nonexistent/tally-project does not exist');
    // Commands that open an engine refuse it before the embedded one would make its data folder.
    const missing = join(writeProject({}), 'no-such-folder');
    for (const argv of [['sql', 'SELECT 1'], ['quarantine'], ['deploy', '--check']]) {
      const q = await run(...argv, '--json', '--project', missing);
      expect(q.code, argv.join(' ')).toBe(1);
      expect(JSON.parse(q.out).error, argv.join(' ')).toMatchObject({
        code: 'project-not-found',
        message: `project folder ${missing} does not exist`,
      });
    }
    expect(existsSync(missing)).toBe(false);
  });
});
