import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { analyseProjectSql } from '../../src/cli/commands/check-sql.ts';
import { createEngine } from '../../src/clickhouse/create-engine.ts';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import { TallyError } from '../../src/errors.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { clickhouseConfig, forEachBackend, scratchDatabase } from '../support/backends.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

const REPO = join(import.meta.dirname, '..', '..');

afterAll(removeProjects);

forEachBackend('tally check --sql', (ctx) => {
  it('finds nothing wrong in the example project on this server', async () => {
    const project = loadProjectOrThrow(REPO, { env: {} });
    expect(await analyseProjectSql(project, ctx.engine)).toEqual([]);
  });

  it('maps a refusal by ClickHouse to the node file and the line of the bad column', async () => {
    const dir = writeProject({
      'datasources/events.datasource.yaml': [
        'columns:',
        '  - { name: id, type: String }',
        '  - { name: at, type: DateTime }',
        'engine: { sorting_key: [id] }',
      ].join('\n'),
      'pipes/recent.pipe.yaml': [
        'nodes:',
        '  - name: recent',
        '    sql: |',
        '      SELECT id,',
        '             amount_cents',
        '      FROM events',
      ].join('\n'),
    });
    const project = loadProjectOrThrow(dir, { env: {} });
    const problems = await analyseProjectSql(project, ctx.engine);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({
      severity: 'error',
      code: 'clickhouse-refused',
      location: { file: 'pipes/recent.pipe.yaml', line: 5, col: 14 },
      message: expect.stringMatching(/refused node `recent` of pipe `recent`: .*amount_cents/),
    });
    // the scratch database is gone afterwards (checked below too)
    const left = await ctx.engine.rows<{ name: string }>(
      "SELECT name FROM system.databases WHERE name LIKE 'tally_check_%'",
    );
    expect(left).toEqual([]);
  });
  it("locates a name ClickHouse cannot resolve in a WHERE at its line, and keeps 26.x's suggestion", async () => {
    // The long SELECT makes the query 26.x quotes push its suggestion past any fixed cut.
    const many = Array.from({ length: 40 }, (_, i) => `country AS c${i}`).join(', ');
    const dir = writeProject({
      'datasources/visits.datasource.yaml':
        'columns:\n  - { name: id, type: String }\n  - { name: country, type: String }\n  - { name: at, type: DateTime }\nengine: { sorting_key: [id] }\n',
      'pipes/x.pipe.yaml': [
        'params:',
        '  since: { type: DateTime, default: "2024-01-01 00:00:00" }',
        'nodes:',
        '  - name: state',
        '    sql: |',
        `      SELECT ${many}, count() AS visits`,
        '      FROM visits',
        '      WHERE at >= {{ since }}',
        "        AND countryy != ''",
        '      GROUP BY country',
      ].join('\n'),
    });
    const project = loadProjectOrThrow(dir, { env: {} });
    const problems = await analyseProjectSql(project, ctx.engine);
    expect(problems).toMatchObject([
      { code: 'clickhouse-refused', location: { file: 'pipes/x.pipe.yaml', line: 9, col: 13 } },
    ]);
    const said = problems[0]!.message;
    expect(said).not.toMatch(/in scope|c39/);
    expect(said).toMatch(
      ctx.backend === 'embedded'
        ? /refused node `state` of pipe `x`: Unknown expression or function identifier `countryy`\. Maybe you meant: \['country'\]\.$/
        : /refused node `state` of pipe `x`: .*Unknown identifier: countryy/,
    );
  });

  it('names a refused node once, at its cause: the nodes reading it are not refused again', async () => {
    const dir = writeProject({
      'datasources/events.datasource.yaml':
        'columns:\n  - { name: id, type: String }\n  - { name: status, type: String }\nengine: { sorting_key: [id] }\n',
      'pipes/active.pipe.yaml': [
        'nodes:',
        '  - name: current',
        '    sql: SELECT id, statuss AS status FROM events',
        '  - name: active',
        "    sql: SELECT id FROM current WHERE status = 'active'",
        '  - name: apart',
        '    sql: SELECT count() AS n FROM events WHERE nope = 1',
      ].join('\n'),
    });
    const problems = await analyseProjectSql(loadProjectOrThrow(dir, { env: {} }), ctx.engine);
    expect(problems.map((p) => [p.location?.line, p.message.match(/node `(\w+)`/)?.[1]])).toEqual([
      [3, 'current'],
      [7, 'apart'],
    ]);
  });
});

