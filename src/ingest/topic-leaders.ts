/**
 * Waiting for a topic just created to be usable: every partition with a leader. kafkajs's own
 * `waitForLeaders` retries only LEADER_NOT_AVAILABLE and gives up on UNKNOWN_TOPIC_OR_PARTITION,
 * which a broker answers for a moment after the creation while its metadata catches up (seen
 * in CI: "This server does not host this topic-partition").
 */

import { kafkaErrorType } from './kafka-error-chain.ts';

/** A topic's partitions as kafkajs's `fetchTopicMetadata` gives them. */
export interface TopicPartitionsMetadata {
  partitions: ReadonlyArray<{ partitionId: number; leader: number }>;
}

/** Kafka error types that mean "not yet" right after a creation. */
const NOT_YET = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE']);

export async function waitForTopicLeaders(
  topic: string,
  metadata: () => Promise<TopicPartitionsMetadata | undefined>,
  opts: {
    timeoutMs?: number;
    pauseMs?: number;
    now?: () => number;
    sleep?: (ms: number) => Promise<void>;
  } = {},
): Promise<void> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = now() + (opts.timeoutMs ?? 30_000);
  let last = 'no metadata yet';
  for (;;) {
    try {
      const m = await metadata();
      if (m && m.partitions.length > 0 && m.partitions.every((p) => p.leader >= 0)) return;
      last = m
        ? `${m.partitions.filter((p) => p.leader < 0).length} of ${m.partitions.length} partitions without a leader`
        : 'no metadata yet';
    } catch (err) {
      const type = kafkaErrorType(err);
      if (!type || !NOT_YET.has(type)) throw err;
      last = type;
    }
    if (now() >= deadline) {
      throw new Error(`Kafka topic ${topic} was created but has no leader for every partition yet (${last})`);
    }
    await sleep(opts.pauseMs ?? 100);
  }
}
