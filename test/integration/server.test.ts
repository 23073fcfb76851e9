import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import type { Project } from '../../src/project/model.ts';
import { createApp } from '../../src/server/create-app.ts';
import { StateHolder } from '../../src/server/serving-state.ts';
import { startServer } from '../../src/server/start-server.ts';
import { forEachBackend } from '../support/backends.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

const FILES: Record<string, string> = {
  'tally.yaml': 'name: server-test\n',
  'datasources/events.datasource.yaml': [
    'columns:',
    '  - { name: id, type: String }',
    '  - { name: at, type: DateTime }',
    '  - { name: kind, type: String }',
    '  - { name: amount, type: "Decimal(18, 2)" }',
    'engine: { sorting_key: [id] }',
  ].join('\n'),
  'pipes/by_kind.pipe.yaml': [
    'params:',
    '  kind: { type: String, required: true }',
    '  min_amount: { type: "Decimal(18, 2)", default: 0 }',
    '  since: { type: DateTime }',
    'nodes:',
    '  - name: filtered',
    '    sql: |',
    '      SELECT id, at, amount FROM events',
    '      WHERE kind = {{ kind }} AND amount >= {{ min_amount }}',
    '      {% if defined(since) %} AND at >= {{ since }} {% end %}',
    '  - name: result',
    '    sql: SELECT id, amount FROM filtered ORDER BY id',
  ].join('\n'),
  'pipes/everything.pipe.yaml': 'nodes:\n  - name: all\n    sql: SELECT id FROM events ORDER BY id\n',
  'endpoints/by_kind.endpoint.yaml': 'pipe: by_kind\ncache: 5s\n',
  'endpoints/everything.endpoint.yaml': 'pipe: everything\nlimits: { max_rows: 2 }\nformats: [json, csv]\n',
  'endpoints/capped.endpoint.yaml': 'pipe: everything\nsettings: { max_rows_to_read: 1, max_threads: 1 }\n',
  'endpoints/byte_capped.endpoint.yaml': 'pipe: everything\nsettings: { max_bytes_to_read: 1 }\n',
};

const ROWS = [
  { id: 'a', at: '2024-03-11 12:30:45', kind: 'pay', amount: 10.5 },
  { id: 'b', at: '2024-03-12 08:00:00', kind: 'pay', amount: 99.99 },
  { id: 'c', at: '2024-03-13 09:17:28', kind: 'refund', amount: 5 },
];

afterAll(removeProjects);

/** The JSON answers these tests read: endpoint results and error bodies. */
interface Answer {
  meta: { name: string }[];
  data: Array<{ id: string } & Record<string, unknown>>;
  rows: number;
  error: string;
  param: string;
}

async function body(res: Response): Promise<Answer> {
  return (await res.json()) as Answer;
}

