/**
 * `tally dev` creates the Kafka topics its data sources read when the broker lacks them, so the
 * project's topics are consumed from the first start on a fresh local Kafka (`tally serve`
 * never creates topics: there the topics are the platform's).
 */
import type { KafkaConfig } from '../config/config.ts';
import { createKafkaClient } from '../ingest/kafka-client.ts';

/** Partitions of a topic created for dev: enough to see two consumers share them. */
export const DEV_TOPIC_PARTITIONS = 4;

/** Creates the missing ones of `topics`; returns those it created. */
export async function createMissingTopics(kafka: KafkaConfig, topics: readonly string[]): Promise<string[]> {
  const client = createKafkaClient(kafka);
  try {
    const existing = new Set(await client.topics());
    const missing = [...new Set(topics)].filter((t) => !existing.has(t));
    for (const t of missing) await client.ensureTopic(t, DEV_TOPIC_PARTITIONS);
    return missing;
  } finally {
    await client.close();
  }
}
