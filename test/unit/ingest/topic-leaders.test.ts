import type { Admin } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { createTopicsReady } from '../../../src/ingest/kafka-client.ts';
import { waitForTopicLeaders } from '../../../src/ingest/topic-leaders.ts';

/** An error as kafkajs nests a protocol error inside its retry errors. */
function kafkaError(type: string): Error {
  const inner = Object.assign(new Error('This server does not host this topic-partition'), { type });
  return Object.assign(new Error('wrapped'), { name: 'KafkaJSNonRetriableError', cause: inner });
}

const led = (leaders: number[]) => ({
  partitions: leaders.map((leader, partitionId) => ({ partitionId, leader })),
});

describe('waitForTopicLeaders', () => {
  it('waits through UNKNOWN_TOPIC_OR_PARTITION and partitions without a leader, until every one has a leader', async () => {
    const answers: Array<Error | ReturnType<typeof led> | undefined> = [
      kafkaError('UNKNOWN_TOPIC_OR_PARTITION'),
      undefined,
      kafkaError('LEADER_NOT_AVAILABLE'),
      led([1, -1]),
      led([1, 1]),
    ];
    let asked = 0;
    const slept: number[] = [];
    await waitForTopicLeaders(
      't',
      async () => {
        const a = answers[asked++];
        if (a instanceof Error) throw a;
        return a;
      },
      { sleep: async (ms) => void slept.push(ms) },
    );
    expect(asked).toBe(5);
    expect(slept).toEqual([100, 100, 100, 100]);
  });

  it('throws any other error at once, and names the topic and what was missing at the deadline', async () => {
    const denied = kafkaError('TOPIC_AUTHORIZATION_FAILED');
    await expect(waitForTopicLeaders('t', async () => Promise.reject(denied))).rejects.toBe(denied);
    let clock = 0;
    await expect(
      waitForTopicLeaders('orders', async () => led([0, -1, -1]), {
        timeoutMs: 1000,
        now: () => clock,
        sleep: async (ms) => {
          clock += ms;
        },
      }),
    ).rejects.toThrow(
      'Kafka topic orders was created but has no leader for every partition yet (2 of 3 partitions without a leader)',
    );
  });
});

describe('createTopicsReady', () => {
  it('leaves the wait to its own loop, which waits through a just-created topic the broker does not know yet', async () => {
    const created: unknown[] = [];
    const answers: unknown[] = [
      kafkaError('UNKNOWN_TOPIC_OR_PARTITION'),
      { topics: [{ name: 't', ...led([1, 1]) }] },
    ];
    let asked = 0;
    const admin = {
      createTopics: async (opts: unknown) => {
        created.push(opts);
        return true;
      },
      fetchTopicMetadata: async () => {
        const a = answers[asked++];
        if (a instanceof Error) throw a;
        return a;
      },
    } as unknown as Admin;
    await createTopicsReady(admin, [{ topic: 't', numPartitions: 2 }]);
    expect(created).toEqual([{ topics: [{ topic: 't', numPartitions: 2 }], waitForLeaders: false }]);
    expect(asked).toBe(2);
  });
});
