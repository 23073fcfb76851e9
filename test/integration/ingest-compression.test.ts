// Topics whose batches are compressed: the broker recompresses every batch of a topic with
// `compression.type` set (with Kafka's own Java codecs, as Java producers write them: snappy in
// xerial framing, LZ4 frames, zstd frames), and Tally's ingester reads each, every event exactly
// once. kafkajs alone reads gzip only; the others stopped the consumer before
// src/ingest/kafka-codecs.ts. The fetch sizes shrink by the compression seen (fetch-budget.ts).
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Ingestion, startIngestion } from '../../src/ingest/ingestion.ts';
import type { KafkaClient } from '../../src/ingest/kafka-client.ts';
import { createTopicsReady } from '../../src/ingest/kafka-client.ts';
import { forEachBackend } from '../support/backends.ts';
import { createDatasourceTables } from '../support/ingest-fixtures.ts';
import {
  deleteTopics,
  kafkaConfig,
  newClient,
  produceAll,
  projectOf,
  uniqueTopic,
  waitFor,
} from '../support/ingest-kafka.ts';
import { dataSource } from '../unit/ingest/type-node.ts';

const CODECS = ['snappy', 'lz4', 'zstd', 'gzip'] as const;
/**
 * Enough bytes per partition that each codec cuts several blocks (xerial 32 KiB, LZ4 64 KiB), and
 * for several fetches of FETCH_PARTITION compressed bytes each (fetch-budget.ts), from record
 * batches of PER_SEND / 2 events, small beside a fetch.
 */
const N = 40_000;
const FETCH_PARTITION = 128 * 1024;
const PER_SEND = 100;

/** Events with repeating and varied text (compressible, but not trivially). */
function event(codec: string, i: number): string {
  return JSON.stringify({
    id: `${codec}-${i}`,
    n: i,
    note: `${'abcdefghij'.repeat(i % 13)}-${(i * 7919) % 10007}`,
  });
}

forEachBackend('kafka topics with compressed batches', (ctx) => {
  const topics = new Map(CODECS.map((c) => [c, uniqueTopic(`comp_${c}`)]));
  let client: KafkaClient;
  let ingestion: Ingestion | undefined;
  const datasources = CODECS.map((codec) =>
    dataSource(
      `events_${codec}`,
      [
        { name: 'id', type: 'String' },
        { name: 'n', type: 'UInt32' },
        { name: 'note', type: 'String' },
      ],
      {
        dedupKey: ['id'],
        kafka: {
          topic: topics.get(codec)!,
          start: 'earliest',
          metadata: [],
          loc: { file: 'f', line: 1, col: 1 },
        },
        engine: { type: 'MergeTree', sortingKey: ['id'], settings: {} },
      },
    ),
  );

  beforeAll(async () => {
    const admin = new Kafka({
      brokers: kafkaConfig().brokers,
      clientId: 'test',
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    try {
      await createTopicsReady(
        admin,
        CODECS.map((codec) => ({
          topic: topics.get(codec)!,
          numPartitions: 2,
          configEntries: [{ name: 'compression.type', value: codec }],
        })),
      );
    } finally {
      await admin.disconnect();
    }
    client = await newClient();
    for (const ds of datasources) await createDatasourceTables(ctx.engine, ds);
  });

  afterAll(async () => {
    await ingestion?.stop();
    await client?.close();
    await deleteTopics(...topics.values());
  });

  it(`reads ${CODECS.join(', ')} batches written by the broker: every event once`, async () => {
    for (const codec of CODECS) {
      await produceAll(
        client,
        topics.get(codec)!,
        Array.from({ length: N }, (_, i) => ({ value: event(codec, i), partition: i % 2 })),
        PER_SEND,
      );
    }
    ingestion = await startIngestion(projectOf(datasources), ctx.engine, kafkaConfig(), {
      kafkaClient: client,
      consumer: {
        sessionTimeoutMs: 10_000,
        heartbeatIntervalMs: 1000,
        maxBytes: 2 * FETCH_PARTITION,
        maxBytesPerPartition: FETCH_PARTITION,
      },
    });
    await waitFor(
      async () => {
        const all = ingestion!.stats().datasources;
        return (
          all.every((d) => d.totals.stored >= N) || all.map((d) => [d.name, d.totals.stored, d.kafka?.error])
        );
      },
      90_000,
      'every codec ingested',
    );
    const expectedSum = (N * (N - 1)) / 2;
    for (const codec of CODECS) {
      const [c] = await ctx.engine.rows<{ rows: string; ids: string; total: string; notes: string }>(
        `SELECT toString(count()) AS rows, toString(uniqExact(id)) AS ids, toString(sum(n)) AS total, toString(sum(length(note))) AS notes FROM events_${codec}`,
      );
      const noteBytes = Array.from({ length: N }, (_, i) => JSON.parse(event(codec, i)).note.length).reduce(
        (a, b) => a + b,
        0,
      );
      expect({ codec, ...c }).toEqual({
        codec,
        rows: String(N),
        ids: String(N),
        total: String(expectedSum),
        notes: String(noteBytes),
      });
    }
    for (const d of ingestion.stats().datasources) {
      expect(d.totals).toMatchObject({ stored: N, duplicates: 0, quarantined: 0 });
      // The fetches saw batches decode to more than was asked for, and now ask for less: what a
      // fetch holds once decoded stays near the configured size (had kafkajs kept asking for the
      // first sizes, a full batch would decode to the compression factor times it).
      const fetch = d.kafka?.fetch;
      expect(fetch?.compression, d.name).toBeGreaterThan(1.5);
      expect(fetch?.lastFullBatchBytes, d.name).toBeLessThan(1.6 * FETCH_PARTITION);
      expect(fetch?.maxBytesPerPartition, d.name).toBeLessThan(FETCH_PARTITION);
      expect(fetch?.maxBytes, d.name).toBeLessThan(2 * FETCH_PARTITION);
    }
  });
});
