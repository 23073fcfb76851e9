import { afterAll, describe, expect, it } from 'vitest';
import { shardingKeyFor } from '../../../src/deploy/table-spec.ts';
import { TallyError } from '../../../src/errors.ts';
import { loadProject, loadProjectOrThrow } from '../../../src/project/load-project.ts';
import { DESIGN_FILES, removeProjects, writeProject } from './write-project.ts';

afterAll(removeProjects);

const env = {};

describe('loadProject on the DESIGN.md example', () => {
  const dir = writeProject(DESIGN_FILES);
  const { project, problems } = loadProject(dir, { env });

  it('loads with no problems but the warning that its `token: read` protects nothing without tokens', () => {
    expect(problems).toEqual([
      expect.objectContaining({
        severity: 'warning',
        code: 'tokens-not-configured',
        message: 'tally.yaml configures no tokens, so every endpoint is public, also this one',
      }),
    ]);
    expect(project).toBeDefined();
    expect([...project!.datasources.keys()]).toEqual(['account_balances', 'transactions']);
    expect([...project!.pipes.keys()]).toEqual(['account_balances', 'balance']);
    expect([...project!.endpoints.keys()]).toEqual(['balance']);
    expect(project!.root).toBe(dir);
    expect(project!.config.clickhouse.database).toBe('tally');
  });

  it('reads the transactions data source', () => {
    const ds = project!.datasources.get('transactions')!;
    expect(ds.description).toBe('Every bank transaction, as it happened. Never updated, only appended.');
    expect(ds.file).toBe('datasources/transactions.datasource.yaml');
    expect(ds.kafka).toEqual({
      topic: 'transactions',
      start: 'earliest',
      metadata: [],
      loc: { file: 'datasources/transactions.datasource.yaml', line: 4, col: 10 },
    });
    expect(ds.columns.map((c) => [c.name, c.type.text, c.json?.text])).toEqual([
      ['transaction_id', 'String', '$.transaction_id'],
      ['timestamp', 'DateTime', '$.timestamp'],
      ['account_id', 'String', '$.account_id'],
      ['type', 'String', '$.type'],
      ['amount', 'Decimal(18, 2)', '$.amount'],
      ['currency', 'String', '$.currency'],
      ['merchant', 'Nullable(String)', '$.merchant'],
    ]);
    const currency = ds.columns.find((c) => c.name === 'currency')!;
    expect(currency.default).toBe("'USD'");
    expect(currency.defaultValue).toBe('USD');
    expect(currency.loc).toEqual({ file: 'datasources/transactions.datasource.yaml', line: 11, col: 5 });
    expect(ds.engine).toEqual({
      type: 'ReplacingMergeTree',
      sortingKey: ['account_id', 'timestamp', 'transaction_id'],
      partitionKey: 'toYYYYMM(timestamp)',
      settings: {},
    });
    expect(ds.dedupKey).toEqual(['transaction_id']);
  });

  it('reads the snapshot data source (aggregate states are not read from events)', () => {
    const ds = project!.datasources.get('account_balances')!;
    expect(ds.engine.type).toBe('AggregatingMergeTree');
    expect(ds.columns.map((c) => [c.name, c.type.text, c.json?.text])).toEqual([
      ['account_id', 'String', '$.account_id'],
      ['balance', 'AggregateFunction(sum, Decimal(18, 2))', undefined],
      ['updated_at', 'AggregateFunction(max, DateTime)', undefined],
    ]);
  });

  it('reads the materialized pipe', () => {
    const pipe = project!.pipes.get('account_balances')!;
    expect(pipe.materialize).toEqual({
      to: 'account_balances',
      loc: { file: 'pipes/account_balances.pipe.yaml', line: 7, col: 20 },
    });
    expect(pipe.nodes).toHaveLength(1);
    expect(pipe.nodes[0]!.references).toEqual(['transactions']);
    expect(pipe.nodes[0]!.sqlStart).toEqual({ file: 'pipes/account_balances.pipe.yaml', line: 5, col: 7 });
  });

  it('reads the balance pipe: params, nodes, templates', () => {
    const pipe = project!.pipes.get('balance')!;
    expect([...pipe.params.values()]).toEqual([
      {
        name: 'account_id',
        type: { name: 'String', args: [], text: 'String' },
        required: true,
        description: 'The account',
        loc: { file: 'pipes/balance.pipe.yaml', line: 3, col: 3 },
      },
      {
        name: 'as_of',
        type: { name: 'DateTime', args: [], text: 'DateTime' },
        required: false,
        description: 'Balance at this instant; default now',
        loc: { file: 'pipes/balance.pipe.yaml', line: 4, col: 3 },
      },
    ]);
    const [movements, balance] = pipe.nodes;
    expect(movements!.name).toBe('movements');
    expect(movements!.references).toEqual(['transactions']);
    expect(movements!.template.map((p) => p.kind)).toEqual(['text', 'param', 'text', 'if', 'text']);
    expect(movements!.template[1]).toEqual({
      kind: 'param',
      param: 'account_id',
      loc: { file: 'pipes/balance.pipe.yaml', line: 9, col: 26 },
    });
    expect(movements!.template[3]!.loc).toEqual({ file: 'pipes/balance.pipe.yaml', line: 10, col: 7 });
    expect(balance!.sql).toBe('SELECT account_id, sum(amount) AS balance FROM movements GROUP BY account_id');
    expect(balance!.references).toEqual(['movements']);
    expect(balance!.sqlStart).toEqual({ file: 'pipes/balance.pipe.yaml', line: 12, col: 10 });
  });

  it('reads the endpoint', () => {
    expect(project!.endpoints.get('balance')).toMatchObject({
      kind: 'endpoint',
      name: 'balance',
      pipe: 'balance',
      description: 'Balance of one account, now or at any past instant',
      token: 'read',
      cacheMs: 2000,
      maxStalenessMs: 30000,
      limits: {},
      formats: ['json', 'csv', 'ndjson'],
    });
  });

  it('is deeply immutable', () => {
    const p = project!;
    expect(Object.isFrozen(p)).toBe(true);
    expect(Object.isFrozen(p.config)).toBe(true);
    const ds = p.datasources.get('transactions')!;
    expect(Object.isFrozen(ds.columns)).toBe(true);
    expect(Object.isFrozen(ds.columns[0]!.type)).toBe(true);
    expect(Object.isFrozen(ds.engine.sortingKey)).toBe(true);
    expect(() => {
      (ds as { name: string }).name = 'x';
    }).toThrow(TypeError);
    expect(() => (p.datasources as Map<string, unknown>).set('x', ds)).toThrow(TypeError);
    expect(() => (p.pipes.get('balance')!.params as Map<string, unknown>).delete('as_of')).toThrow(TypeError);
    expect(() => (ds.columns as unknown[]).push(1)).toThrow(TypeError);
  });
});

