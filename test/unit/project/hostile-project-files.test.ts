/**
 * Project files a user did not mean, or a tool left behind: each is an error naming the file
 * (and line), never a skipped file, a default silently taken, a hang or an internal error.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type LoadProjectResult, loadProject } from '../../../src/project/load-project.ts';
import { DESIGN_FILES, removeProjects, writeProject } from './write-project.ts';

const env = {};
const outside = mkdtempSync(join(tmpdir(), 'tally-outside-'));
afterAll(() => {
  removeProjects();
  rmSync(outside, { recursive: true, force: true });
});

/** The DESIGN.md project with `changes` applied (a file's new text; null removes it). */
function project(changes: Record<string, string | null> = {}): string {
  const files: Record<string, string> = { ...DESIGN_FILES };
  for (const [rel, text] of Object.entries(changes)) {
    if (text === null) delete files[rel];
    else files[rel] = text;
  }
  return writeProject(files);
}

function errors(r: LoadProjectResult): string[] {
  return r.problems
    .filter((p) => p.severity === 'error')
    .map((p) => `${p.location ? `${p.location.file}:${p.location.line}: ` : ''}${p.message}`);
}

const BALANCE = DESIGN_FILES['pipes/balance.pipe.yaml']!;
const ENDPOINT = DESIGN_FILES['endpoints/balance.endpoint.yaml']!;

describe('files that are not plain files', () => {
  it('reads a resource file that is a symbolic link to a file elsewhere (it was skipped)', () => {
    const dir = project({ 'datasources/transactions.datasource.yaml': null });
    const shared = join(outside, 'transactions.datasource.yaml');
    writeFileSync(shared, DESIGN_FILES['datasources/transactions.datasource.yaml']!);
    symlinkSync(shared, join(dir, 'datasources', 'transactions.datasource.yaml'));
    const r = loadProject(dir, { env });
    expect(errors(r)).toEqual([]);
    expect([...r.project!.datasources.keys()]).toContain('transactions');
  });

  it('names a link to nothing and a folder where a resource file should be', () => {
    const dir = project();
    symlinkSync(join(outside, 'gone.pipe.yaml'), join(dir, 'pipes', 'gone.pipe.yaml'));
    mkdirSync(join(dir, 'endpoints', 'odd.endpoint.yaml'));
    mkdirSync(join(dir, 'endpoints', 'drafts')); // a folder of the user's own: left alone
    expect(errors(loadProject(dir, { env }))).toEqual([
      'endpoints/odd.endpoint.yaml:1: endpoints/odd.endpoint.yaml is a folder, not a file',
      'pipes/gone.pipe.yaml:1: pipes/gone.pipe.yaml is a symbolic link to nothing (its target is missing, or the links loop)',
    ]);
  });

  it('names a resource folder that is a file', () => {
    const dir = project({ 'endpoints/balance.endpoint.yaml': null });
    rmSync(join(dir, 'endpoints'), { recursive: true, force: true });
    writeFileSync(join(dir, 'endpoints'), 'not a folder');
    expect(errors(loadProject(dir, { env }))).toEqual(['endpoints:1: endpoints is a file, not a folder']);
  });

  it('refuses a tally.yaml that is a folder, a link to nothing or a FIFO (whose read would never end)', () => {
    for (const make of [
      (path: string) => mkdirSync(path),
      (path: string) => symlinkSync(join(outside, 'missing.yaml'), path),
      (path: string) => symlinkSync(path, path),
      (path: string) => execFileSync('mkfifo', [path]),
    ]) {
      const dir = project();
      make(join(dir, 'tally.yaml'));
      const [only, ...rest] = errors(loadProject(dir, { env }));
      expect(rest).toEqual([]);
      expect(only).toMatch(
        /^tally\.yaml:1: tally\.yaml is (a folder, not a file|a symbolic link to nothing|not a regular file)/,
      );
    }
  });
});

