import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import { ensureIngestTables, LOG_TABLE } from '../../src/ingest/ingest-tables.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import type { Project } from '../../src/project/model.ts';
import { createApp } from '../../src/server/create-app.ts';
import { FreshnessTracker } from '../../src/server/freshness.ts';
import { MetricsRegistry } from '../../src/server/metrics.ts';
import { StateHolder } from '../../src/server/serving-state.ts';
import { forEachBackend } from '../support/backends.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';
import { parsePrometheus } from '../unit/server/prometheus-text.ts';
import { schemaValidator } from '../unit/server/schema-validator.ts';

const FILES: Record<string, string> = {
  'tally.yaml': 'name: observability-test\n',
  'datasources/events.datasource.yaml': [
    'columns:',
    '  - { name: id, type: String }',
    '  - { name: at, type: DateTime }',
    '  - { name: kind, type: String }',
    '  - { name: amount, type: "Decimal(18, 2)" }',
    '  - { name: n, type: UInt64 }',
    'engine: { sorting_key: [id] }',
  ].join('\n'),
  'datasources/kind_totals.datasource.yaml': [
    'columns:',
    '  - { name: kind, type: String }',
    '  - { name: total, type: "AggregateFunction(sum, Decimal(18, 2))" }',
    'engine: { type: AggregatingMergeTree, sorting_key: [kind] }',
  ].join('\n'),
  'datasources/other.datasource.yaml':
    'columns:\n  - { name: id, type: String }\nengine: { sorting_key: [id] }\n',
  'pipes/totals_mv.pipe.yaml': [
    'nodes:',
    '  - name: t',
    '    sql: SELECT kind, sumState(amount) AS total FROM events GROUP BY kind',
    'materialize: { to: kind_totals }',
  ].join('\n'),
  'pipes/by_kind.pipe.yaml': [
    'params:',
    '  kind: { type: String, required: true, description: The kind of event }',
    '  min_amount: { type: "Decimal(18, 2)", default: 0 }',
    'nodes:',
    '  - name: r',
    '    sql: |',
    '      SELECT id, at, amount, n, [kind] AS kinds FROM events',
    '      WHERE kind = {{ kind }} AND amount >= {{ min_amount }} ORDER BY id',
  ].join('\n'),
  'pipes/totals.pipe.yaml':
    'nodes:\n  - name: t\n    sql: SELECT kind, sumMerge(total) AS total FROM kind_totals GROUP BY kind ORDER BY kind\n',
  'pipes/others.pipe.yaml': 'nodes:\n  - name: o\n    sql: SELECT id FROM other ORDER BY id\n',
  'pipes/everything.pipe.yaml': 'nodes:\n  - name: all\n    sql: SELECT id FROM events ORDER BY id\n',
  'endpoints/by_kind.endpoint.yaml':
    'pipe: by_kind\ndescription: Events of one kind\ncache: 5s\nmax_staleness: 30s\nformats: [json, csv, ndjson]\n',
  'endpoints/totals.endpoint.yaml': 'pipe: totals\nmax_staleness: 30s\n',
  'endpoints/others.endpoint.yaml': 'pipe: others\nmax_staleness: 1s\n',
  'endpoints/everything.endpoint.yaml': 'pipe: everything\nlimits: { max_rows: 2 }\n',
};

const ROWS = [
  { id: 'a', at: '2024-03-11 12:30:45', kind: 'pay', amount: 10.5, n: 1 },
  { id: 'b', at: '2024-03-12 08:00:00', kind: 'pay', amount: 99.99, n: 2 },
  { id: 'c', at: '2024-03-13 09:17:28', kind: 'refund', amount: 5, n: 3 },
];

afterAll(removeProjects);

interface Json {
  [k: string]: unknown;
}