forEachBackend('tally check --sql: a table ClickHouse refuses', (ctx) => {
  const project = (engine: string[], extra = '') =>
    loadProjectOrThrow(
      writeProject({
        'datasources/events.datasource.yaml': [
          'columns:',
          '  - { name: id, type: String }',
          '  - { name: at, type: DateTime }',
          `  - { name: seen, type: DateTime, default_expr: ${extra || 'now()'} }`,
          'engine:',
          ...engine,
        ].join('\n'),
        'pipes/recent.pipe.yaml': [
          'nodes:',
          '  - name: a',
          '    sql: SELECT id FROM events',
          '  - name: b',
          '    sql: SELECT id FROM a',
        ].join('\n'),
      }),
      { env: {} },
    );

  it('is named at the line of the key or expression refused, alone: its readers are not checked, the scratch database not named', async () => {
    for (const [p, line, col] of [
      [project(['  sorting_key: [id]', '  partition_key: toYYYYMM(tiem)']), 7, 27],
      [project(['  sorting_key: [id]'], 'nowww()'), 4, 49],
    ] as const) {
      const problems = await analyseProjectSql(p, ctx.engine);
      expect(problems, JSON.stringify(problems)).toHaveLength(1);
      expect(problems[0]).toMatchObject({
        code: 'clickhouse-refused',
        location: { file: 'datasources/events.datasource.yaml', line, col },
        message: expect.stringMatching(/refused the table of `events`: /),
        hint: 'pipes that read it are not checked until ClickHouse takes it',
      });
      expect(problems[0]!.message).not.toContain('tally_check_');
    }
  });
});

forEachBackend('tally check --sql and the types of the server', (ctx) => {
  it('names a column type the server lacks as deploy does, without follow-on errors', async () => {
    const dir = writeProject({
      'datasources/clicks.datasource.yaml': [
        'columns:',
        '  - { name: id, type: String }',
        '  - { name: at, type: DateTime64(3) }',
        'engine: { sorting_key: [id] }',
      ].join('\n'),
      'pipes/recent.pipe.yaml': 'nodes:\n  - name: recent\n    sql: SELECT id, at FROM clicks\n',
    });
    const problems = await analyseProjectSql(loadProjectOrThrow(dir, { env: {} }), ctx.engine);
    if (ctx.engine.capabilities.major < 20) {
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatchObject({
        code: 'unsupported-on-server',
        location: { file: 'datasources/clicks.datasource.yaml', line: 3 },
        message: expect.stringMatching(
          /`at` .* is DateTime64\(3\): ClickHouse 18\.16\.\d+ has no type DateTime64/,
        ),
      });
    } else {
      expect(problems).toEqual([]);
    }
  });
});

forEachBackend('engine.ttl and the version of the server', (ctx) => {
  const project = () =>
    loadProjectOrThrow(
      writeProject({
        'datasources/visits.datasource.yaml': [
          'columns:',
          '  - { name: id, type: String }',
          '  - { name: at, type: DateTime }',
          'engine:',
          '  sorting_key: [id]',
          '  ttl: at + INTERVAL 90 DAY',
        ].join('\n'),
      }),
      { env: {} },
    );
  const expected = () => ({
    code: 'unsupported-on-server',
    location: { file: 'datasources/visits.datasource.yaml', line: 6, col: 8 },
    message: `data source \`visits\` sets engine.ttl (at + INTERVAL 90 DAY): ClickHouse ${ctx.engine.capabilities.version} has no TTL (it needs ClickHouse 19.6 or newer)`,
  });

  it('check --sql names the line of ttl where the server has no TTL, and passes where it has', async () => {
    const problems = await analyseProjectSql(project(), ctx.engine);
    if (ctx.engine.capabilities.ttl) expect(problems).toEqual([]);
    else expect(problems).toEqual([expect.objectContaining({ severity: 'error', ...expected() })]);
  });

  it('deploy refuses it before any DDL instead of a raw syntax error, and creates the table where TTL exists', async () => {
    const outcome = await applyDeploy(project(), ctx.engine).then(
      (r) => r,
      (err: unknown) => err as TallyError,
    );
    const tables = await ctx.engine.rows<{ name: string }>(
      `SELECT name FROM system.tables WHERE database = '${ctx.database}' AND name = 'visits'`,
    );
    if (ctx.engine.capabilities.ttl) {
      expect(outcome).toMatchObject({ ok: true });
      expect(tables).toHaveLength(1);
    } else {
      expect(outcome).toBeInstanceOf(TallyError);
      expect(outcome).toMatchObject(expected());
      expect(tables).toEqual([]);
    }
  });
});

// Opened by the check itself, as `tally check --sql` does: on the server (this process already
// holds its one embedded folder, and chDB takes one per process).
describe('tally check --sql on its own connection [server]', () => {
  it('leaves no database behind, not even the project database it was pointed at', async () => {
    const database = scratchDatabase('chk');
    const project = loadProjectOrThrow(REPO, {
      env: { TALLY_CLICKHOUSE_URL: inject('clickhouseUrl'), TALLY_CLICKHOUSE_DATABASE: database },
    });
    expect(await analyseProjectSql(project)).toEqual([]);
    const server = await createEngine(clickhouseConfig('server', 'default'), { createDatabase: false });
    try {
      const left = await server.rows<{ name: string }>(
        `SELECT name FROM system.databases WHERE name = '${database}' OR name LIKE 'tally_check_${process.pid}_%'`,
      );
      expect(left).toEqual([]);
    } finally {
      await server.close();
    }
  });
});