forEachBackend('HTTP endpoints', (ctx) => {
  let project: Project;
  let holder: StateHolder;
  let app: ReturnType<typeof createApp>;

  beforeAll(async () => {
    project = loadProjectOrThrow(writeProject(FILES), { env: {} });
    const deployed = await applyDeploy(project, ctx.engine);
    expect(deployed.ok).toBe(true);
    await ctx.engine.insert('events', ROWS);
    holder = new StateHolder({ project, engine: ctx.engine, version: 'v1' });
    app = createApp({
      state: holder,
      tokens: [],
      log: (e) => e.msg === 'internal error' && console.error(e.error),
    });
  });

  it('answers JSON with meta, data, rows and statistics', async () => {
    const res = await app.request('/v0/pipes/by_kind.json?kind=pay');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(res.headers.get('x-request-id')).toBeTruthy();
    const body = (await res.json()) as {
      meta: { name: string }[];
      data: { id: string }[];
      rows: number;
      statistics: unknown;
    };
    expect(body.meta.map((m: { name: string }) => m.name)).toEqual(['id', 'amount']);
    expect(body.data.map((r: { id: string }) => r.id)).toEqual(['a', 'b']);
    expect(body.rows).toBe(2);
    expect(body.statistics).toEqual({
      elapsed: expect.any(Number),
      rows_read: expect.any(Number),
      bytes_read: expect.any(Number),
      freshness_s: null,
    });
    expect(res.headers.get('x-tally-freshness')).toBe('unknown');
  });

  it('applies optional params only when given', async () => {
    const res = await app.request('/v0/pipes/by_kind.json?kind=pay&since=2024-03-12T00:00:00Z');
    expect((await body(res)).data.map((r: { id: string }) => r.id)).toEqual(['b']);
    const min = await app.request('/v0/pipes/by_kind.json?kind=pay&min_amount=50');
    expect((await body(min)).data.map((r: { id: string }) => r.id)).toEqual(['b']);
  });

  it('answers CSV and NDJSON', async () => {
    const csv = await app.request('/v0/pipes/by_kind.csv?kind=pay');
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const [header, ...rows] = (await csv.text()).trim().split('\n');
    expect(header).toBe('"id","amount"');
    expect(rows.map((r) => r.split(',')).map(([id, amount]) => [id, Number(amount)])).toEqual([
      ['"a"', 10.5],
      ['"b"', 99.99],
    ]);
    const nd = await app.request('/v0/pipes/by_kind.ndjson?kind=refund');
    const lines = (await nd.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toEqual([{ id: 'c', amount: 5 }]);
  });

  it('takes params from a POST JSON body', async () => {
    const res = await app.request('/v0/pipes/by_kind.json', {
      method: 'POST',
      body: JSON.stringify({ kind: 'refund' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(200);
    expect((await body(res)).data).toEqual([{ id: 'c', amount: 5 }]);
    // A `token` in the body is not a param (as in the query string): ignored, not "unknown param".
    const withToken = await app.request('/v0/pipes/by_kind.json', {
      method: 'POST',
      body: JSON.stringify({ kind: 'refund', token: 'x' }),
    });
    expect(withToken.status, await withToken.clone().text()).toBe(200);
    const bad = await app.request('/v0/pipes/by_kind.json', { method: 'POST', body: '[1,2' });
    expect(bad.status).toBe(400);
    // Nested thousands deep, known param or not: a 400 naming it (it was a 500, a stack overflow).
    const nested = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const bodies = { kind: `{"kind":${nested}}`, unknown_one: `{"kind":"refund","unknown_one":${nested}}` };
    for (const [name, text] of Object.entries(bodies)) {
      const deep = await app.request('/v0/pipes/by_kind.json', { method: 'POST', body: text });
      expect(deep.status, name).toBe(400);
      expect((await body(deep)).error, name).toBe(`param "${name}" is nested more than 32 levels deep`);
    }
  });

  it('refuses a param given twice in the query string (the second value went unchecked)', async () => {
    for (const qs of ['kind=refund&kind=BOGUS', 'kind=BOGUS&kind=refund']) {
      const res = await app.request(`/v0/pipes/by_kind.json?${qs}`);
      expect(res.status, qs).toBe(400);
      expect(await body(res), qs).toMatchObject({
        param: 'kind',
        expected: 'one value',
        error: expect.stringContaining('`kind` is given more than once'),
      });
    }
  });

  it('answers 400 naming the param and the expected type', async () => {
    const missing = await app.request('/v0/pipes/by_kind.json');
    expect(missing.status).toBe(400);
    expect(await body(missing)).toMatchObject({ param: 'kind', expected: expect.stringContaining('String') });
    const bad = await app.request('/v0/pipes/by_kind.json?kind=pay&since=yesterday');
    expect(bad.status).toBe(400);
    expect(await body(bad)).toMatchObject({
      param: 'since',
      expected: expect.stringContaining('DateTime'),
      error: expect.any(String),
    });
    const dec = await app.request('/v0/pipes/by_kind.json?kind=pay&min_amount=1.234');
    expect(dec.status).toBe(400);
    expect((await body(dec)).param).toBe('min_amount');
    // A misspelt optional param is not silently dropped (the answer would be the one without it).
    const typo = await app.request('/v0/pipes/by_kind.json?kind=pay&min_amont=50');
    expect(typo.status).toBe(400);
    expect(await body(typo)).toMatchObject({
      param: 'min_amont',
      error: expect.stringMatching(/unknown param "min_amont" \(did you mean `min_amount`\?\)/),
    });
    // A misspelt required param: the unknown one is named (with its "did you mean"), not "kind is required".
    const misspelt = await app.request('/v0/pipes/by_kind.json?knd=pay');
    expect(misspelt.status).toBe(400);
    expect(await body(misspelt)).toMatchObject({
      param: 'knd',
      error: expect.stringMatching(/unknown param "knd" \(did you mean `kind`\?\)/),
    });
    // Missing with no unknown param beside it: "required".
    expect(await body(await app.request('/v0/pipes/by_kind.json?_=1'))).toMatchObject({
      param: 'kind',
      error: expect.stringMatching(/param "kind" is required/),
    });
    // `_`-names are the caller's (cache busters): ignored.
    expect((await app.request('/v0/pipes/by_kind.json?kind=pay&_=1732841234')).status).toBe(200);
  });

  it('answers 404 for an unknown endpoint or format, 405 for a wrong method', async () => {
    const unknown = await app.request('/v0/pipes/by_knd.json');
    expect(unknown.status).toBe(404);
    expect((await body(unknown)).error).toContain('did you mean `by_kind`');
    expect((await app.request('/v0/pipes/everything.ndjson')).status).toBe(404);
    expect((await app.request('/v0/pipes/by_kind.xml?kind=pay')).status).toBe(404);
    const put = await app.request('/v0/pipes/by_kind.json?kind=pay', { method: 'PUT' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, HEAD, POST');
    // HEAD: GET's status and headers, no body.
    const head = await app.request('/v0/pipes/by_kind.json?kind=pay', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('application/json');
    expect(await head.text()).toBe('');
    expect((await app.request('/v0/nothing')).status).toBe(404);
  });

  it('refuses a result over the row limit with a clear error and keeps serving', async () => {
    const res = await app.request('/v0/pipes/everything.json');
    expect(res.status).toBe(413);
    expect(await body(res)).toMatchObject({
      limit: 'max_result_rows',
      error: expect.stringMatching(
        /^endpoint `everything` exceeded max_result_rows \(its limits\.max_rows\): /,
      ),
    });
    expect((await app.request('/v0/pipes/by_kind.json?kind=refund')).status).toBe(200);
  });

  it('caches per params with a hit/miss header, and a swap of the project clears it', async () => {
    const first = await app.request('/v0/pipes/by_kind.json?kind=pay&min_amount=1');
    expect(first.status, await first.clone().text()).toBe(200);
    expect(first.headers.get('x-tally-cache')).toBe('miss');
    const second = await app.request('/v0/pipes/by_kind.json?min_amount=1&kind=pay');
    expect(second.headers.get('x-tally-cache')).toBe('hit');
    expect(await second.text()).toBe(await first.text());
    await ctx.engine.insert('events', [{ id: 'd', at: '2024-03-14 00:00:00', kind: 'pay', amount: 1 }]);
    const cached = await app.request('/v0/pipes/by_kind.json?kind=pay&min_amount=1');
    expect((await body(cached)).rows).toBe(2);
    holder.swap({ project, engine: ctx.engine, version: 'v2' });
    const fresh = await app.request('/v0/pipes/by_kind.json?kind=pay&min_amount=1');
    expect(fresh.headers.get('x-tally-cache')).toBe('miss');
    expect((await body(fresh)).rows).toBe(3);
    expect((await app.request('/v0/pipes/everything.csv')).headers.get('x-tally-cache')).toBe(null);
  });

  it('keeps no entry for a cache buster (`_` params) nor for params over 16 KiB', async () => {
    const first = await app.request('/v0/pipes/by_kind.json?kind=buster&_=1');
    expect(first.headers.get('x-tally-cache')).toBe('miss');
    // Another `_` value is the same request: the cached answer, not a new entry.
    const busted = await app.request('/v0/pipes/by_kind.json?kind=buster&_=2');
    expect(busted.headers.get('x-tally-cache')).toBe('hit');
    expect(await busted.text()).toBe(await first.text());
    // A kind of 17k characters: answered each time, never kept.
    const big = `/v0/pipes/by_kind.json?kind=${'k'.repeat(17 * 1024)}`;
    for (let i = 0; i < 2; i++) {
      const res = await app.request(big);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-tally-cache')).toBe('off');
    }
  });

  it("runs an endpoint's queries with its settings", async () => {
    const res = await app.request('/v0/pipes/capped.json');
    expect(res.status).toBe(422);
    const answer = (await res.json()) as { error: string; limit: string };
    expect(answer.limit).toBe('max_rows_to_read');
    expect(answer.error).toContain('endpoint `capped` exceeded max_rows_to_read');
    const bytes = await app.request('/v0/pipes/byte_capped.json');
    expect(bytes.status).toBe(422);
    expect(((await bytes.json()) as { limit: string }).limit).toBe('max_bytes_to_read');
  });

  it('refuses at deploy a setting the server does not have, naming the file and line', async () => {
    const bad = loadProjectOrThrow(
      writeProject({
        ...FILES,
        'endpoints/capped.endpoint.yaml':
          'pipe: everything\nsettings:\n  max_threads: 1\n  no_such_setting_q: 1\n',
      }),
      { env: {} },
    );
    await expect(applyDeploy(bad, ctx.engine)).rejects.toMatchObject({
      code: 'unsupported-on-server',
      location: { file: 'endpoints/capped.endpoint.yaml', line: 4 },
      message: expect.stringContaining('endpoint `capped` sets `no_such_setting_q`, which ClickHouse'),
    });
  });

  it('reports health', async () => {
    const res = await app.request('/health');
    expect(res.status).toBe(200);
    expect(await body(res)).toMatchObject({ status: 'ok', clickhouse: { ok: true, backend: ctx.backend } });
  });

  describe('with tokens', () => {
    let secured: ReturnType<typeof createApp>;
    beforeAll(() => {
      secured = createApp({
        state: holder,
        tokens: [
          { name: 'ops', value: 'admin-token', scope: 'admin' },
          { name: 'partner', value: 'partner-token', scope: 'read', endpoints: ['by_kind'] },
        ],
      });
    });

    it('answers 401 without a token, 403 for the wrong scope, 200 with the right one', async () => {
      const anonymous = await secured.request('/v0/pipes/by_kind.json?kind=pay');
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="tally"');
      expect((await secured.request('/v0/pipes/by_kind.json?kind=pay&token=wrong')).status).toBe(401);
      const forbidden = await secured.request('/v0/pipes/everything.csv', {
        headers: { authorization: 'Bearer partner-token' },
      });
      expect(forbidden.status).toBe(403);
      expect(await forbidden.text()).not.toContain('partner-token');
      expect((await secured.request('/v0/pipes/by_kind.json?kind=pay&token=admin-token')).status).toBe(200);
      const ok = await secured.request('/v0/pipes/by_kind.csv?kind=refund', {
        headers: { authorization: 'Bearer partner-token' },
      });
      expect(ok.status).toBe(200);
    });

    it('says nothing of what is served before the token: no 404, formats or names like it', async () => {
      // Without a token an unknown name and a known one answer alike (401), so names cannot be probed.
      for (const path of ['/v0/pipes/by_knd.json', '/v0/pipes/by_kind.xml', '/v0/pipes/nope.json']) {
        const r = await secured.request(path);
        expect(r.status, path).toBe(401);
        expect(await r.text(), path).not.toMatch(/by_kind|everything/);
      }
      expect((await secured.request('/v0/pipes/by_kind.xml?token=wrong')).status).toBe(401);
      // A token limited to by_kind: the other endpoint's formats are a 403, and a name like it is
      // not suggested; by_kind is.
      const partner = { authorization: 'Bearer partner-token' };
      expect((await secured.request('/v0/pipes/everything.xml', { headers: partner })).status).toBe(403);
      const near = await secured.request('/v0/pipes/everythin.json', { headers: partner });
      expect(near.status).toBe(404);
      expect(((await near.json()) as { error: string }).error).toBe('no endpoint named `everythin`');
      const close = await secured.request('/v0/pipes/by_knd.json', { headers: partner });
      expect(((await close.json()) as { error: string }).error).toContain('did you mean `by_kind`');
      const format = await secured.request('/v0/pipes/by_kind.xml', { headers: partner });
      expect(format.status).toBe(404);
      expect(((await format.json()) as { error: string }).error).toMatch(/is served as by_kind\.json/);
      // An admin token is told of every endpoint.
      const admin = await secured.request('/v0/pipes/everythin.json?token=admin-token');
      expect(((await admin.json()) as { error: string }).error).toContain('did you mean `everything`');
    });

    // Under @hono/node-server headers are read from Node's request and endpoint answers are
    // written from plain header objects: the same contract as in-process, over a socket.
    it('keeps the header contract over a real socket', async () => {
      const server = await startServer(secured, '127.0.0.1', 0);
      try {
        const get = (path: string, headers: Record<string, string> = {}) =>
          fetch(server.url + path, { headers });
        const bearer = { authorization: 'Bearer partner-token' };
        expect((await get('/v0/pipes/by_kind.json?kind=pay')).status).toBe(401);
        // An unknown name without a token: 401 too on this path (the direct route), not 404.
        expect((await get('/v0/pipes/by_knd.json')).status).toBe(401);
        expect((await get('/v0/pipes/everything.json', bearer)).status).toBe(403);
        const first = await get('/v0/pipes/by_kind.json?kind=pay&min_amount=7', {
          ...bearer,
          'x-request-id': 'sock-1',
        });
        expect(first.status).toBe(200);
        expect(first.headers.get('x-request-id')).toBe('sock-1');
        expect(first.headers.get('content-type')).toBe('application/json');
        expect(first.headers.get('x-tally-freshness')).toBe('unknown');
        expect(first.headers.get('x-tally-cache')).toBe('miss');
        expect(((await first.json()) as Answer).data.map((r) => r.id)).toEqual(['a', 'b']);
        const again = await get('/v0/pipes/by_kind.json?min_amount=7&kind=pay', bearer);
        expect(again.headers.get('x-tally-cache')).toBe('hit');
        expect(again.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
        const csv = await get('/v0/pipes/by_kind.csv?kind=refund', bearer);
        expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
        expect(await csv.text()).toContain('"c"');
        // Routes answered through hono's context (errors, health) get the id too.
        const bad = await get('/v0/pipes/by_kind.json', { ...bearer, 'x-request-id': 'sock-2' });
        expect([bad.status, bad.headers.get('x-request-id')]).toEqual([400, 'sock-2']);
        const missing = await get('/v0/pipes/nope.json', { ...bearer, 'x-request-id': 'sock-3' });
        expect([missing.status, missing.headers.get('x-request-id')]).toEqual([404, 'sock-3']);
      } finally {
        await server.close();
      }
    });
  });
});
