/**
 * A memory cap far smaller than a fetch (`buffer_bytes: 8KiB`, flushes of 20 rows) on a data
 * source recognized by its Kafka coordinates: the batch handler itself waits for room, so every
 * event is stored once and each partition's flushes come in offset order, gap-free. (When only
 * the rows waited, Kafka fetched on and a smaller later part could get in first; the `source`
 * mark then passed over the earlier rows, which were lost.)
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import type { KafkaClient } from '../../src/ingest/kafka-client.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import type { Project } from '../../src/project/model.ts';
import { Runtime } from '../../src/runtime/runtime.ts';
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

const N = 3000;
const PARTITIONS = 2;

forEachBackend('ingest under a memory cap smaller than a fetch', (ctx) => {
  const topic = uniqueTopic('ingest_cap');
  let project: Project;
  let client: KafkaClient;
  let runtime: Runtime | undefined;

  beforeAll(async () => {
    project = loadProjectOrThrow(
      writeProject({
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
      { env: {} },
    );
    const deployed = await applyDeploy(project, ctx.engine);
    expect(deployed.ok, deployed.error).toBe(true);
    client = await newClient();
    await client.ensureTopic(topic, PARTITIONS);
    // Sizes vary (40 - 240 bytes), so a later part of a fetch can be smaller than an earlier one.
    await produceAll(
      client,
      topic,
      Array.from({ length: N }, (_, i) => ({
        key: `k${i % 7}`,
        value: JSON.stringify({ id: `e${i}`, pad: 'x'.repeat((i * 37) % 200) }),
      })),
    );
    runtime = new Runtime({ engine: ctx.engine, project, kafka: kafkaConfig(), port: 0, host: '127.0.0.1' });
    await runtime.start();
  });

  afterAll(async () => {
    await runtime?.stop();
    await client?.close();
    await deleteTopics(topic);
  });

  it('stores every event once, each partition in offset order without gaps', async () => {
    const count = async () =>
      (
        await ctx.engine.rows<{ n: string; u: string; c: string }>(
          'SELECT toString(count()) AS n, toString(uniqExact(id)) AS u, toString(uniqExact(__partition, __offset)) AS c FROM events',
        )
      )[0]!;
    await waitFor(async () => Number((await count()).n) >= N, 60_000, `${N} events stored`);
    expect(await count()).toEqual({ n: String(N), u: String(N), c: String(N) });
    const flushes = async () =>
      ctx.engine.rows<{ p: number; first: number; last: number; rows: number }>(
        "SELECT toInt32(`partition`) AS p, toInt64(first_offset) AS first, toInt64(last_offset) AS last, toUInt64(rows) AS rows FROM tally_ingest_log WHERE datasource = 'events' AND source = 'kafka' ORDER BY p, first",
      );
    await waitFor(
      async () => (await flushes()).reduce((a, f) => a + Number(f.rows), 0) === N,
      10_000,
      'every flush logged',
    );
    const log = await flushes();
    expect(log.length).toBeGreaterThan(N / 40); // many small flushes (one fetch would be one)
    for (let p = 0; p < PARTITIONS; p++) {
      const mine = log.filter((f) => Number(f.p) === p);
      expect(Number(mine[0]!.first)).toBe(0);
      for (let i = 1; i < mine.length; i++)
        expect(Number(mine[i]!.first)).toBe(Number(mine[i - 1]!.last) + 1);
    }
  });
});
