/** Kafka helpers for ingestion tests: unique topics, producing fast, waiting for a state. */
import { inject } from 'vitest';
import type { Config, KafkaConfig } from '../../src/config/config.ts';
import { createKafkaClient, type KafkaClient } from '../../src/ingest/kafka-client.ts';
import type { DataSource, Project } from '../../src/project/model.ts';

export function kafkaConfig(): KafkaConfig {
  let brokers = process.env.TALLY_KAFKA_BROKERS || '127.0.0.1:9092';
  try {
    brokers = inject('kafkaBrokers') || brokers;
  } catch {
    // outside vitest (child processes, benchmarks): TALLY_KAFKA_BROKERS or the default broker
  }
  return { brokers: brokers.split(','), clientId: 'tally-test', ssl: false };
}

export function uniqueTopic(prefix: string): string {
  return `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}

/** A project holding just these data sources (what the loader would build). */
export function projectOf(datasources: DataSource[]): Project {
  return {
    root: '/tmp',
    config: {} as Config,
    datasources: new Map(datasources.map((d) => [d.name, d])),
    pipes: new Map(),
    endpoints: new Map(),
  };
}

/** Produces messages in sendBatch calls of `chunk`, each to an explicit partition when given. */
export async function produceAll(
  client: KafkaClient,
  topic: string,
  messages: Array<{ key?: string | null; value: string | Buffer; partition?: number }>,
  /** Messages per send: each send is one record batch per partition on the broker. */
  perSend = 5000,
): Promise<void> {
  const { Kafka, logLevel } = await import('kafkajs');
  const kafka = new Kafka({
    brokers: kafkaConfig().brokers,
    clientId: 'tally-test-producer',
    logLevel: logLevel.NOTHING,
  });
  const p = kafka.producer();
  await p.connect();
  try {
    for (let i = 0; i < messages.length; i += perSend) {
      await p.send({
        topic,
        acks: -1,
        messages: messages.slice(i, i + perSend).map((m) => ({
          key: m.key ?? null,
          value: m.value,
          ...(m.partition !== undefined ? { partition: m.partition } : {}),
        })),
      });
    }
  } finally {
    await p.disconnect();
  }
  void client;
}

export async function newClient(): Promise<KafkaClient> {
  return createKafkaClient(kafkaConfig());
}

/** Polls `probe` until it returns true, or fails after `timeoutMs` with the last value. */
export async function waitFor(probe: () => Promise<unknown>, timeoutMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  let last: unknown;
  while (Date.now() - t0 < timeoutMs) {
    last = await probe().catch((e) => `error: ${e}`);
    if (last === true) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
}

/** The end offset of each partition of `topic` (the offset the next message will get). */
export async function endOffsets(topic: string): Promise<Map<number, number>> {
  const { Kafka, logLevel } = await import('kafkajs');
  const admin = new Kafka({
    brokers: kafkaConfig().brokers,
    clientId: 'tally-test-admin',
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return new Map(offsets.map((o) => [o.partition, Number(o.high)]));
  } finally {
    await admin.disconnect();
  }
}

/** Deletes test topics (best effort). */
export async function deleteTopics(...topics: string[]): Promise<void> {
  const { Kafka, logLevel } = await import('kafkajs');
  const admin = new Kafka({
    brokers: kafkaConfig().brokers,
    clientId: 'tally-test-admin',
    logLevel: logLevel.NOTHING,
  }).admin();
  try {
    await admin.connect();
    // Only those there: one missing would fail the whole request.
    const existing = new Set(await admin.listTopics());
    const there = topics.filter((t) => existing.has(t));
    if (there.length > 0) await admin.deleteTopics({ topics: there, timeout: 5000 });
  } catch {
    // left for the broker's retention
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