describe('loadProject', () => {
  it('accepts an empty folder as a valid empty project', () => {
    const { project, problems } = loadProject(writeProject({}), { env });
    expect(problems).toEqual([]);
    expect(project?.datasources.size).toBe(0);
    expect(project?.pipes.size).toBe(0);
    expect(project?.endpoints.size).toBe(0);
  });

  it('reports a missing folder', () => {
    const { project, problems } = loadProject('/nonexistent/tally-project', { env });
    expect(project).toBeUndefined();
    expect(problems).toMatchObject([{ severity: 'error', code: 'project-not-found' }]);
  });

  it('returns every problem of a file with several mistakes in one call', () => {
    const dir = writeProject({
      'datasources/events.datasource.yaml': `descripton: typo
columns:
  - { name: id, type: String }
  - { name: at, type: Strng, json: amount }
  - { name: id, type: UInt8 }
  - { name: n, type: UInt8, default: 300 }
engine:
  type: MergeTree
  version: at
  sorting_key: [idd]
dedup_key: [nope]
`,
    });
    const { project, problems } = loadProject(dir, { env });
    expect(project).toBeUndefined();
    const f = 'datasources/events.datasource.yaml';
    expect(
      problems.map((p) => [p.code, `${p.location?.file}:${p.location?.line}:${p.location?.col}`]),
    ).toEqual([
      ['unknown-key', `${f}:1:1`],
      ['unknown-type', `${f}:4:23`],
      ['invalid-json-path', `${f}:4:36`],
      ['duplicate-column', `${f}:5:5`],
      ['invalid-default', `${f}:6:38`],
      ['engine-key-mismatch', `${f}:9:3`],
      ['unknown-column', `${f}:10:17`],
      ['unknown-column', `${f}:11:13`],
    ]);
    expect(problems[0]!.message).toBe(
      'unknown key `descripton` in data source `events` (did you mean `description`?)',
    );
  });

  it('refuses a number or boolean as the default of a string column, at the default', () => {
    const dir = writeProject({
      'datasources/events.datasource.yaml': `columns:
  - { name: id, type: String }
  - { name: code, type: String, json: $.code, default: 5 }
  - { name: flag, type: LowCardinality(String), default: true }
  - { name: ref, type: Nullable(String), default: 0 }
  - { name: cc, type: FixedString(2), default: 12 }
  - { name: ok, type: String, json: $.ok, default: "5" }
  - { name: n, type: UInt8, json: $.n, default: 5 }
engine: { sorting_key: [id] }
versions:
  field: $.v
  mappings:
    1:
      code: { default: 7 }
`,
    });
    const { project, problems } = loadProject(dir, { env });
    expect(project).toBeUndefined();
    const f = 'datasources/events.datasource.yaml';
    expect(
      problems.map((p) => [p.code, `${p.location?.file}:${p.location?.line}:${p.location?.col}`, p.message]),
    ).toEqual([
      ['invalid-default', `${f}:3:56`, 'default of column `code`: expected a string, got 5'],
      ['invalid-default', `${f}:4:58`, 'default of column `flag`: expected a string, got true'],
      ['invalid-default', `${f}:5:51`, 'default of column `ref`: expected a string, got 0'],
      ['invalid-default', `${f}:6:48`, 'default of column `cc`: expected a string, got 12'],
      ['invalid-default', `${f}:14:24`, 'default of `code` in version 1: expected a string, got 7'],
    ]);
    expect(problems[0]!.hint).toBe('write "5" in quotes for the text 5');
    expect(problems[4]!.hint).toBe('write "7" in quotes for the text 7');
  });

  it('reads a sharding key (columns) and names a bad one, which deploy uses on several shards', () => {
    const ds = (key: string) =>
      writeProject({
        'datasources/events.datasource.yaml': `columns:
  - { name: id, type: String }
  - { name: account, type: String }
engine:
  sorting_key: [id]
  sharding_key: ${key}
dedup_key: id
`,
      });
    const { project } = loadProject(ds('[account]'), { env });
    const events = project!.datasources.get('events')!;
    expect(events.engine.shardingKey).toEqual(['account']);
    expect(shardingKeyFor(events)).toBe('cityHash64(`account`)');
    expect(shardingKeyFor({ ...events, engine: { ...events.engine, shardingKey: undefined } })).toBe(
      'cityHash64(`id`)',
    );
    const bad = loadProject(ds('[acount, "cityHash64(id)"]'), { env });
    expect(bad.project).toBeUndefined();
    expect(bad.problems.map((p) => [p.code, p.location?.line])).toEqual([
      ['unknown-column', 6],
      ['invalid-value', 6],
    ]);
    expect(bad.problems[0]!.message).toContain('account');
  });

  it('ignores *.test.yaml and warns about stray or misplaced files', () => {
    const dir = writeProject({
      'endpoints/balance.test.yaml': 'whatever: [',
      'datasources/notes.yaml': 'x: 1',
      'datasources/events.datasource.yml': 'x: 1',
      'datasources/readme.md': '# hi',
      'pipes/events.datasource.yaml': 'x: 1',
      'balance.endpoint.yaml': 'pipe: x',
    });
    const { project, problems } = loadProject(dir, { env });
    expect(project).toBeDefined();
    expect(problems.map((p) => [p.severity, p.code, p.location?.file, p.message])).toEqual([
      [
        'warning',
        'unexpected-file',
        'balance.endpoint.yaml',
        'balance.endpoint.yaml is ignored: endpoint files belong in endpoints/',
      ],
      [
        'warning',
        'unexpected-file',
        'datasources/events.datasource.yml',
        'datasources/events.datasource.yml is ignored: data source files end in .datasource.yaml',
      ],
      [
        'warning',
        'unexpected-file',
        'datasources/notes.yaml',
        'datasources/notes.yaml is ignored: files in datasources/ must end in .datasource.yaml',
      ],
      [
        'warning',
        'unexpected-file',
        'pipes/events.datasource.yaml',
        'pipes/events.datasource.yaml is ignored: a data source file belongs in datasources/',
      ],
    ]);
    expect(problems[2]!.hint).toBe('rename it to notes.datasource.yaml');
    // A suffix mistyped (`.endpoints.yaml`): the rename keeps the name, not the typo.
    const typo = loadProject(writeProject({ 'endpoints/balance.endpoints.yaml': 'pipe: x' }), { env });
    expect(typo.problems.find((p) => p.code === 'unexpected-file')?.hint).toBe(
      'rename it to balance.endpoint.yaml',
    );
  });

  it('reads kafka metadata as extra columns, params shorthand, limits and formats', () => {
    const dir = writeProject({
      'tally.yaml': 'tokens:\n  dashboard: { token: "${DASH_TOKEN:-secret}", scope: read }\n',
      'datasources/clicks.datasource.yaml': `source:
  kafka:
    topic: clicks
    group: my-group
    start: latest
    metadata: [__partition, __offset, __timestamp]
columns:
  - name: page
    type: LowCardinality(String)
  - name: user
    type: String
    json: $.user['id']
  - name: raw
    type: String
    json: $
  - name: received_at
    type: DateTime
    default_expr: now()
  - name: tags
    type: Array(String)
    default: []
engine:
  sorting_key: [page, toDate(__timestamp)]
  primary_key: page
  ttl: __timestamp + INTERVAL 30 DAY
  settings: { index_granularity: 8192, allow_nullable_key: true }
dedup_key: [user, __timestamp]
`,
      'pipes/clicks_by_page.pipe.yaml': `params:
  day: Date
  pages: { type: Array(String), default: [home] }
  limit: { type: UInt32, default: 10, min: 1, max: 1000 }
  kind: { type: String, enum: [a, b], default: a }
nodes:
  - name: filtered
    description: one day
    sql: >
      SELECT page FROM clicks WHERE toDate(__timestamp) = {{ day }} AND page IN {{ pages }}
      {% if kind == 'a' %}AND 1{% end %}
  - name: counted
    sql: "SELECT page, count() AS n FROM filtered GROUP BY page LIMIT {{ limit }}"
`,
      'endpoints/clicks.endpoint.yaml': `pipe: clicks_by_page
token: dashboard
limits: { max_rows: 1000, max_bytes: 1000000, max_execution_time: 1500ms, max_memory_usage: 1000000000 }
settings: { max_threads: 1, use_uncompressed_cache: true, load_balancing: nearest_hostname }
formats: [json, csv]
`,
    });
    const { project, problems } = loadProject(dir, { env });
    // `tags` (a default and no json) is never read from events, as the reference says: a warning.
    expect(problems.map((p) => p.code)).toEqual(['default-not-read']);
    const ds = project!.datasources.get('clicks')!;
    expect(ds.kafka).toMatchObject({
      topic: 'clicks',
      group: 'my-group',
      start: 'latest',
      metadata: ['__partition', '__offset', '__timestamp'],
    });
    expect(ds.columns.map((c) => [c.name, c.type.text, c.json?.text, c.default])).toEqual([
      ['page', 'LowCardinality(String)', '$.page', undefined],
      ['user', 'String', '$.user.id', undefined],
      ['raw', 'String', '$', undefined],
      ['received_at', 'DateTime', undefined, 'now()'],
      ['tags', 'Array(String)', undefined, '[]'],
      ['__partition', 'Int32', undefined, undefined],
      ['__offset', 'Int64', undefined, undefined],
      ['__timestamp', 'DateTime', undefined, undefined],
    ]);
    expect(ds.engine).toEqual({
      type: 'MergeTree',
      sortingKey: ['page', 'toDate(__timestamp)'],
      primaryKey: ['page'],
      ttl: '__timestamp + INTERVAL 30 DAY',
      ttlLoc: { file: 'datasources/clicks.datasource.yaml', line: 25, col: 8 },
      settings: { index_granularity: 8192, allow_nullable_key: 1 },
    });
    expect(ds.dedupKey).toEqual(['user', '__timestamp']);
    const pipe = project!.pipes.get('clicks_by_page')!;
    expect(pipe.params.get('day')).toMatchObject({ type: { text: 'Date' }, required: false });
    expect(pipe.params.get('pages')).toMatchObject({ type: { text: 'Array(String)' }, default: ['home'] });
    expect(pipe.params.get('limit')).toMatchObject({ default: 10, min: 1, max: 1000 });
    expect(pipe.params.get('kind')).toMatchObject({ enum: ['a', 'b'], default: 'a' });
    expect(pipe.nodes[0]!.description).toBe('one day');
    expect(pipe.nodes[1]!.sqlStart).toEqual({ file: 'pipes/clicks_by_page.pipe.yaml', line: 13, col: 11 });
    expect(project!.endpoints.get('clicks')).toMatchObject({
      token: 'dashboard',
      limits: { maxRows: 1000, maxBytes: 1000000, maxExecutionTime: 1.5, maxMemoryUsage: 1000000000 },
      settings: { max_threads: 1, use_uncompressed_cache: 1, load_balancing: 'nearest_hostname' },
      settingsLoc: { max_threads: { file: 'endpoints/clicks.endpoint.yaml', line: 4, col: 13 } },
      formats: ['json', 'csv'],
    });
  });

  it("refuses endpoint settings that are Tally's, badly named or not scalars, naming each line", () => {
    const dir = writeProject({
      'datasources/e.datasource.yaml':
        'columns:\n  - { name: id, type: String }\nengine: { sorting_key: [id] }\n',
      'pipes/p.pipe.yaml': 'nodes:\n  - name: n\n    sql: SELECT id FROM e\n',
      'endpoints/p.endpoint.yaml': [
        'pipe: p',
        'settings:',
        '  max_result_rows: 10',
        '  readonly: 0',
        '  max-threads: 1',
        '  max_threads: [1, 2]',
        '  max_block_size: 512',
      ].join('\n'),
    });
    const { problems } = loadProject(dir, { env });
    expect(problems.map((p) => [p.code, p.location?.line, p.message])).toEqual([
      ['invalid-value', 3, 'setting `max_result_rows` is set by Tally: use `limits.max_rows`'],
      ['invalid-value', 4, 'setting `readonly` is set by Tally: every endpoint query runs read-only'],
      ['invalid-name', 5, 'setting name `max-threads` must be letters, digits and underscores'],
      ['expected-scalar', 6, 'setting `max_threads` must be a string, number or boolean'],
    ]);
  });

  it('rejoins flow-style values split at commas', () => {
    const dir = writeProject({
      'datasources/t.datasource.yaml': `columns: [{ name: a, type: Map(String, Decimal(9, 2)) }, { name: b, type: UInt8 }]
engine: { sorting_key: [cityHash64(a, b), b] }
`,
    });
    const { project, problems } = loadProject(dir, { env });
    expect(problems).toEqual([]);
    const ds = project!.datasources.get('t')!;
    expect(ds.columns.map((c) => c.type.text)).toEqual(['Map(String, Decimal(9, 2))', 'UInt8']);
    expect(ds.engine.sortingKey).toEqual(['cityHash64(a, b)', 'b']);
  });

  it('loadProjectOrThrow throws one TallyError listing every error', () => {
    const dir = writeProject({
      'endpoints/a.endpoint.yaml': 'pipe: nope\n',
      'endpoints/b.endpoint.yaml': 'pipe: nope2\ntoken: reed\n',
    });
    let err: unknown;
    try {
      loadProjectOrThrow(dir, { env });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TallyError);
    const e = err as TallyError;
    expect(e.code).toBe('invalid-project');
    expect(e.location).toEqual({ file: 'endpoints/a.endpoint.yaml', line: 1, col: 7 });
    expect(e.message).toContain('3 problems');
    expect(e.message).toContain(
      'endpoints/a.endpoint.yaml:1:7: error: endpoint `a` reads unknown pipe `nope`',
    );
    expect(e.message).toContain('endpoints/b.endpoint.yaml:2:8: error: token `reed` is neither a scope');
    expect(loadProjectOrThrow(writeProject(DESIGN_FILES), { env }).pipes.size).toBe(2);
  });

  it('reports tally.yaml problems with the project problems', () => {
    const dir = writeProject({
      'tally.yaml': 'clickhous: {}\n',
      'endpoints/a.endpoint.yaml': 'pipe: nope\n',
    });
    const { problems } = loadProject(dir, { env });
    expect(problems.map((p) => [p.code, p.location?.file])).toEqual([
      ['unknown-reference', 'endpoints/a.endpoint.yaml'],
      ['unknown-key', 'tally.yaml'],
    ]);
  });
});
