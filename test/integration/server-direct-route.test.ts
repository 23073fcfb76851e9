import { request } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import { ensureIngestTables, LOG_TABLE } from '../../src/ingest/ingest-tables.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { createApp, type TallyApp } from '../../src/server/create-app.ts';
import { FreshnessTracker } from '../../src/server/freshness.ts';
import { MetricsRegistry } from '../../src/server/metrics.ts';
import { StateHolder } from '../../src/server/serving-state.ts';
import { type RunningServer, startServer } from '../../src/server/start-server.ts';
import { forEachBackend } from '../support/backends.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

// Endpoint GETs over a real socket take the direct node path (src/server/direct-route.ts); in
// process (`app.request`) they go through hono. Both must answer, count and log alike.

const FILES: Record<string, string> = {
  'tally.yaml': [
    'name: direct-route-test',
    'tokens:',
    '  ops: { token: ops-secret-1, scope: admin }',
    '  reader: { token: reader-secret-1, scope: read }',
    '  other: { token: other-secret-1, scope: read, endpoints: [by_kind] }',
  ].join('\n'),
  'datasources/events.datasource.yaml': [
    'columns:',
    '  - { name: id, type: String }',
    '  - { name: kind, type: String }',
    '  - { name: amount, type: "Decimal(18, 2)" }',
    'engine: { sorting_key: [id] }',
  ].join('\n'),
  'datasources/notes.datasource.yaml':
    'columns:\n  - { name: id, type: String }\nengine: { sorting_key: [id] }\n',
  'pipes/by_kind.pipe.yaml': [
    'params:',
    '  kind: { type: String, required: true }',
    '  min_amount: { type: "Decimal(18, 2)", default: 0 }',
    'nodes:',
    '  - name: result',
    '    sql: |',
    '      SELECT id, amount FROM events',
    '      WHERE kind = {{ kind }} AND amount >= {{ min_amount }} ORDER BY id',
  ].join('\n'),
  'pipes/all_notes.pipe.yaml': 'nodes:\n  - name: all\n    sql: SELECT id FROM notes ORDER BY id\n',
  'endpoints/by_kind.endpoint.yaml': 'pipe: by_kind\ncache: 5s\nformats: [json, csv, ndjson]\n',
  'endpoints/secret.endpoint.yaml': 'pipe: all_notes\ntoken: reader\n',
  'endpoints/stale.endpoint.yaml': 'pipe: by_kind\nmax_staleness: 30s\n',
};

/** Every path of the endpoints route: answers, cache hits, each refusal. */
const REQUESTS: Array<{ path: string; headers?: Record<string, string> }> = [
  { path: '/v0/pipes/by_kind.json?kind=pay&token=reader-secret-1' },
  { path: '/v0/pipes/by_kind.json?kind=pay&token=reader-secret-1' },
  {
    path: '/v0/pipes/by_kind.csv?kind=pay&min_amount=50',
    headers: { authorization: 'Bearer reader-secret-1' },
  },
  { path: '/v0/pipes/by_kind.ndjson?kind=p%61y&token=reader-secret-1' },
  { path: '/v0/pipes/by_kind.json?token=reader-secret-1' },
  { path: '/v0/pipes/by_kind.json?kind=pay&min_amount=abc&token=reader-secret-1' },
  { path: '/v0/pipes/by_kind.json?kind=pay&typo=1&token=reader-secret-1' },
  { path: '/v0/pipes/by_knd.json?token=reader-secret-1' },
  { path: '/v0/pipes/by_kind.xml?token=reader-secret-1' },
  { path: '/v0/pipes/by_kind?token=reader-secret-1' },
  { path: '/v0/pipes/secret.json' },
  { path: '/v0/pipes/secret.json?token=wrong' },
  { path: '/v0/pipes/secret.json', headers: { authorization: 'Bearer other-secret-1' } },
  {
    path: '/v0/pipes/secret.json',
    headers: { authorization: 'Bearer reader-secret-1', 'x-request-id': 'abc-123' },
  },
  { path: '/v0/pipes/stale.json?kind=pay&token=reader-secret-1' },
  { path: '/v0/pipes/stale.json?token=reader-secret-1' },
  // Left to hono by the direct path: an encoded name, a deeper path.
  { path: '/v0/pipes/by%5Fkind.json?kind=pay&token=reader-secret-1' },
  { path: '/v0/pipes/by_kind.json/x?kind=pay&token=reader-secret-1' },
];

const COMPARED_HEADERS = ['content-type', 'x-tally-cache', 'x-tally-freshness', 'www-authenticate'] as const;

afterAll(removeProjects);

