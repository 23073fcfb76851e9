import { afterAll, describe, expect, it } from 'vitest';
import { loadProject } from '../../../src/project/load-project.ts';
import { removeProjects, writeProject } from './write-project.ts';

afterAll(removeProjects);

const EVENTS = `columns:
  - { name: id, type: String }
  - { name: at, type: DateTime }
engine:
  sorting_key: id
`;

function problemsOf(files: Record<string, string>): string[] {
  const { problems } = loadProject(writeProject(files), { env: {} });
  return problems.map(
    (p) =>
      `${p.location?.file}:${p.location?.line}:${p.location?.col}: ${p.severity} [${p.code}] ${p.message}`,
  );
}

describe('validateProject (through loadProject)', () => {
  it('warns when a node hides a data source of the same name', () => {
    expect(
      problemsOf({
        'datasources/events.datasource.yaml': EVENTS,
        'pipes/p.pipe.yaml':
          'nodes:\n  - name: events\n    sql: SELECT id FROM db.events\n  - name: n\n    sql: SELECT id FROM events\n',
      }),
    ).toEqual([
      'pipes/p.pipe.yaml:2:5: warning [node-shadows-datasource] node `events` has the name of a data source; later nodes of this pipe will read the node, not the data source',
    ]);
  });

  it('warns about a required param with a default', () => {
    expect(
      problemsOf({
        'datasources/events.datasource.yaml': EVENTS,
        'pipes/p.pipe.yaml':
          'params:\n  id:\n    type: String\n    required: true\n    default: x\nnodes:\n  - name: n\n    sql: SELECT id FROM events WHERE id = {{ id }}\n',
      }),
    ).toEqual([
      'pipes/p.pipe.yaml:4:5: warning [required-with-default] param `id` is required, so its default is never used',
    ]);
  });

  it('says when an endpoint or materialize names the wrong kind of thing', () => {
    expect(
      problemsOf({
        'datasources/events.datasource.yaml': EVENTS,
        'pipes/p.pipe.yaml': 'nodes:\n  - name: n\n    sql: SELECT id, at FROM events\n',
        'pipes/q.pipe.yaml':
          'nodes:\n  - name: n\n    sql: SELECT id, at FROM events\nmaterialize: { to: p }\n',
        'endpoints/e.endpoint.yaml': 'pipe: events\n',
      }),
    ).toEqual([
      'endpoints/e.endpoint.yaml:1:7: error [unknown-reference] endpoint `e` must read a pipe; `events` is a data source',
      'pipes/q.pipe.yaml:4:20: error [unknown-reference] materialize.to must name a data source; `p` is a pipe',
    ]);
  });

  it('points a node that reads a materialized pipe at the data source it fills', () => {
    const { problems } = loadProject(
      writeProject({
        'datasources/events.datasource.yaml': EVENTS,
        'datasources/copy.datasource.yaml': EVENTS,
        'pipes/fill.pipe.yaml':
          'nodes:\n  - name: n\n    sql: SELECT id, at FROM events\nmaterialize: { to: copy }\n',
        'pipes/read.pipe.yaml': 'nodes:\n  - name: n\n    sql: SELECT id FROM fill\n',
      }),
      { env: {} },
    );
    expect(problems).toMatchObject([
      {
        code: 'unknown-reference',
        message: 'node `n` reads pipe `fill`; nodes read data sources and earlier nodes, not other pipes',
        hint: 'read the data source it materializes into: copy',
        location: { file: 'pipes/read.pipe.yaml', line: 3, col: 25 },
      },
    ]);
  });

  it('finds longer cycles of materialized pipes once', () => {
    const ds = (n: string) => [`datasources/${n}.datasource.yaml`, EVENTS];
    const mv = (from: string, to: string) => [
      `pipes/${from}_to_${to}.pipe.yaml`,
      `nodes:\n  - name: n\n    sql: SELECT id, at FROM ${from}\nmaterialize: { to: ${to} }\n`,
    ];
    const problems = problemsOf(
      Object.fromEntries([
        ds('a'),
        ds('b'),
        ds('c'),
        ds('d'),
        mv('a', 'b'),
        mv('b', 'c'),
        mv('c', 'a'),
        mv('c', 'd'),
      ]),
    );
    expect(problems).toEqual([
      'pipes/c_to_a.pipe.yaml:4:20: error [materialize-cycle] materialized pipes form a cycle: a -> (pipe a_to_b) -> b -> (pipe b_to_c) -> c -> (pipe c_to_a) -> a',
    ]);
  });

  it('accepts a materialized pipe whose columns it cannot read, and defaults left out', () => {
    expect(
      problemsOf({
        'datasources/events.datasource.yaml': EVENTS,
        'datasources/copy.datasource.yaml':
          'columns:\n  - { name: id, type: String }\n  - { name: at, type: DateTime }\n  - { name: seen, type: DateTime, default_expr: now() }\nengine:\n  sorting_key: id\n',
        'datasources/star.datasource.yaml': EVENTS,
        'pipes/copy.pipe.yaml':
          'nodes:\n  - name: n\n    sql: SELECT id, at FROM events\nmaterialize: { to: copy }\n',
        'pipes/star.pipe.yaml':
          'nodes:\n  - name: n\n    sql: SELECT * FROM events\nmaterialize: { to: star }\n',
      }),
    ).toEqual([]);
  });

  it('does not repeat problems about a file that could not be read', () => {
    expect(
      problemsOf({
        'datasources/events.datasource.yaml': 'columns: [\n',
        'pipes/p.pipe.yaml': 'nodes:\n  - name: n\n    sql: SELECT id FROM events\n',
        'endpoints/e.endpoint.yaml': 'pipe: p\n',
      }).map((p) => p.replace(/ YAML: .*/, '')),
    ).toEqual(['datasources/events.datasource.yaml:1:10: error [yaml-syntax]']);
  });
});

