// What a Kafka batch handler leaves behind once its rows are in: nothing that keeps the fetch in
// memory. The handler waits for its flush while heartbeating on a timer; a tick timer left
// pending after the flush held the handler's scope (the fetch's messages and parsed rows) for up
// to half a heartbeat interval, which with several fetches a second kept ~4 fetches alive
// (measured with bench/ingest.ts: peak RSS 580 MB before, 340 MB after). The sink and the Kafka
// client are stand-ins: this is the handler's own logic.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { BatchOutcome, DatasourceSink, IncomingBatch } from '../../../src/ingest/datasource-sink.ts';
import type {
  BatchControl,
  ConsumedBatch,
  ConsumerOptions,
  KafkaClient,
} from '../../../src/ingest/kafka-client.ts';
import { KafkaIngester } from '../../../src/ingest/kafka-ingester.ts';
import { compileRowParser } from '../../../src/ingest/row-parser.ts';
import { dataSource } from './type-node.ts';

const ds = dataSource('events', [{ name: 'id', type: 'String' }], {
  kafka: { topic: 'events', start: 'earliest', metadata: [], loc: { file: 'x', line: 1, col: 1 } },
});

function harness(flushMs: number) {
  let options: ConsumerOptions | undefined;
  const client = {
    consume: async (opts: ConsumerOptions) => {
      options = opts;
      return { commit: async () => {}, stop: async () => {} };
    },
  } as unknown as KafkaClient;
  const written: IncomingBatch[] = [];
  const sink = {
    datasource: ds,
    parser: compileRowParser(ds),
    invalidate: () => {},
    watermarks: async () => new Map(),
    write: async (batches: readonly IncomingBatch[]): Promise<BatchOutcome[]> => {
      written.push(...batches);
      await new Promise((r) => setTimeout(r, flushMs));
      return batches.map((b) => ({ stored: b.events.length, quarantined: 0, duplicates: 0, skipped: 0 }));
    },
  } as unknown as DatasourceSink;
  const ingester = new KafkaIngester(sink, client, {
    group: 'g',
    batch: { maxRows: 1000, maxWaitMs: 5 },
    consumer: { heartbeatIntervalMs: 3000 },
    log: () => {},
  });
  const batch: ConsumedBatch = {
    topic: 'events',
    partition: 0,
    highWatermark: 3,
    firstOffset: 0,
    lastOffset: 2,
    messages: [0, 1, 2].map((offset) => ({
      offset,
      key: null,
      value: Buffer.from(JSON.stringify({ id: `e${offset}` })),
      timestamp: 0,
      headers: {},
    })) as unknown as ConsumedBatch['messages'],
  };
  const heartbeats: number[] = [];
  const ctl: BatchControl = {
    heartbeat: async () => {
      heartbeats.push(Date.now());
    },
    resolveOffset: () => {},
    seek: () => {},
  };
  return { ingester, batch, ctl, written, onBatch: () => options!.onBatch(batch, ctl), heartbeats };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('Kafka batch handler', () => {
  it('leaves no timer behind once its flush is in (so the fetch can be collected)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const h = harness(10);
    await h.ingester.start();
    const done = h.onBatch();
    await vi.advanceTimersByTimeAsync(50);
    await done;
    expect(h.written.flatMap((b) => b.events.map((e) => e.offset))).toEqual([0, 1, 2]);
    // A quick flush needs no heartbeat, and nothing is left waiting on the clock.
    expect(h.heartbeats).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('still heartbeats while a slow flush is in flight, and then leaves no timer', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const h = harness(4000);
    await h.ingester.start();
    const done = h.onBatch();
    await vi.advanceTimersByTimeAsync(4100);
    await done;
    // Every half heartbeat interval (1.5 s) while the flush took 4 s.
    expect(h.heartbeats.length).toBe(2);
    expect(vi.getTimerCount()).toBe(0);
  });
});