describe('values that cannot work', () => {
  it('refuses a param named `token` or starting with `_`: a request could never set it', () => {
    for (const name of ['token', '_page']) {
      const pipe = BALANCE.replace(
        '  as_of:      { type: DateTime, description: Balance at this instant; default now }\n',
        `  as_of:      { type: DateTime, description: Balance at this instant; default now }\n  ${name}: { type: String, default: x }\n`,
      );
      expect(errors(loadProject(project({ 'pipes/balance.pipe.yaml': pipe }), { env })), name).toEqual([
        expect.stringMatching(
          new RegExp(`^pipes/balance\\.pipe\\.yaml:5: param name \`${name}\` is reserved: `),
        ),
      ]);
    }
  });

  it('refuses a param enum that lists a value twice', () => {
    const pipe = BALANCE.replace(
      '  as_of:      { type: DateTime, description: Balance at this instant; default now }\n',
      '  as_of:      { type: DateTime, description: Balance at this instant; default now }\n  kind: { type: String, enum: [abc, def, abc] }\n',
    );
    expect(errors(loadProject(project({ 'pipes/balance.pipe.yaml': pipe }), { env }))).toEqual([
      'pipes/balance.pipe.yaml:5: enum of param `kind` lists "abc" twice',
    ]);
  });

  it('refuses a max_staleness under a second (0 would refuse every answer, not lift the limit)', () => {
    for (const v of ['0', '0s', '500ms']) {
      const ep = DESIGN_FILES['endpoints/balance.endpoint.yaml']!.replace(
        /max_staleness: 30s.*\n/,
        `max_staleness: ${v}\n`,
      );
      expect(errors(loadProject(project({ 'endpoints/balance.endpoint.yaml': ep }), { env })), v).toEqual([
        expect.stringMatching(/^endpoints\/balance\.endpoint\.yaml:\d+: max_staleness must be at least 1s/),
      ]);
    }
  });

  it('a typo in the target of a pipe named like its data source is that error alone, not also a name clash', () => {
    const files = {
      'datasources/balance_snapshots.datasource.yaml':
        'columns:\n  - { name: account_id, type: String }\n  - { name: snapshot_at, type: DateTime }\nengine: { sorting_key: [account_id] }\n',
      'pipes/balance_snapshots.pipe.yaml': [
        'nodes:',
        '  - name: s',
        '    sql: SELECT account_id, {{ snapshot_at }} AS snapshot_at FROM transactions FINAL',
        'copy: { to: balance_snapshot, schedule: "@hourly" }',
      ].join('\n'),
    };
    expect(errors(loadProject(project(files), { env }))).toEqual([
      'pipes/balance_snapshots.pipe.yaml:4: pipe `balance_snapshots` copies into unknown data source `balance_snapshot` (did you mean `balance_snapshots`?)',
    ]);
  });

  it('params written as a list is one error, not also one per param the nodes use', () => {
    const pipe = BALANCE.replace(
      /params:\n[\s\S]*?nodes:/,
      'params:\n  - account_id: { type: String, required: true }\n  - as_of: { type: DateTime }\nnodes:',
    );
    expect(errors(loadProject(project({ 'pipes/balance.pipe.yaml': pipe }), { env }))).toEqual([
      'pipes/balance.pipe.yaml:3: `params` must be a mapping of names to settings',
    ]);
  });

  it('a mistyped engine type is one error, not also one per key of the engine meant', () => {
    const ds = DESIGN_FILES['datasources/transactions.datasource.yaml']!.replace(
      '  type: ReplacingMergeTree\n',
      '  type: ReplacingMergeTre\n  version: timestamp\n',
    );
    expect(errors(loadProject(project({ 'datasources/transactions.datasource.yaml': ds }), { env }))).toEqual(
      [
        'datasources/transactions.datasource.yaml:14: unknown engine `ReplacingMergeTre` (did you mean `ReplacingMergeTree`?)',
      ],
    );
  });

  it('says a file is empty, not only that it is not a mapping', () => {
    expect(
      errors(loadProject(project({ 'endpoints/balance.endpoint.yaml': '\n# nothing yet\n' }), { env })),
    ).toEqual([
      'endpoints/balance.endpoint.yaml:1: endpoint `balance` is empty; it must be a mapping (key: value)',
    ]);
  });

  it('refuses a dedup_key that is empty (dedup silently off) or names a column twice', () => {
    const ds = DESIGN_FILES['datasources/transactions.datasource.yaml']!;
    const with_ = (key: string) =>
      errors(
        loadProject(
          project({
            'datasources/transactions.datasource.yaml': ds.replace(
              'dedup_key: transaction_id',
              `dedup_key: ${key}`,
            ),
          }),
          { env },
        ),
      );
    expect(with_('[]')).toEqual([
      'datasources/transactions.datasource.yaml:17: dedup_key is empty: name the column(s) that identify an event, or remove the key',
    ]);
    expect(with_('[transaction_id, account_id, transaction_id]')).toEqual([
      'datasources/transactions.datasource.yaml:17: dedup_key names `transaction_id` twice',
    ]);
  });

  it('refuses an endpoint naming a read token whose endpoint list leaves it out (only admin could call it)', () => {
    const tally = 'name: bank\ntokens:\n  dash: { token: abc, scope: read, endpoints: [other] }\n';
    const r = loadProject(
      project({
        'tally.yaml': tally,
        'endpoints/other.endpoint.yaml': 'pipe: balance\n',
        'endpoints/balance.endpoint.yaml': 'pipe: balance\ntoken: dash\n',
      }),
      { env },
    );
    expect(errors(r)).toEqual([
      'endpoints/balance.endpoint.yaml:2: token `dash` may not call endpoint `balance`: its endpoints in tally.yaml are other',
    ]);
    expect(r.problems[0]?.code).toBe('endpoint-token-denied');
    const listed = loadProject(
      project({
        'tally.yaml': tally.replace('[other]', '[other, balance]'),
        'endpoints/other.endpoint.yaml': 'pipe: balance\n',
        'endpoints/balance.endpoint.yaml': 'pipe: balance\ntoken: dash\n',
      }),
      { env },
    );
    expect(errors(listed)).toEqual([]);
  });

  it('refuses NaN, infinities and out-of-range Float32 values of params where they are written', () => {
    const pipe = BALANCE.replace(
      'params:\n',
      'params:\n  x: { type: Float64, default: .nan }\n  y: { type: Float32, required: true, min: 1e300 }\n  z: { type: Float64, required: true, enum: [.inf, 1] }\n',
    );
    expect(errors(loadProject(project({ 'pipes/balance.pipe.yaml': pipe }), { env }))).toEqual([
      'pipes/balance.pipe.yaml:3: default of param `x`: expected a finite Float64 number, got NaN',
      'pipes/balance.pipe.yaml:4: min of param `y`: expected a finite Float32 number, got 1e+300',
      'pipes/balance.pipe.yaml:5: an enum value of param `z`: expected a finite Float64 number, got Infinity',
    ]);
  });

  it('refuses a `requires` naming a param the pipe lacks (with a did-you-mean), or the param itself', () => {
    const pipe = BALANCE.replace(
      'params:\n',
      'params:\n  x: { type: String, requires: as_off }\n  y: { type: String, requires: [as_of, y] }\n',
    );
    expect(errors(loadProject(project({ 'pipes/balance.pipe.yaml': pipe }), { env }))).toEqual([
      'pipes/balance.pipe.yaml:3: param `x` requires `as_off`, which the pipe does not declare (did you mean `as_of`?)',
      'pipes/balance.pipe.yaml:4: param `y` requires itself',
    ]);
  });

  it('refuses an endpoint whose pipe is empty (it passed as "already reported")', () => {
    const r = loadProject(
      project({ 'endpoints/balance.endpoint.yaml': ENDPOINT.replace('pipe: balance', 'pipe: ""') }),
      {
        env,
      },
    );
    expect(errors(r)).toEqual([
      'endpoints/balance.endpoint.yaml:2: endpoint `balance`: pipe is empty; name the pipe it serves',
    ]);
  });

  it('refuses a Kafka topic name Kafka would refuse', () => {
    const ds = DESIGN_FILES['datasources/transactions.datasource.yaml']!;
    for (const topic of ['"bad topic/x"', 'a*b', `${'t'.repeat(250)}`, '".."']) {
      const r = loadProject(
        project({
          'datasources/transactions.datasource.yaml': ds.replace('topic: transactions', `topic: ${topic}`),
        }),
        { env },
      );
      expect(errors(r), topic).toEqual([
        expect.stringMatching(
          /^datasources\/transactions\.datasource\.yaml:4: kafka topic `.*` is not a Kafka topic name/,
        ),
      ]);
    }
    const fine = ds.replace('topic: transactions', 'topic: bank.transactions-v2_eu');
    expect(
      errors(loadProject(project({ 'datasources/transactions.datasource.yaml': fine }), { env })),
    ).toEqual([]);
  });

  it('refuses node SQL with a string, quoted name or comment never closed, at its line', () => {
    for (const [open, hint] of [
      ["WHERE merchant = 'Cafe", 'string'],
      ['WHERE `merchant = 1', 'quoted name'],
      ['/* a note never closed', 'comment'],
    ] as const) {
      const pipe = BALANCE.replace(
        '      WHERE account_id = {{ account_id }}\n',
        `      WHERE account_id = {{ account_id }} -- it's fine in a comment\n      ${open}\n`,
      );
      expect(errors(loadProject(project({ 'pipes/balance.pipe.yaml': pipe }), { env })), open).toEqual([
        `pipes/balance.pipe.yaml:10: node \`movements\`: this ${hint} is never closed, so it runs to the end of the SQL`,
      ]);
    }
  });

  it("refuses a param inside quotes ('{{ p }}' would run the value as SQL), at the {{, with the bare form", () => {
    for (const [quoted, kind] of [
      ["'{{ account_id }}'", 'a quoted string'],
      ["'%{{account_id}}%'", 'a quoted string'],
      ['`{{ account_id }}`', 'a quoted name'],
    ] as const) {
      const pipe = BALANCE.replace(
        '      WHERE account_id = {{ account_id }}\n',
        `      WHERE account_id = ${quoted}\n`,
      );
      const r = loadProject(project({ 'pipes/balance.pipe.yaml': pipe }), { env });
      const tag = quoted.slice(quoted.indexOf('{{'), quoted.indexOf('}}') + 2);
      expect(errors(r), quoted).toEqual([
        `pipes/balance.pipe.yaml:9: node \`movements\`: \`${tag}\` is inside ${kind}; Tally writes a param as a literal with its own quotes, so inside quotes its value would run as SQL`,
      ]);
      const problem = r.problems.find((p) => p.code === 'param-in-quotes');
      expect(problem?.location?.col).toBe(6 + 'WHERE account_id = '.length + quoted.indexOf('{{') + 1);
      if (kind === 'a quoted string') expect(problem?.hint).toContain('= {{ account_id }}');
    }
    // In a /* */ comment the value is written too, and `*/` in it would end the comment.
    const commented = BALANCE.replace(
      '      WHERE account_id = {{ account_id }}\n',
      '      WHERE account_id = {{ account_id }} /* was {{ account_id }} */\n',
    );
    const c = loadProject(project({ 'pipes/balance.pipe.yaml': commented }), { env });
    expect(errors(c)).toEqual([
      'pipes/balance.pipe.yaml:9: node `movements`: `{{ account_id }}` is inside a /* */ comment; Tally still writes the value there, where a value holding */ would end the comment and run as SQL',
    ]);
    expect(c.problems.some((p) => p.code === 'param-in-comment')).toBe(true);
    // A -- comment cannot be ended by a value (its line breaks are escaped): allowed.
    const lineComment = BALANCE.replace(
      '      WHERE account_id = {{ account_id }}\n',
      '      WHERE account_id = {{ account_id }} -- {{ account_id }} is the caller\n',
    );
    expect(errors(loadProject(project({ 'pipes/balance.pipe.yaml': lineComment }), { env }))).toEqual([]);
    // In a {% if %} condition a string is the condition's own, not SQL text.
    const inCondition = BALANCE.replace(
      '{% if defined(as_of) %}',
      "{% if defined(as_of) and as_of != '{{' %}",
    );
    expect(
      errors(loadProject(project({ 'pipes/balance.pipe.yaml': inCondition }), { env })),
    ).not.toContainEqual(expect.stringContaining('is inside a quoted'));
  });

  it('reports templates nested thousands deep as a located problem, not a crash', () => {
    const slot = '{% if defined(as_of) %} AND timestamp <= {{ as_of }} {% end %}';
    const inPipe = (deep: string) =>
      errors(loadProject(project({ 'pipes/balance.pipe.yaml': BALANCE.replace(slot, deep) }), { env }));
    // Conditions: refused at the parenthesis or `not` past the limit, with the line.
    for (const deep of [
      `{% if ${'('.repeat(3000)}defined(as_of)${')'.repeat(3000)} %} AND 1 {% end %}`,
      `{% if ${'not '.repeat(5000)}defined(as_of) %} AND 1 {% end %}`,
    ]) {
      const got = inPipe(deep);
      expect(got).toHaveLength(1);
      expect(got[0]).toMatch(
        /^pipes\/balance\.pipe\.yaml:\d+: .*the condition nests `not` and parentheses more than 64 deep/,
      );
    }
    // Blocks: 1,500 `{% if %}` inside each other are read and checked without a stack overflow.
    const blocks = `${'{% if defined(as_of) %}'.repeat(1500)} AND 1 ${'{% end %}'.repeat(1500)}`;
    expect(inPipe(blocks)).toEqual([]);
  });
});