forEachBackend('HTTP observability', (ctx) => {
  let project: Project;
  let holder: StateHolder;
  let app: ReturnType<typeof createApp>;
  const logs: Array<Record<string, unknown>> = [];
  const registry = new MetricsRegistry();

  const logRow = (datasource: string, agoS: number) => ({
    time: Math.floor(Date.now() / 1000) - agoS,
    datasource,
    source: 'http',
    rows: 1,
  });

  beforeAll(async () => {
    project = loadProjectOrThrow(writeProject(FILES), { env: {} });
    const deployed = await applyDeploy(project, ctx.engine);
    expect(deployed.ok, deployed.error).toBe(true);
    await ctx.engine.insert('events', ROWS);
    holder = new StateHolder({ project, engine: ctx.engine, version: 'v1' });
    app = createApp({
      state: holder,
      tokens: [],
      log: (e) => logs.push(e),
      metrics: registry,
      // Read the ops log on every request, so the test sees each row it writes at once.
      freshness: new FreshnessTracker({ ttlMs: 0 }),
    });
  });

  describe('OpenAPI', () => {
    it('serves a valid OpenAPI 3.1 document with the output columns ClickHouse reports', async () => {
      const res = await app.request('/v0/openapi.json');
      expect(res.status).toBe(200);
      const doc = (await res.json()) as Json;
      const validator = new Validator();
      const result = await validator.validate(doc);
      expect(result.errors ?? [], JSON.stringify(result.errors)).toEqual([]);
      expect(result.valid).toBe(true);
      const paths = doc.paths as Record<string, Json>;
      expect(Object.keys(paths).sort()).toEqual([
        '/v0/pipes/by_kind.csv',
        '/v0/pipes/by_kind.json',
        '/v0/pipes/by_kind.ndjson',
        '/v0/pipes/everything.csv',
        '/v0/pipes/everything.json',
        '/v0/pipes/everything.ndjson',
        '/v0/pipes/others.csv',
        '/v0/pipes/others.json',
        '/v0/pipes/others.ndjson',
        '/v0/pipes/totals.csv',
        '/v0/pipes/totals.json',
        '/v0/pipes/totals.ndjson',
      ]);
      const resolved = validator.resolveRefs() as Json;
      const op = (resolved.paths as Record<string, Record<string, Json>>)['/v0/pipes/by_kind.json']!.get!;
      const responses = op.responses as Record<string, { content: Record<string, { schema: Json }> }>;
      const schema = responses['200']!.content['application/json']!.schema;
      const item = ((schema.properties as Json).data as Json).items as Json;
      expect(Object.keys(item.properties as Json)).toEqual(['id', 'at', 'amount', 'n', 'kinds']);
      expect(item.properties).toMatchObject({
        id: { type: 'string' },
        amount: { type: 'number' },
        n: { type: 'integer' },
        kinds: { type: 'array', items: { type: 'string' } },
      });

      // Real answers fit the schemas the document gives for them.
      const ajv = schemaValidator();
      const ok = await app.request('/v0/pipes/by_kind.json?kind=pay');
      expect(ok.status).toBe(200);
      const answer = await ok.json();
      const valid = ajv.compile(schema);
      expect(valid(answer), JSON.stringify(valid.errors)).toBe(true);
      expect((answer as { data: unknown[] }).data).toHaveLength(2);
      const bad = await app.request('/v0/pipes/by_kind.json?kind=pay&min_amount=0.001');
      expect(bad.status).toBe(400);
      const errorSchema = responses['400']!.content['application/json']!.schema;
      expect(ajv.compile(errorSchema)(await bad.json())).toBe(true);
      // A param's default is of its schema's type: `default: 0` of a Decimal is the string "0".
      const minAmount = (op.parameters as Array<{ name: string; schema: Json }>).find(
        (x) => x.name === 'min_amount',
      )!.schema;
      expect(minAmount).toMatchObject({ type: 'string', default: '0' });
      expect(ajv.compile(minAmount)(minAmount.default)).toBe(true);
    });

    it('asks ClickHouse for the columns once per project version', async () => {
      const before = (await (await app.request('/v0/openapi.json')).text()).length;
      const again = await (await app.request('/v0/openapi.json')).text();
      expect(again.length).toBe(before);
      expect(again).toContain('"version":"v1"');
    });
  });

  describe('freshness', () => {
    it('is unknown before the ops log exists', async () => {
      const res = await app.request('/v0/pipes/by_kind.json?kind=pay');
      expect(res.status).toBe(200);
      expect(res.headers.get('x-tally-freshness')).toBe('unknown');
      expect(((await res.json()) as { statistics: Json }).statistics.freshness_s).toBe(null);
    });

    it('answers 503 with the measured staleness past max_staleness, also through a materialized data source', async () => {
      await ensureIngestTables(ctx.engine, project.datasources.get('events')!);
      await ctx.engine.insert(LOG_TABLE, [logRow('events', 100)]);

      const stale = await app.request('/v0/pipes/by_kind.json?kind=pay');
      expect(stale.status).toBe(503);
      const body = (await stale.json()) as Json;
      expect(body).toMatchObject({ error: expect.stringContaining('max_staleness'), max_staleness_s: 30 });
      expect(body.staleness_s).toBeGreaterThanOrEqual(100);
      expect(body.staleness_s).toBeLessThan(110);
      expect(Number(stale.headers.get('x-tally-freshness'))).toBe(body.staleness_s);

      const viaMv = await app.request('/v0/pipes/totals.json');
      expect(viaMv.status).toBe(503);
      expect(((await viaMv.json()) as Json).staleness_s).toBeGreaterThanOrEqual(100);

      // a bad request is still a 400, even when the data is stale
      expect((await app.request('/v0/pipes/by_kind.json')).status).toBe(400);
      // the CSV and NDJSON forms refuse too
      expect((await app.request('/v0/pipes/by_kind.csv?kind=pay')).status).toBe(503);
      // a data source that never got a batch is not stale
      const others = await app.request('/v0/pipes/others.json');
      expect(others.status).toBe(200);
      expect(others.headers.get('x-tally-freshness')).toBe('unknown');
    });

    it('only reports staleness when told to (dev)', async () => {
      const reporting = createApp({
        state: holder,
        tokens: [],
        staleness: 'report',
        freshness: new FreshnessTracker({ ttlMs: 0 }),
      });
      const res = await reporting.request('/v0/pipes/by_kind.json?kind=refund');
      expect(res.status).toBe(200);
      const stats = ((await res.json()) as { statistics: Json }).statistics;
      expect(stats.freshness_s).toBeGreaterThanOrEqual(100);
      expect(Number(res.headers.get('x-tally-freshness'))).toBe(stats.freshness_s);
    });

    it('serves again once a new batch arrives, cached answers with the current freshness', async () => {
      await ctx.engine.insert(LOG_TABLE, [logRow('events', 1)]);
      const first = await app.request('/v0/pipes/by_kind.json?kind=pay');
      expect(first.status).toBe(200);
      const fresh = Number(first.headers.get('x-tally-freshness'));
      expect(fresh).toBeLessThanOrEqual(3);
      const second = await app.request('/v0/pipes/by_kind.json?kind=pay');
      expect(second.headers.get('x-tally-cache')).toBe('hit');
      const stats = ((await second.json()) as { statistics: Json }).statistics;
      expect(stats.freshness_s).toBe(Number(second.headers.get('x-tally-freshness')));
      expect(stats.freshness_s).toBeLessThanOrEqual(3);
      const nd = await app.request('/v0/pipes/by_kind.ndjson?kind=pay');
      expect(nd.status).toBe(200);
      expect(nd.headers.get('x-tally-freshness')).toMatch(/^\d+$/);
      expect((await app.request('/v0/pipes/totals.json')).status).toBe(200);
    });

    it('refuses per endpoint: a 1 s limit on a data source 5 s behind', async () => {
      await ctx.engine.insert(LOG_TABLE, [logRow('other', 5)]);
      const res = await app.request('/v0/pipes/others.json');
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ max_staleness_s: 1, staleness_s: expect.any(Number) });
    });
  });

  describe('metrics', () => {
    it('counts requests by endpoint and status, latency, cache and ClickHouse errors', async () => {
      expect((await app.request('/v0/pipes/everything.json')).status).toBe(413);
      expect((await app.request('/v0/pipes/nope.json')).status).toBe(404);
      expect((await app.request('/v0/pipes/everything.json', { method: 'PUT' })).status).toBe(405);
      const res = await app.request('/metrics');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
      const m = parsePrometheus(await res.text());
      expect(
        m.get('tally_http_requests_total', { endpoint: 'by_kind', status: '503' }),
      ).toBeGreaterThanOrEqual(2);
      expect(
        m.get('tally_http_requests_total', { endpoint: 'by_kind', status: '400' }),
      ).toBeGreaterThanOrEqual(2);
      expect(
        m.get('tally_http_requests_total', { endpoint: 'by_kind', status: '200' }),
      ).toBeGreaterThanOrEqual(3);
      expect(m.get('tally_http_requests_total', { endpoint: 'everything', status: '413' })).toBe(1);
      expect(m.get('tally_http_requests_total', { endpoint: 'everything', status: '405' })).toBe(1);
      // an unknown name is not a label value (no unbounded series from callers)
      expect(m.get('tally_http_requests_total', { endpoint: '', status: '404' })).toBe(1);
      expect(m.samples.some((s) => s.labels.endpoint === 'nope')).toBe(false);
      expect(
        m.get('tally_http_request_duration_seconds_count', { endpoint: 'by_kind' }),
      ).toBeGreaterThanOrEqual(7);
      expect(
        m.get('tally_cache_requests_total', { endpoint: 'by_kind', result: 'hit' }),
      ).toBeGreaterThanOrEqual(1);
      expect(
        m.get('tally_cache_requests_total', { endpoint: 'by_kind', result: 'miss' }),
      ).toBeGreaterThanOrEqual(1);
      expect(m.get('tally_clickhouse_errors_total', { endpoint: 'everything', code: '396' })).toBe(1);
    });

    it('takes other modules series on the same registry', async () => {
      registry
        .counter('tally_ingest_rows_total', 'Rows stored', ['datasource'])
        .inc({ datasource: 'events' }, 3);
      registry.collect('tally_ingest_lag', 'Messages behind', 'gauge', () => [
        { labels: { datasource: 'events', partition: '0' }, value: 7 },
      ]);
      const m = parsePrometheus(await (await app.request('/metrics')).text());
      expect(m.get('tally_ingest_rows_total', { datasource: 'events' })).toBe(3);
      expect(m.get('tally_ingest_lag', { partition: '0' })).toBe(7);
    });

    it('takes more routes (the events API) with the same tokens, metrics and logs', async () => {
      const seen: Array<Record<string, unknown>> = [];
      const extended = createApp({
        state: holder,
        tokens: [{ name: 'ops', value: 'admin-token', scope: 'admin' }],
        log: (e) => seen.push(e),
        routes: (a, { auth }) => {
          a.post('/v0/extra', (c) => {
            auth.check(c.req.header('authorization')?.slice(7), { kind: 'admin' });
            return c.json({ ok: true });
          });
        },
      });
      expect((await extended.request('/v0/extra', { method: 'POST' })).status).toBe(401);
      const ok = await extended.request('/v0/extra', {
        method: 'POST',
        headers: { authorization: 'Bearer admin-token' },
      });
      expect(await ok.json()).toEqual({ ok: true });
      expect(seen.map((e) => e.status)).toEqual([401, 200]);
      expect((await extended.request('/v0/pipes/by_kind.json', { method: 'PUT' })).status).toBe(405);
    });

    it('needs an admin token when tokens are configured', async () => {
      const secured = createApp({
        state: holder,
        tokens: [
          { name: 'ops', value: 'admin-token', scope: 'admin' },
          { name: 'reader', value: 'read-token', scope: 'read' },
        ],
      });
      expect((await secured.request('/metrics')).status).toBe(401);
      expect(
        (await secured.request('/metrics', { headers: { authorization: 'Bearer read-token' } })).status,
      ).toBe(403);
      expect(
        (await secured.request('/metrics', { headers: { authorization: 'Bearer admin-token' } })).status,
      ).toBe(200);
      // OpenAPI needs a token too (and declares the schemes); the page asks for one
      expect((await secured.request('/v0/openapi.json')).status).toBe(401);
      const doc = (await (
        await secured.request('/v0/openapi.json', { headers: { authorization: 'Bearer read-token' } })
      ).json()) as { components: Json };
      expect(doc.components.securitySchemes).toBeDefined();
      expect(await (await secured.request('/')).text()).toContain('name="token"');
      expect(await (await secured.request('/?token=read-token')).text()).toContain('id="token"');
    });
  });

  describe('logs', () => {
    it('writes one entry per request with its id, level and status, and never a token', async () => {
      logs.length = 0;
      const res = await app.request('/v0/pipes/by_kind.json?kind=pay&token=very-secret-1', {
        headers: { authorization: 'Bearer very-secret-2', 'x-request-id': 'req-123' },
      });
      expect(res.headers.get('x-request-id')).toBe('req-123');
      await app.request('/v0/pipes/by_kind.json', { headers: { 'x-request-id': 'bad id with spaces\n' } });
      const text = JSON.stringify(logs);
      expect(text).not.toContain('very-secret');
      const [ok, bad] = logs;
      expect(ok).toMatchObject({
        level: 'info',
        msg: 'request',
        id: 'req-123',
        method: 'GET',
        path: '/v0/pipes/by_kind.json',
        status: 200,
        endpoint: 'by_kind',
        cache: expect.stringMatching(/hit|miss/),
      });
      expect(ok!.ms).toEqual(expect.any(Number));
      expect(bad).toMatchObject({ level: 'warn', status: 400, id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    });
  });

  describe('home page', () => {
    it('lists every endpoint, self-contained, under a strict Content-Security-Policy', async () => {
      const res = await app.request('/');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/html');
      expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
      const html = await res.text();
      for (const name of ['by_kind', 'totals', 'others', 'everything'])
        expect(html).toContain(`id="ep-${name}"`);
      expect(html).toContain('Events of one kind');
      expect(html).not.toMatch(/(src|href)="https?:/);
    });
  });
});
