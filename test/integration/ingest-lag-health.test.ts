/**
 * Consumer-group lag from the broker, on `/health` and in freshness: an idle topic that is fully
 * stored stays fresh however old its last batch, and Kafka trouble shows as `degraded`.
 */
import { type AddressInfo, createServer } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import { consumerGroup, type Ingestion, startIngestion } from '../../src/ingest/ingestion.ts';
import type { KafkaClient } from '../../src/ingest/kafka-client.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import type { Project } from '../../src/project/model.ts';
import { Runtime } from '../../src/runtime/runtime.ts';
import { createApp } from '../../src/server/create-app.ts';
import { FreshnessTracker } from '../../src/server/freshness.ts';
import { StateHolder } from '../../src/server/serving-state.ts';
import { forEachBackend } from '../support/backends.ts';
import {
  deleteTopics,
  kafkaConfig,
  newClient,
  produceAll,
  uniqueTopic,
  waitFor,
} from '../support/ingest-kafka.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

afterAll(removeProjects);

const event = (i: number) => ({ value: JSON.stringify({ id: `e${i}`, n: i }) });

forEachBackend('consumer-group lag, /health and idle freshness', (ctx) => {
  const topic = uniqueTopic('lag_health');
  let project: Project;
  let client: KafkaClient;
  let ingestion: Ingestion | undefined;
  let group: string;

  beforeAll(async () => {
    project = loadProjectOrThrow(
      writeProject({
        'tally.yaml': 'name: lag-test\n',
        'datasources/events.datasource.yaml': [
          `source: { kafka: { topic: ${topic}, start: earliest } }`,
          'columns:',
          '  - { name: id, type: String, json: $.id }',
          '  - { name: n, type: UInt32, json: $.n }',
          'engine: { sorting_key: [id] }',
          'dedup_key: id',
        ].join('\n'),
        'pipes/count.pipe.yaml': 'nodes:\n  - name: c\n    sql: SELECT count() AS n FROM events\n',
        'endpoints/count.endpoint.yaml': 'pipe: count\nmax_staleness: 2s\n',
      }),
      { env: {} },
    );
    const deployed = await applyDeploy(project, ctx.engine);
    expect(deployed.ok, deployed.error).toBe(true);
    client = await newClient();
    await client.ensureTopic(topic, 2);
    group = consumerGroup(project.datasources.get('events')!, ctx.engine);
  });

  afterAll(async () => {
    await ingestion?.stop();
    await client?.close();
    await deleteTopics(topic);
  });

  it('asks the broker: a group that never committed is behind by the whole topic, or by nothing from latest', async () => {
    await produceAll(
      client,
      topic,
      Array.from({ length: 300 }, (_, i) => event(i)),
    );
    const fromStart = await client.groupLag(group, topic, { fromBeginning: true });
    expect(fromStart.map((p) => p.partition)).toEqual([0, 1]);
    expect(fromStart.reduce((n, p) => n + p.lag, 0)).toBe(300);
    const fromEnd = await client.groupLag(group, topic, { fromBeginning: false });
    expect(fromEnd.reduce((n, p) => n + p.lag, 0)).toBe(0);
  });

  it('reports lag 0 once every event is stored; /health says ok with the lag', async () => {
    ingestion = await startIngestion(project, ctx.engine, kafkaConfig(), { lagIntervalMs: 200 });
    await waitFor(
      async () => {
        const [row] = await ctx.engine.rows<{ n: string }>('SELECT count() AS n FROM events');
        return Number(row!.n) === 300 && ingestion!.lag('events')?.lag === 0;
      },
      60_000,
      '300 rows stored and lag 0',
    );
    const lag = ingestion.lag('events')!;
    expect(lag.group).toBe(group);
    expect(lag.caughtUpAt).toBeGreaterThan(Date.now() - 5_000);

    const app = createApp({
      state: new StateHolder({ project, engine: ctx.engine, version: 'v1' }),
      tokens: [],
      ingestion: () => ingestion,
    });
    const res = await app.request('/health');
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      status: string;
      kafka: { ok: boolean; datasources: Record<string, { lag: number; group: string; state: string }> };
    };
    expect(body.status).toBe('ok');
    expect(body.kafka.ok).toBe(true);
    expect(body.kafka.datasources.events).toMatchObject({ lag: 0, group, state: 'running' });
  });

  it('an idle, fully stored topic stays fresh past max_staleness; without the lag it would be stale', async () => {
    const state = new StateHolder({ project, engine: ctx.engine, version: 'v1' });
    const withLag = createApp({
      state,
      tokens: [],
      freshness: new FreshnessTracker({ ttlMs: 0, caughtUp: (ds) => ingestion?.lag(ds)?.caughtUpAt }),
    });
    const batchesOnly = createApp({ state, tokens: [], freshness: new FreshnessTracker({ ttlMs: 0 }) });
    // The last batch was written at least a second ago; wait until it is older than 2 s + 1 s.
    await new Promise((r) => setTimeout(r, 3_500));
    const stale = await batchesOnly.request('/v0/pipes/count.json');
    expect(stale.status).toBe(503);
    const fresh = await withLag.request('/v0/pipes/count.json');
    expect(fresh.status, await fresh.clone().text()).toBe(200);
    expect(Number(((await fresh.json()) as { data: Array<{ n: string | number }> }).data[0]!.n)).toBe(300);
  });

  it('a server restarted on an idle, fully stored topic answers fresh from its first request', async () => {
    await ingestion!.stop();
    ingestion = undefined;
    // Older than max_staleness (2 s) by the last batch alone; only the lag says it is current.
    await new Promise((r) => setTimeout(r, 3_000));
    const runtime = new Runtime({ engine: ctx.engine, project, port: 0, kafka: kafkaConfig() });
    // The server listens before its ingesters start: ask as soon as it does.
    const starting = runtime.start();
    try {
      while (runtime.url === undefined) await new Promise((r) => setTimeout(r, 1));
      const res = await fetch(`${runtime.url}/v0/pipes/count.json`);
      expect(res.status, await res.clone().text()).toBe(200);
      expect(Number(((await res.json()) as { data: Array<{ n: string | number }> }).data[0]!.n)).toBe(300);
    } finally {
      await starting;
      await runtime.stop();
    }
  });

  it('events the group has not stored show as lag, from any client', async () => {
    await produceAll(
      client,
      topic,
      Array.from({ length: 40 }, (_, i) => event(1000 + i)),
    );
    const other = await newClient();
    try {
      const parts = await other.groupLag(group, topic);
      expect(parts.reduce((n, p) => n + p.lag, 0)).toBe(40);
    } finally {
      await other.close();
    }
  });

  it('with Kafka out of reach, /health is degraded (200: reads still work) and names the error', async () => {
    const unreachable = await startIngestion(
      project,
      ctx.engine,
      { brokers: ['127.0.0.1:1'], clientId: 'tally-test', ssl: false },
      { lagIntervalMs: 200 },
    );
    try {
      const app = createApp({
        state: new StateHolder({ project, engine: ctx.engine, version: 'v1' }),
        tokens: [],
        ingestion: () => unreachable,
      });
      await waitFor(
        async () => unreachable.lag('events')?.error !== undefined,
        30_000,
        'the lag question to fail',
      );
      const res = await app.request('/health');
      expect(res.status).toBe(200);
      const body = (await res.json()) as {
        status: string;
        kafka: { ok: boolean; datasources: Record<string, { error?: string; lag: number | null }> };
      };
      expect(body.status).toBe('degraded');
      expect(body.kafka.ok).toBe(false);
      expect(body.kafka.datasources.events!.error).toBeTruthy();
      expect(body.kafka.datasources.events!.lag).toBeNull();
    } finally {
      await unreachable.stop({ graceMs: 1000 });
    }
  });

  it('a broker that accepts and never answers: the first request waits for the lag at most 5 s, then judges by the last batch', async () => {
    // Accepts every connection and never writes a byte: kafkajs neither fails nor gets an answer.
    const silent = createServer(() => {});
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
    const port = (silent.address() as AddressInfo).port;
    const runtime = new Runtime({
      engine: ctx.engine,
      project,
      port: 0,
      kafka: { brokers: [`127.0.0.1:${port}`], clientId: 'tally-test', ssl: false },
    });
    const starting = runtime.start();
    try {
      while (runtime.url === undefined) await new Promise((r) => setTimeout(r, 1));
      const t0 = performance.now();
      const res = await fetch(`${runtime.url}/v0/pipes/count.json`);
      const waited = performance.now() - t0;
      // The last batch is older than max_staleness (2 s) and no lag ever came: a 503 that says so.
      expect(res.status, await res.clone().text()).toBe(503);
      expect(((await res.json()) as { staleness_s: number }).staleness_s).toBeGreaterThan(2);
      expect(waited).toBeGreaterThan(3_000);
      expect(waited).toBeLessThan(8_000);
    } finally {
      // Its ingesters never finish starting against this broker: stop does not wait for them.
      await Promise.race([starting.catch(() => {}), new Promise((r) => setTimeout(r, 500))]);
      await runtime.stop();
      silent.close();
    }
  });
});