describe('text that is not what it seems', () => {
  it('refuses a file that is not UTF-8 at its line (a Latin-1 é would change the SQL)', () => {
    const dir = project();
    const latin1 = Buffer.from(
      BALANCE.replace('FROM transactions\n', "FROM transactions WHERE 'Caf?' != ''\n"),
      'latin1',
    );
    latin1[latin1.indexOf('Caf?') + 3] = 0xe9;
    writeFileSync(join(dir, 'pipes', 'balance.pipe.yaml'), latin1);
    writeFileSync(join(dir, 'tally.yaml'), Buffer.from([0x6e, 0x61, 0x6d, 0x65, 0x3a, 0x20, 0xff, 0x0a]));
    expect(errors(loadProject(dir, { env }))).toEqual([
      'pipes/balance.pipe.yaml:8: pipes/balance.pipe.yaml is not UTF-8 text (line 8): save it as UTF-8',
      'tally.yaml:1: tally.yaml is not UTF-8 text (line 1): save it as UTF-8',
    ]);
  });

  it("says YAML nested too deeply, not the parser's stack overflow", () => {
    const deep = `nodes: ${'['.repeat(20000)}${']'.repeat(20000)}\n`;
    expect(errors(loadProject(project({ 'pipes/balance.pipe.yaml': deep }), { env }))).toEqual([
      expect.stringMatching(/^pipes\/balance\.pipe\.yaml:1: YAML: nested too deeply to read$/),
    ]);
  });

  it('refuses a duration too large to be one', () => {
    const ep = ENDPOINT.replace('cache: 2s', 'cache: 1e308');
    expect(errors(loadProject(project({ 'endpoints/balance.endpoint.yaml': ep }), { env }))).toEqual([
      'endpoints/balance.endpoint.yaml:5: cache must be a duration such as 500ms, 2s, 5m, 1h or 1d',
    ]);
  });
});

