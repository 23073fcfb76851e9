// The events API's produce path: a request is sent in slices, and an event too large for a Kafka
// message is refused (413 in the route) before any slice is sent, so that a refusal means
// nothing of the request is in the topic. kafkajs is replaced by a stand-in that records sends.
import { describe, expect, it, vi } from 'vitest';
import { createKafkaClient, type OutgoingMessage, sendSlices } from '../../../src/ingest/kafka-client.ts';

const sent = vi.hoisted(() => [] as Array<{ topic: string; messages: unknown[] }>);

vi.mock('kafkajs', async (original) => {
  const real = await original<typeof import('kafkajs')>();
  class Kafka {
    admin() {
      return { connect: async () => {}, disconnect: async () => {}, listTopics: async () => ['events'] };
    }
    producer() {
      return {
        connect: async () => {},
        disconnect: async () => {},
        send: async (r: { topic: string; messages: unknown[] }) => {
          sent.push(r);
          return [];
        },
      };
    }
  }
  return { ...real, Kafka };
});

const event = (i: number, bytes: number): OutgoingMessage => ({
  key: `k${i}`,
  value: JSON.stringify({ id: i, pad: 'x'.repeat(bytes) }),
});

describe('sendSlices', () => {
  it('cuts the messages into sends under 768 KiB, in order', () => {
    const messages = Array.from({ length: 2000 }, (_, i) => event(i, 1000));
    const slices = sendSlices(messages);
    expect(slices.length).toBeGreaterThan(2);
    expect(slices.flat()).toEqual(messages);
    for (const s of slices) {
      const bytes = s.reduce((n, m) => n + Buffer.byteLength(m.value) + Buffer.byteLength(m.key!) + 64, 0);
      expect(bytes).toBeLessThanOrEqual(768 * 1024);
    }
  });

  it('refuses a message above the Kafka message size wherever it is, before slicing', () => {
    const messages = [...Array.from({ length: 2000 }, (_, i) => event(i, 1000)), event(2000, 1_100_000)];
    expect(() => sendSlices(messages)).toThrow(
      expect.objectContaining({
        code: 'event-too-large',
        message: expect.stringMatching(
          /^an event of \d+ bytes is larger than a Kafka message may be \(1000000 bytes\)$/,
        ),
      }),
    );
  });
});

describe('produce', () => {
  it('sends nothing of a request whose last event is too large (2 MB of good events first)', async () => {
    const client = createKafkaClient({ brokers: ['127.0.0.1:1'], clientId: 'test', ssl: false });
    const good = Array.from({ length: 2000 }, (_, i) => event(i, 1000));
    await expect(client.produce('events', [...good, event(2000, 1_100_000)])).rejects.toMatchObject({
      code: 'event-too-large',
    });
    expect(sent).toEqual([]);
    // The same events without it go out, in several sends.
    await client.produce('events', good);
    expect(sent.length).toBeGreaterThan(2);
    expect(sent.flatMap((s) => s.messages)).toHaveLength(2000);
    await client.close();
  });
});