describe('a literal default with no json on a data source that takes events', () => {
  const RETURNS = `columns:
  - { name: id, type: String }
  - { name: reason, type: String, default: "unspecified" }
  - { name: note, type: String, json: $.note, default: "" }
  - { name: seen, type: DateTime, default_expr: now() }
engine:
  sorting_key: id
`;

  it('warns at the column, with the json to write', () => {
    const { problems } = loadProject(writeProject({ 'datasources/returns.datasource.yaml': RETURNS }), {
      env: {},
    });
    // `note` reads its field and `seen` is computed on purpose: only `reason`.
    expect(problems).toEqual([
      {
        severity: 'warning',
        code: 'default-not-read',
        message:
          "column `reason` of `returns` has a default and no json, so it is never read from events: every row gets 'unspecified'",
        hint: 'write json: $.reason to read the field and fall back to the default',
        location: { file: 'datasources/returns.datasource.yaml', line: 3, col: 5 },
      },
    ]);
  });

  it('warns for a Kafka data source even when a pipe also fills it', () => {
    expect(
      problemsOf({
        'datasources/events.datasource.yaml': EVENTS,
        'datasources/returns.datasource.yaml': `source:\n  kafka: { topic: returns }\n${RETURNS}`,
        'pipes/fill.pipe.yaml':
          'nodes:\n  - name: n\n    sql: SELECT id FROM events\nmaterialize: { to: returns }\n',
      }).map((p) => p.replace(/ \[default-not-read\].*/, '')),
    ).toEqual(['datasources/returns.datasource.yaml:5:5: warning']);
  });

  it('says nothing for a table pipes fill (materialized or copy), or a column a version reads', () => {
    expect(
      problemsOf({
        'datasources/events.datasource.yaml': EVENTS,
        'datasources/returns.datasource.yaml': RETURNS,
        'datasources/totals.datasource.yaml': `columns:
  - { name: id, type: String }
  - { name: n, type: "AggregateFunction(count)" }
  - { name: label, type: String, default: "x" }
engine: { type: AggregatingMergeTree, sorting_key: id }
`,
        'datasources/versioned.datasource.yaml': `columns:
  - { name: id, type: String }
  - { name: reason, type: String, default: "unspecified" }
engine: { sorting_key: id }
versions:
  field: $.v
  mappings:
    1:
      reason: { json: $.why }
`,
        'pipes/returns.pipe.yaml':
          'nodes:\n  - name: n\n    sql: SELECT id FROM events\nmaterialize: { to: returns }\n',
        'pipes/totals.pipe.yaml':
          'nodes:\n  - name: n\n    sql: SELECT id, countState() AS n FROM events GROUP BY id\ncopy: { to: totals, schedule: "@hourly" }\n',
      }),
    ).toEqual([]);
  });
});

describe('aggregate states no pipe fills', () => {
  const TOTALS = `columns:
  - { name: id, type: String }
  - { name: n, type: SimpleAggregateFunction(sum, UInt64) }
engine: { type: AggregatingMergeTree, sorting_key: id }
`;

  it('warns at the data source, naming the pipes that read it (not one reading a node of that name)', () => {
    expect(
      problemsOf({
        'datasources/events.datasource.yaml': EVENTS,
        'datasources/totals.datasource.yaml': TOTALS,
        'pipes/reads.pipe.yaml':
          'nodes:\n  - name: n\n    sql: SELECT id, sum(n) AS n FROM totals GROUP BY id\n',
        'pipes/shadows.pipe.yaml':
          'nodes:\n  - name: totals\n    sql: SELECT id FROM events\n  - name: m\n    sql: SELECT id FROM totals\n',
      }).filter((p) => p.includes('aggregate-not-filled')),
    ).toEqual([
      'datasources/totals.datasource.yaml:3:5: warning [aggregate-not-filled] data source `totals` holds aggregate states (column `n` SimpleAggregateFunction(sum, UInt64)) and no materialized pipe fills it; events cannot, so it never changes: pipe `reads` reads a frozen table',
    ]);
  });

  it('says nothing when a materialized or a copy pipe fills it', () => {
    const fill = (how: string) =>
      problemsOf({
        'datasources/events.datasource.yaml': EVENTS,
        'datasources/totals.datasource.yaml': TOTALS,
        'pipes/fill.pipe.yaml': `nodes:\n  - name: n\n    sql: SELECT id, toUInt64(count()) AS n FROM events GROUP BY id\n${how}\n`,
      });
    expect(fill('materialize: { to: totals }')).toEqual([]);
    expect(fill('copy: { to: totals, schedule: "@hourly" }')).toEqual([]);
  });
});
