import { gzipSync } from 'node:zlib';
import { Hono } from 'hono';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Ingestion, startIngestion } from '../../src/ingest/ingestion.ts';
import type { KafkaClient } from '../../src/ingest/kafka-client.ts';
import { TokenAuth } from '../../src/server/auth.ts';
import { registerEventsRoute } from '../../src/server/events-route.ts';
import { HttpError } from '../../src/server/http-error.ts';
import { forEachBackend } from '../support/backends.ts';
import { createDatasourceTables } from '../support/ingest-fixtures.ts';
import {
  deleteTopics,
  kafkaConfig,
  newClient,
  projectOf,
  uniqueTopic,
  waitFor,
} from '../support/ingest-kafka.ts';
import { dataSource } from '../unit/ingest/type-node.ts';

forEachBackend('HTTP events API', (ctx) => {
  const topic = uniqueTopic('ingest_http');
  const clicks = dataSource(
    'clicks',
    [
      { name: 'id', type: 'String' },
      { name: 'ts', type: 'DateTime' },
      { name: 'url', type: 'Nullable(String)' },
    ],
    { dedupKey: ['id'] },
  );
  const orders = dataSource(
    'orders',
    [
      { name: 'id', type: 'String' },
      { name: 'total', type: 'Decimal(18, 2)' },
    ],
    {
      dedupKey: ['id'],
      kafka: { topic, start: 'earliest', metadata: [], loc: { file: 'f', line: 1, col: 1 } },
    },
  );
  // Filled by a materialized pipe: never takes events. And one whose table is not deployed yet.
  const totals = dataSource('totals', [
    { name: 'id', type: 'String' },
    { name: 'n', type: 'AggregateFunction(count)', json: null },
  ]);
  const pending = dataSource('pending', [{ name: 'id', type: 'String' }]);
  // Its topic is never created.
  const ghosts = dataSource('ghosts', [{ name: 'id', type: 'String' }], {
    kafka: {
      topic: uniqueTopic('ghost'),
      start: 'earliest',
      metadata: [],
      loc: { file: 'f', line: 1, col: 1 },
    },
  });
  // Deduplicated by Kafka coordinates, which events not read from Kafka lack (topic never created).
  const coords = dataSource(
    'coords',
    [
      { name: 'id', type: 'String' },
      // As the loader adds the metadata columns a data source lists.
      { name: '__partition', type: 'Int32', json: null },
      { name: '__offset', type: 'Int64', json: null },
    ],
    {
      dedupKey: ['__partition', '__offset'],
      kafka: {
        topic: uniqueTopic('coords'),
        start: 'earliest',
        metadata: ['__partition', '__offset'],
        loc: { file: 'f', line: 1, col: 1 },
      },
    },
  );
  let client: KafkaClient;
  let ingestion: Ingestion;
  let app: Hono;

  beforeAll(async () => {
    client = await newClient();
    await client.ensureTopic(topic, 2);
    await createDatasourceTables(ctx.engine, clicks);
    await createDatasourceTables(ctx.engine, orders);
    await createDatasourceTables(ctx.engine, ghosts);
    await createDatasourceTables(ctx.engine, coords);
    ingestion = await startIngestion(
      projectOf([clicks, orders, totals, pending, ghosts, coords]),
      ctx.engine,
      kafkaConfig(),
      {
        kafkaClient: client,
        consumer: { sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1000, maxWaitMs: 100 },
        batch: { maxWaitMs: 100 },
      },
    );
    const auth = new TokenAuth([
      { name: 'writer', value: 'w-secret', scope: 'append' },
      { name: 'clicks-only', value: 'c-secret', scope: 'append', datasources: ['clicks'] },
      { name: 'reader', value: 'r-secret', scope: 'read' },
    ]);
    app = new Hono();
    app.onError((err, c) =>
      err instanceof HttpError ? c.json(err.body(), err.status) : c.json({ error: String(err) }, 500),
    );
    registerEventsRoute(app, {
      ingestion: () => ingestion,
      check: (t, a) => auth.check(t, a),
      maxBodyBytes: 64 * 1024,
    });
  });

  afterAll(async () => {
    await ingestion?.stop();
    await client?.close();
    await deleteTopics(topic);
  });

  const post = (path: string, body: string | Uint8Array, headers: Record<string, string> = {}) =>
    app.request(path, { method: 'POST', body, headers: { authorization: 'Bearer w-secret', ...headers } });

  it('wait=true: 200 once stored, with counts; bad lines quarantined with the request id', async () => {
    const body = [
      '{"id":"c1","ts":"2024-01-01T00:00:00Z","url":"/a"}',
      '',
      '{"id":"c2","ts":1704067201}',
      '{"id":"c3","ts":"never"}',
      'not json',
    ].join('\n');
    const res = await post('/v0/events?name=clicks&wait=true', body, { 'x-request-id': 'req-42' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ successful_rows: 2, quarantined_rows: 2, duplicate_rows: 0 });
    expect(await ctx.engine.rows('SELECT id, url FROM clicks ORDER BY id')).toEqual([
      { id: 'c1', url: '/a' },
      { id: 'c2', url: null },
    ]);
    const q = await ctx.engine.rows<{ raw: string; source: string; request_id: string; p: number }>(
      'SELECT raw, source, request_id, `partition` AS p FROM clicks_quarantine ORDER BY raw',
    );
    expect(q).toEqual([
      { raw: 'not json', source: 'http', request_id: 'req-42', p: -1 },
      { raw: '{"id":"c3","ts":"never"}', source: 'http', request_id: 'req-42', p: -1 },
    ]);
  });

  it('a data source without a Kafka topic is written before the answer, also without wait; retries are harmless', async () => {
    const res = await post('/v0/events?name=clicks', '{"id":"c4","ts":1}\n{"id":"c1","ts":1}\n');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ successful_rows: 1, quarantined_rows: 0, duplicate_rows: 1 });
  });

  it('refuses (422) events that would all share one key: a dedup_key of Kafka coordinates, wait=true', async () => {
    const res = await post('/v0/events?name=coords&wait=true', '{"id":"a"}\n{"id":"b"}\n');
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: string }).error).toMatch(
      /^data source `coords` deduplicates by Kafka metadata \(__partition, __offset\), which events that do not come through Kafka lack; send them to its topic `coords/,
    );
    // Neither event was stored (and none dropped as a "duplicate" of the other).
    expect(await ctx.engine.rows('SELECT id FROM coords')).toEqual([]);
  });

  it('takes gzip bodies', async () => {
    const res = await post(
      '/v0/events?name=clicks&wait=true',
      gzipSync('{"id":"g1","ts":5}\n{"id":"g2","ts":6}'),
      { 'content-encoding': 'gzip' },
    );
    expect(await res.json()).toEqual({ successful_rows: 2, quarantined_rows: 0, duplicate_rows: 0 });
    const bad = await post('/v0/events?name=clicks', 'not gzip', { 'content-encoding': 'gzip' });
    expect(bad.status).toBe(400);
    const br = await post('/v0/events?name=clicks', 'x', { 'content-encoding': 'br' });
    expect(br.status).toBe(400);
  });

  it('refuses bodies over the limit with 413, compressed or not', async () => {
    const big = `${'{"id":"x","ts":1}\n'.repeat(5000)}`;
    expect((await post('/v0/events?name=clicks', big)).status).toBe(413);
    const bomb = gzipSync(Buffer.alloc(1024 * 1024, 32));
    expect(bomb.length).toBeLessThan(64 * 1024);
    const res = await post('/v0/events?name=clicks', bomb, { 'content-encoding': 'gzip' });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toMatch(/larger than 65536 bytes/);
  });

  it('checks append tokens', async () => {
    const none = await app.request('/v0/events?name=clicks', { method: 'POST', body: '{"id":"t","ts":1}' });
    expect(none.status).toBe(401);
    const reader = await post('/v0/events?name=clicks', '{"id":"t","ts":1}', {
      authorization: 'Bearer r-secret',
    });
    expect(reader.status).toBe(403);
    const narrow = await post('/v0/events?name=orders', '{"id":"t","total":1}', {
      authorization: 'Bearer c-secret',
    });
    expect(narrow.status).toBe(403);
    const query = await app.request('/v0/events?name=clicks&token=c-secret&wait=true', {
      method: 'POST',
      body: '{"id":"t1","ts":1}',
    });
    expect(query.status).toBe(200);
  });

  it('names what is wrong with the request', async () => {
    const unknown = await post('/v0/events?name=click', '{}');
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toMatch(
      /no data source named `click`.*clicks/,
    );
    expect((await post('/v0/events', '{}')).status).toBe(400);
    expect((await app.request('/v0/events?name=clicks')).status).toBe(405);
    // A data source that can never take events: 422 (retrying would not help), with the reason.
    const aggregate = await post('/v0/events?name=totals', '{"id":"a"}');
    expect(aggregate.status).toBe(422);
    expect(((await aggregate.json()) as { error: string }).error).toMatch(
      /`totals` takes no events: `totals` holds aggregate states; a materialized pipe fills it/,
    );
    // One that is not deployed yet may take them after a deploy: 503, retry later.
    const notDeployed = await post('/v0/events?name=pending', '{"id":"a"}');
    expect(notDeployed.status).toBe(503);
    expect(((await notDeployed.json()) as { error: string }).error).toMatch(/run `tally deploy`/);
    // Its Kafka topic does not exist: said at once, with what to do.
    const t0 = performance.now();
    const noTopic = await post('/v0/events?name=ghosts', '{"id":"a"}');
    expect(noTopic.status).toBe(503);
    expect(((await noTopic.json()) as { error: string }).error).toMatch(
      /Kafka topic `ghost_\w+` does not exist on .*; create the topic, or send with wait=true/,
    );
    expect(performance.now() - t0).toBeLessThan(3000);
  });

  it('without wait, a Kafka data source answers 202 once Kafka has the events; the ingester stores them once', async () => {
    const body =
      '{"id":"o1","total":10.5}\n{"id":"o2","total":"0.01"}\n{"id":"o1","total":10.5}\n{"id":"o3","total":1.001}';
    const res = await post('/v0/events?name=orders', body);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted_rows: 4 });
    await waitFor(
      async () => {
        const s = ingestion.stats().datasources.find((d) => d.name === 'orders')!.totals;
        return s.stored + s.duplicates + s.quarantined >= 4 || s;
      },
      30_000,
      'orders ingested from Kafka',
    );
    expect(await ctx.engine.rows('SELECT id, toString(total) AS t FROM orders ORDER BY id')).toEqual([
      { id: 'o1', t: expect.stringMatching(/^10\.50?$/) },
      { id: 'o2', t: '0.01' },
    ]);
    const q = await ctx.engine.rows<{ source: string; topic: string }>(
      'SELECT source, topic FROM orders_quarantine',
    );
    expect(q).toEqual([{ source: 'kafka', topic }]);
    const waited = await post('/v0/events?name=orders&wait=true', '{"id":"o4","total":4}');
    expect(await waited.json()).toEqual({ successful_rows: 1, quarantined_rows: 0, duplicate_rows: 0 });
  });

  it('sends a large body to Kafka in slices the broker takes; refuses a single event over its limit with 413', async () => {
    const big = new Hono();
    big.onError((err, c) =>
      err instanceof HttpError ? c.json(err.body(), err.status) : c.json({ error: String(err) }, 500),
    );
    registerEventsRoute(big, {
      ingestion: () => ingestion,
      check: () => undefined,
      maxBodyBytes: 16 * 1024 * 1024,
    });
    const pad = 'x'.repeat(1000);
    const lines = Array.from({ length: 4000 }, (_, i) =>
      JSON.stringify({ id: `big${i}`, total: 1, note: pad }),
    );
    const res = await big.request('/v0/events?name=orders', { method: 'POST', body: lines.join('\n') });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted_rows: 4000 });
    await waitFor(
      async () => {
        const [r] = await ctx.engine.rows<{ n: string }>(
          "SELECT toString(count()) AS n FROM orders WHERE id LIKE 'big%'",
        );
        return r?.n === '4000' || r;
      },
      30_000,
      'the large body stored',
    );
    // The event too large comes after 2 MB of good ones: refused before any of them is sent, so
    // a 413 means nothing of the request is in the topic.
    const ends = async () =>
      (await client.groupLag('ingest-http-ends', topic)).reduce((n, p) => n + p.end, 0);
    const before = await ends();
    const huge = JSON.stringify({ id: 'huge', total: 1, note: 'y'.repeat(1_500_000) });
    const refused = await big.request('/v0/events?name=orders', {
      method: 'POST',
      body: [...lines.slice(0, 2000).map((l) => l.replace('"big', '"early')), huge].join('\n'),
    });
    expect(refused.status).toBe(413);
    expect(((await refused.json()) as { error: string }).error).toMatch(/larger than a Kafka message may be/);
    expect(await ends()).toBe(before);
  });

  it('the quarantine rows carry the request id the answer names, also one made for the request', async () => {
    for (const given of [undefined, 'not a valid id']) {
      const res = await post('/v0/events?name=clicks&wait=true', `{"id":"rid","ts":"never ${given}"}`, {
        ...(given ? { 'x-request-id': given } : {}),
      });
      expect(await res.json()).toEqual({ successful_rows: 0, quarantined_rows: 1, duplicate_rows: 0 });
      const id = res.headers.get('x-request-id');
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      const q = await ctx.engine.rows<{ request_id: string }>(
        `SELECT request_id FROM clicks_quarantine WHERE raw LIKE '%never ${given}%'`,
      );
      expect(q).toEqual([{ request_id: id }]);
    }
  });
});