forEachBackend('endpoint GETs through the direct node path', (ctx) => {
  let holder: StateHolder;
  const instances: Array<{
    app: TallyApp;
    logs: Array<Record<string, unknown>>;
    registry: MetricsRegistry;
  }> = [];
  let server: RunningServer;
  const taken: string[] = [];

  beforeAll(async () => {
    const project = loadProjectOrThrow(writeProject(FILES), { env: {} });
    const deployed = await applyDeploy(project, ctx.engine);
    expect(deployed.ok, deployed.error).toBe(true);
    await ctx.engine.insert('events', [
      { id: 'a', kind: 'pay', amount: 10.5 },
      { id: 'b', kind: 'pay', amount: 99.99 },
      { id: 'c', kind: 'refund', amount: 5 },
    ]);
    await ctx.engine.insert('notes', [{ id: 'n1' }]);
    // `events` had its last batch 100 s ago: `stale` (max 30 s) refuses, the others say so.
    await ensureIngestTables(ctx.engine, project.datasources.get('events')!);
    await ctx.engine.insert(LOG_TABLE, [
      { time: Math.floor(Date.now() / 1000) - 100, datasource: 'events', source: 'http', rows: 1 },
    ]);
    holder = new StateHolder({ project, engine: ctx.engine, version: 'v1' });
    // One clock for both apps: the staleness each measures is then the same number.
    const now = Date.now();
    for (let i = 0; i < 2; i++) {
      const logs: Array<Record<string, unknown>> = [];
      const registry = new MetricsRegistry();
      const app = createApp({
        state: holder,
        tokens: project.config.tokens,
        log: (e) => logs.push(e),
        metrics: registry,
        freshness: new FreshnessTracker({ ttlMs: 60_000, now: () => now }),
      });
      instances.push({ app, logs, registry });
    }
    const served = instances[0]!.app;
    const direct = served.direct;
    server = await startServer(
      Object.assign(served, {
        direct: (req: Parameters<typeof direct>[0], res: Parameters<typeof direct>[1]) => {
          const took = direct(req, res);
          if (took) taken.push(req.url ?? '');
          return took;
        },
      }),
      '127.0.0.1',
      0,
    );
  });

  afterAll(async () => {
    await server?.close(1000);
  });

  it('answers every request as hono does: status, body and headers', async () => {
    for (const { path, headers } of REQUESTS) {
      const overSocket = await fetch(server.url + path, { headers: headers ?? {} });
      const inProcess = await instances[1]!.app.request(path, { headers: headers ?? {} });
      const what = `${path} ${JSON.stringify(headers ?? {})}`;
      expect(overSocket.status, what).toBe(inProcess.status);
      for (const h of COMPARED_HEADERS) {
        expect(overSocket.headers.get(h), `${what}: ${h}`).toBe(inProcess.headers.get(h));
      }
      expect(comparable(await overSocket.text()), what).toEqual(comparable(await inProcess.text()));
      const id = overSocket.headers.get('x-request-id');
      expect(id, what).toMatch(headers?.['x-request-id'] ? /^abc-123$/ : /^[0-9a-f-]{36}$/);
      if (headers?.['x-request-id']) expect(inProcess.headers.get('x-request-id'), what).toBe('abc-123');
    }
    // Every request the direct path should take, and only those, went through it.
    // (Those naming `<endpoint>.<format>`; an encoded name, a deeper path or no format are hono's.)
    const direct = (p: string) => /^\/v0\/pipes\/\w+\.\w+(\?|$)/.test(p);
    expect(taken).toEqual(REQUESTS.map((r) => r.path).filter(direct));
    expect(taken).toHaveLength(REQUESTS.length - 3);
  });

  it('counts and logs each request as hono does', async () => {
    const [direct, viaHono] = instances as [(typeof instances)[0], (typeof instances)[0]];
    const counters = (registry: MetricsRegistry) =>
      registry
        .render()
        .split('\n')
        .filter((l) =>
          /^tally_(http_requests_total|cache_requests_total|http_request_duration_seconds_count)/.test(l),
        );
    expect(counters(direct.registry).length).toBeGreaterThan(5);
    expect(counters(direct.registry)).toEqual(counters(viaHono.registry));

    const lines = (logs: Array<Record<string, unknown>>) =>
      logs
        .filter((e) => e.msg === 'request')
        .map(({ method, path, status, endpoint, cache, freshness_s, level }) => ({
          method,
          path,
          status,
          endpoint,
          cache,
          freshness_s,
          level,
        }));
    expect(lines(direct.logs)).toHaveLength(REQUESTS.length);
    expect(lines(direct.logs)).toEqual(lines(viaHono.logs));
    // Tokens given in the query string never reach a log line.
    expect(JSON.stringify(direct.logs)).not.toContain('secret-1');
  });

  it('leaves to hono what it would normalise or refuse: `..`, a backslash, a name with other characters', async () => {
    const before = taken.length;
    for (const raw of ['/v0/pipes/..', '/v0/pipes/a\\b.json', '/v0/pipes/by-kind.json', '/v0/pipes/.json']) {
      const status = await rawGet(server.url, raw);
      expect(status, raw).toBeGreaterThanOrEqual(400);
      expect(status, raw).toBeLessThan(500);
    }
    expect(taken.length).toBe(before);
  });

  it('leaves to hono a Host header it refuses (one a URL would rewrite), and takes a usual one', async () => {
    const path = '/v0/pipes/by_kind.json?kind=pay&token=reader-secret-1';
    const before = taken.length;
    for (const host of ['x/y', '127.1', 'a%41']) {
      expect(await rawGet(server.url, path, { host }), host).toBe(400);
    }
    expect(taken.length).toBe(before);
    for (const host of ['localhost:1234', 'my_host', '[::1]:80']) {
      expect(await rawGet(server.url, path, { host }), host).toBe(200);
    }
    expect(taken.length).toBe(before + 3);
  });
});

/** GET `path` exactly as given (fetch would normalise it): the status. */
function rawGet(base: string, path: string, headers: Record<string, string> = {}): Promise<number> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method: 'GET', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** An answer without what differs between two runs of one query (ClickHouse's timings). */
function comparable(text: string): unknown {
  try {
    const json = JSON.parse(text) as { statistics?: Record<string, unknown> };
    if (json.statistics) delete json.statistics.elapsed;
    return json;
  } catch {
    return text;
  }
}
