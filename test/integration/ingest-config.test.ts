/**
 * tally.yaml's `ingest:` reaches the running ingestion: one fetch of 95 Kafka events is inserted
 * in parts of `flush_rows` (50 and 45: the ops log shows each insert; by default it is one), and
 * the events API answers 413 above `max_request_bytes` and stores a request under it.
 *
 * And a memory cap far smaller than a fetch (`buffer_bytes: 8KiB`, flushes of 20 rows) on a data
 * source recognized by its Kafka coordinates: the batch handler itself waits for room, so every
 * event is stored once and each partition's flushes come in offset order, gap-free. (When only
 * the rows waited, Kafka fetched on and a smaller later part could get in first; the `source`
 * mark then passed over the earlier rows, which were lost.)
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import type { KafkaClient } from '../../src/ingest/kafka-client.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { Runtime } from '../../src/runtime/runtime.ts';
import { type BackendContext, forEachBackend } from '../support/backends.ts';
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

const N = 95;

/** A project deployed, its topic filled with `events`, and Tally running it (Kafka included). */
function kafkaProject(
  ctx: BackendContext,
  files: (topic: string) => Record<string, string>,
  opts: { topicPrefix: string; partitions: number; events: Array<{ key?: string; value: string }> },
): () => Runtime {
  const topic = uniqueTopic(opts.topicPrefix);
  let client: KafkaClient | undefined;
  let runtime: Runtime | undefined;

  beforeAll(async () => {
    const project = loadProjectOrThrow(writeProject(files(topic)), { env: {} });
    const deployed = await applyDeploy(project, ctx.engine);
    expect(deployed.ok, deployed.error).toBe(true);
    client = await newClient();
    await client.ensureTopic(topic, opts.partitions);
    await produceAll(client, topic, opts.events);
    runtime = new Runtime({ engine: ctx.engine, project, kafka: kafkaConfig(), port: 0, host: '127.0.0.1' });
    await runtime.start();
  });

  afterAll(async () => {
    await runtime?.stop();
    await client?.close();
    await deleteTopics(topic);
  });

  return () => runtime!;
}

forEachBackend('ingest settings from tally.yaml', (ctx) => {
  const running = kafkaProject(
    ctx,
    (topic) => ({
      'tally.yaml': ['name: ingest-config', 'ingest:', '  flush_rows: 50', '  max_request_bytes: 1KiB'].join(
        '\n',
      ),
      'datasources/events.datasource.yaml': [
        `source: { kafka: { topic: ${topic}, start: earliest } }`,
        'columns:',
        '  - { name: id, type: String, json: $.id }',
        '  - { name: pad, type: String, json: $.pad, default: "" }',
        'engine: { sorting_key: [id] }',
      ].join('\n'),
    }),
    {
      topicPrefix: 'ingest_cfg',
      partitions: 1,
      events: Array.from({ length: N }, (_, i) => ({ value: JSON.stringify({ id: `e${i}` }) })),
    },
  );

  it('answers 413 above max_request_bytes and stores a request under it', async () => {
    const post = (body: string) =>
      fetch(`${running().url}/v0/events?name=events&wait=true`, { method: 'POST', body });
    const big = await post(`${JSON.stringify({ id: 'big', pad: 'x'.repeat(1100) })}\n`);
    expect(big.status).toBe(413);
    expect(JSON.stringify(await big.json())).toMatch(/1024/);
    const small = await post(`${JSON.stringify({ id: 'small', pad: 'x'.repeat(900) })}\n`);
    expect(small.status).toBe(200);
    expect(await small.json()).toMatchObject({ successful_rows: 1 });
  });

  it('inserts a fetch in parts of flush_rows', async () => {
    const stored = async () =>
      Number(
        (
          await ctx.engine.rows<{ n: string }>(
            "SELECT toString(count()) AS n FROM events WHERE startsWith(id, 'e')",
          )
        )[0]!.n,
      );
    await waitFor(async () => (await stored()) === N, 30_000, `${N} events stored`);
    // The ops log row of a flush is written just after its insert.
    const sizes = async () =>
      (
        await ctx.engine.rows<{ rows: string | number }>(
          "SELECT rows FROM tally_ingest_log WHERE datasource = 'events' AND source = 'kafka' ORDER BY first_offset",
        )
      ).map((b) => Number(b.rows));
    await waitFor(async () => (await sizes()).reduce((a, b) => a + b, 0) === N, 10_000, 'every flush logged');
    expect(await sizes()).toEqual([50, 45]);
  });
});

const CAP_EVENTS = 3000;
const CAP_PARTITIONS = 2;

forEachBackend('ingest under a memory cap smaller than a fetch', (ctx) => {
  kafkaProject(
    ctx,
    (topic) => ({
      'tally.yaml': [
        'name: ingest-cap',
        'ingest:',
        '  flush_rows: 20',
        '  flush_bytes: 4KiB',
        '  buffer_bytes: 8KiB',
      ].join('\n'),
      'datasources/events.datasource.yaml': [
        `source: { kafka: { topic: ${topic}, start: earliest } }`,
        'columns:',
        '  - { name: id, type: String, json: $.id }',
        '  - { name: pad, type: String, json: $.pad }',
        'engine: { sorting_key: [id] }',
      ].join('\n'),
    }),
    {
      topicPrefix: 'ingest_cap',
      partitions: CAP_PARTITIONS,
      // Sizes vary (40 - 240 bytes), so a later part of a fetch can be smaller than an earlier one.
      events: Array.from({ length: CAP_EVENTS }, (_, i) => ({
        key: `k${i % 7}`,
        value: JSON.stringify({ id: `e${i}`, pad: 'x'.repeat((i * 37) % 200) }),
      })),
    },
  );

  it('stores every event once, each partition in offset order without gaps', async () => {
    const count = async () =>
      (
        await ctx.engine.rows<{ n: string; u: string; c: string }>(
          'SELECT toString(count()) AS n, toString(uniqExact(id)) AS u, toString(uniqExact(__partition, __offset)) AS c FROM events',
        )
      )[0]!;
    await waitFor(async () => Number((await count()).n) >= CAP_EVENTS, 60_000, `${CAP_EVENTS} events stored`);
    expect(await count()).toEqual({ n: String(CAP_EVENTS), u: String(CAP_EVENTS), c: String(CAP_EVENTS) });
    const flushes = async () =>
      ctx.engine.rows<{ p: number; first: number; last: number; rows: number }>(
        "SELECT toInt32(`partition`) AS p, toInt64(first_offset) AS first, toInt64(last_offset) AS last, toUInt64(rows) AS rows FROM tally_ingest_log WHERE datasource = 'events' AND source = 'kafka' ORDER BY p, first",
      );
    await waitFor(
      async () => (await flushes()).reduce((a, f) => a + Number(f.rows), 0) === CAP_EVENTS,
      10_000,
      'every flush logged',
    );
    const log = await flushes();
    expect(log.length).toBeGreaterThan(CAP_EVENTS / 40); // many small flushes (one fetch would be one)
    for (let p = 0; p < CAP_PARTITIONS; p++) {
      const mine = log.filter((f) => Number(f.p) === p);
      expect(Number(mine[0]!.first)).toBe(0);
      for (let i = 1; i < mine.length; i++)
        expect(Number(mine[i]!.first)).toBe(Number(mine[i - 1]!.last) + 1);
    }
  });
});
