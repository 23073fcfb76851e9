/**
 * An endpoint whose query ClickHouse refuses at run time: a 500 whose body never quotes
 * ClickHouse's message (it can hold the pipe's SQL) to a caller without an admin token, while
 * the request log always has it; with no tokens configured, or an admin token, the body has it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { createApp } from '../../src/server/create-app.ts';
import { StateHolder } from '../../src/server/serving-state.ts';
import { type RunningServer, startServer } from '../../src/server/start-server.ts';
import { forEachBackend } from '../support/backends.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

const FILES: Record<string, string> = {
  'tally.yaml': 'name: engine-errors-test\n',
  'datasources/events.datasource.yaml':
    'columns:\n  - { name: id, type: String }\n  - { name: n, type: UInt64 }\nengine: { sorting_key: [id] }\n',
  // Valid SQL that ClickHouse refuses once it reads a row: a division by zero.
  'pipes/broken.pipe.yaml': [
    'params:',
    '  id: { type: String, default: a }',
    'nodes:',
    '  - name: q',
    '    sql: SELECT id, intDiv(n, n - n) AS secret_ratio FROM events WHERE id = {{ id }}',
  ].join('\n'),
  'endpoints/broken.endpoint.yaml': 'pipe: broken\n',
  // A limit: ClickHouse's message names columns, tables, paths.
  'pipes/all_rows.pipe.yaml': 'nodes:\n  - name: q\n    sql: SELECT id, n FROM events\n',
  'endpoints/capped.endpoint.yaml': 'pipe: all_rows\nlimits: { max_rows: 1 }\n',
  // Fails on a row far into a streamed answer (small blocks): the server has written rows by then.
  'pipes/late.pipe.yaml': 'nodes:\n  - name: q\n    sql: SELECT n, throwIf(n = 150000) AS boom FROM many\n',
  'datasources/many.datasource.yaml':
    'columns:\n  - { name: n, type: UInt64 }\nengine: { sorting_key: [n] }\n',
  'endpoints/late.endpoint.yaml':
    'pipe: late\nformats: [json, csv, ndjson]\ncache: 60s\nlimits: { max_rows: 1000000 }\nsettings: { max_block_size: 1000, max_threads: 1 }\n',
};

const TOKENS = [
  { name: 'ops', value: 'admin-secret', scope: 'admin' as const },
  { name: 'app', value: 'read-secret', scope: 'read' as const },
];

afterAll(removeProjects);

interface ErrorBody {
  error: string;
  clickhouse_code: string;
}

forEachBackend('endpoint failing in ClickHouse', (ctx) => {
  let holder: StateHolder;
  const logs: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    const project = loadProjectOrThrow(writeProject(FILES), { env: {} });
    const deployed = await applyDeploy(project, ctx.engine);
    expect(deployed.ok, deployed.error).toBe(true);
    await ctx.engine.insert('events', [
      { id: 'a', n: 1 },
      { id: 'b', n: 2 },
    ]);
    await ctx.engine.command('INSERT INTO many SELECT number FROM system.numbers LIMIT 200000');
    holder = new StateHolder({ project, engine: ctx.engine, version: 'v1' });
  });

  const logged = (id: string | null) => logs.find((l) => l.msg === 'request' && l.id === id);

  it('with no tokens configured: 500 with ClickHouse message and code; the log line has it too', async () => {
    const app = createApp({ state: holder, tokens: [], log: (e) => logs.push(e) });
    const res = await app.request('/v0/pipes/broken.json');
    expect(res.status).toBe(500);
    const body = (await res.json()) as ErrorBody;
    expect(body.clickhouse_code).toMatch(/^\d+$/);
    expect(body.error).toMatch(
      new RegExp(
        `^endpoint \`broken\` failed in ClickHouse \\(code ${body.clickhouse_code}\\): .*Division by zero`,
      ),
    );
    expect(logged(res.headers.get('x-request-id'))).toMatchObject({
      status: 500,
      level: 'error',
      error: expect.stringMatching(/Division by zero/),
    });
  });

  it('a read token gets the code and the request id, not the message; an admin token gets the message', async () => {
    const app = createApp({ state: holder, tokens: TOKENS, log: (e) => logs.push(e) });
    const call = (token: string) =>
      app.request('/v0/pipes/broken.json?id=a', { headers: { authorization: `Bearer ${token}` } });
    // At once, so the two share one ClickHouse query (coalesced): each still gets its own answer.
    const [read, admin] = await Promise.all([call('read-secret'), call('admin-secret')]);
    expect([read.status, admin.status]).toEqual([500, 500]);

    const readBody = (await read.json()) as ErrorBody;
    const id = read.headers.get('x-request-id');
    expect(readBody).toEqual({
      error: `endpoint \`broken\` failed in ClickHouse (code ${readBody.clickhouse_code}); its message is in the server's log under request id ${id}`,
      clickhouse_code: expect.stringMatching(/^\d+$/),
    });
    expect(JSON.stringify(readBody)).not.toMatch(/secret_ratio|Division|events/);
    expect(logged(id)).toMatchObject({ status: 500, error: expect.stringMatching(/Division by zero/) });

    const adminBody = (await admin.json()) as ErrorBody;
    expect(adminBody.error).toMatch(/failed in ClickHouse \(code \d+\): .*Division by zero/);
    // The two shared one ClickHouse query: one failure counted, not two.
    const metrics = await (
      await app.request('/metrics', { headers: { authorization: 'Bearer admin-secret' } })
    ).text();
    expect(metrics).toMatch(/tally_clickhouse_errors_total\{endpoint="broken",code="\d+"\} 1\n/);
  });

  it("a limit's answer names the limit to everyone, and ClickHouse's words only to admin", async () => {
    const app = createApp({ state: holder, tokens: TOKENS, log: (e) => logs.push(e) });
    const call = (token: string) =>
      app.request('/v0/pipes/capped.json', { headers: { authorization: `Bearer ${token}` } });
    const read = await call('read-secret');
    expect(read.status).toBe(413);
    const body = (await read.json()) as ErrorBody & { limit: string };
    expect(body.limit).toBe('max_result_rows');
    expect(body.error).toBe(
      `endpoint \`capped\` exceeded max_result_rows (its limits.max_rows); its message is in the server's log under request id ${read.headers.get('x-request-id')}`,
    );
    const admin = (await (await call('admin-secret')).json()) as ErrorBody;
    expect(admin.error).toMatch(/^endpoint `capped` exceeded max_result_rows \(its limits\.max_rows\): .+/);
  });

  it('an error met after rows were streamed is an error answer in every format, never a cached 200', async () => {
    const app = createApp({ state: holder, tokens: [], log: (e) => logs.push(e) });
    for (const format of ['csv', 'ndjson', 'json']) {
      for (let i = 0; i < 2; i++) {
        const res = await app.request(`/v0/pipes/late.${format}`);
        const text = await res.text();
        expect(res.status, `${format} #${i}: ${text.slice(-200)}`).toBe(500);
        expect(text).toMatch(/failed in ClickHouse/);
      }
    }
  });

  it('the same on the direct route of a real server (node http, no hono)', async () => {
    let server: RunningServer | undefined;
    try {
      server = await startServer(
        createApp({ state: holder, tokens: TOKENS, log: (e) => logs.push(e) }),
        '127.0.0.1',
        0,
      );
      const res = await fetch(`${server.url}/v0/pipes/broken.json?id=a`, {
        headers: { authorization: 'Bearer read-secret', 'x-request-id': 'direct-1' },
      });
      expect(res.status).toBe(500);
      const body = (await res.json()) as ErrorBody;
      expect(body.error).toMatch(/its message is in the server's log under request id direct-1$/);
      expect(JSON.stringify(body)).not.toMatch(/Division|secret_ratio/);
      expect(logged('direct-1')).toMatchObject({
        status: 500,
        error: expect.stringMatching(/Division by zero/),
      });
    } finally {
      await server?.close();
    }
  });
});