describe('tally.yaml values that cannot work', () => {
  const withConfig = (yaml: string, e: NodeJS.ProcessEnv = env) =>
    errors(loadProject(project({ 'tally.yaml': yaml }), { env: e }));

  it('refuses two tokens with the same secret, without printing it', () => {
    const found = withConfig(
      'tokens:\n  dashboards: { token: s3cret, scope: read }\n  ops: { token: "${SECRET}", scope: admin }\n',
      { SECRET: 's3cret' },
    );
    expect(found).toEqual([
      'tally.yaml:3: tokens.ops.token has the same value as tokens.dashboards.token: a request carrying it is always taken as `dashboards`; give each token its own secret',
    ]);
    expect(found.join()).not.toContain('s3cret');
  });

  it('refuses an empty broker list', () => {
    expect(withConfig('kafka:\n  brokers: []\n')).toEqual([
      'tally.yaml:2: kafka.brokers is empty (is its environment variable set?); name at least one host:port, or leave the key out for 127.0.0.1:9092',
    ]);
    expect(withConfig('kafka:\n  brokers: "${BROKERS:-}"\n')).toHaveLength(1);
  });

  it('refuses a `${` that no reference reads, never echoing the value', () => {
    for (const value of ['${A:-${B}}', '${1BAD}', '"x${UNCLOSED"']) {
      expect(withConfig(`clickhouse:\n  password: ${value}\n`), value).toEqual([
        'tally.yaml:2: this value has a `${` that is not a reference Tally reads',
      ]);
    }
    expect(withConfig('clickhouse:\n  password: "${P:-x}y"\n')).toEqual([]);
  });

  it('names an empty TLS file setting instead of failing to read the project folder', () => {
    expect(withConfig('kafka:\n  ssl: { ca_file: "${CA:-}" }\n')).toEqual([
      'tally.yaml:2: kafka.ssl.ca_file is empty (is its environment variable set?)',
    ]);
  });
});
