/**
 * tally.yaml's `ingest:` reaches the running ingestion: one fetch of 95 Kafka events is inserted
 * in parts of `flush_rows` (50 and 45: the ops log shows each insert; by default it is one), and
 * the events API answers 413 above `max_request_bytes` and stores a request under it.
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

const N = 95;

forEachBackend('ingest settings from tally.yaml', (ctx) => {
  const topic = uniqueTopic('ingest_cfg');
  let project: Project;
  let client: KafkaClient;
  let runtime: Runtime | undefined;

  beforeAll(async () => {
    project = loadProjectOrThrow(
      writeProject({
        'tally.yaml': [
          'name: ingest-config',
          'ingest:',
          '  flush_rows: 50',
          '  max_request_bytes: 1KiB',
        ].join('\n'),
        'datasources/events.datasource.yaml': [
          `source: { kafka: { topic: ${topic}, start: earliest } }`,
          'columns:',
          '  - { name: id, type: String, json: $.id }',
          '  - { name: pad, type: String, json: $.pad, default: "" }',
          'engine: { sorting_key: [id] }',
        ].join('\n'),
      }),
      { env: {} },
    );
    const deployed = await applyDeploy(project, ctx.engine);
    expect(deployed.ok, deployed.error).toBe(true);
    client = await newClient();
    await client.ensureTopic(topic, 1);
    await produceAll(
      client,
      topic,
      Array.from({ length: N }, (_, i) => ({ value: JSON.stringify({ id: `e${i}` }) })),
    );
    runtime = new Runtime({ engine: ctx.engine, project, kafka: kafkaConfig(), port: 0, host: '127.0.0.1' });
    await runtime.start();
  });

  afterAll(async () => {
    await runtime?.stop();
    await client?.close();
    await deleteTopics(topic);
  });

  it('answers 413 above max_request_bytes and stores a request under it', async () => {
    const post = (body: string) =>
      fetch(`${runtime!.url}/v0/events?name=events&wait=true`, { method: 'POST', body });
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
