/**
 * Stopping while a reload rebuilds the ingestion (Ctrl-C just after saving a new Kafka data
 * source): the ingestion being built is stopped too, so no consumer of the new data source stays
 * in its group. The rebuild is held (through prepareTopics) so the stop lands inside it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import { consumerGroup } from '../../src/ingest/ingestion.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { Runtime } from '../../src/runtime/runtime.ts';
import { forEachBackend } from '../support/backends.ts';
import { deleteTopics, kafkaConfig, newClient, uniqueTopic } from '../support/ingest-kafka.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

afterAll(removeProjects);

const datasource = (topic: string) =>
  `source: { kafka: { topic: ${topic}, start: earliest } }\ncolumns:\n  - { name: id, type: String, json: $.id }\nengine: { sorting_key: [id] }\n`;

/** The members of a consumer group, as the broker has them. */
async function members(group: string): Promise<number> {
  const { Kafka, logLevel } = await import('kafkajs');
  const admin = new Kafka({ brokers: kafkaConfig().brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([group]);
    return groups[0]?.members.length ?? 0;
  } finally {
    await admin.disconnect();
  }
}

forEachBackend('stopping during a reload', (ctx) => {
  const first = uniqueTopic('stop_reload_a');
  const second = uniqueTopic('stop_reload_b');
  afterAll(() => deleteTopics(first, second));

  it('stops the ingestion the reload was building: no consumer of the new data source is left', async () => {
    const client = await newClient();
    await client.ensureTopic(first, 1);
    await client.ensureTopic(second, 1);
    await client.close();
    const dir = writeProject({
      'tally.yaml': 'name: stop-reload-test\n',
      'datasources/events.datasource.yaml': datasource(first),
    });
    const project = loadProjectOrThrow(dir, { env: {} });
    expect((await applyDeploy(project, ctx.engine)).ok).toBe(true);
    let gate: Promise<void> | undefined;
    const runtime = new Runtime({
      engine: ctx.engine,
      project,
      port: 0,
      host: '127.0.0.1',
      kafka: kafkaConfig(),
      prepareTopics: async () => {
        await gate;
      },
    });
    await runtime.start();
    writeFileSync(join(dir, 'datasources/more.datasource.yaml'), datasource(second));
    const group = consumerGroup(loadProjectOrThrow(dir, { env: {} }).datasources.get('more')!, ctx.engine);
    let release = () => {};
    gate = new Promise<void>((r) => {
      release = r;
    });
    const reloading = runtime.reload({});
    try {
      for (let i = 0; runtime.ingest !== undefined; i++) {
        if (i > 1000) throw new Error('the reload never reached the rebuild');
        await new Promise((r) => setTimeout(r, 10));
      }
      const stopping = runtime.stop();
      release();
      await Promise.all([reloading, stopping]);
      // A consumer left running would have joined by now (it joins in about a second here).
      await new Promise((r) => setTimeout(r, 4_000));
      expect(await members(group)).toBe(0);
    } finally {
      release();
      await runtime.ingest?.stop();
    }
  }, 60_000);
});
