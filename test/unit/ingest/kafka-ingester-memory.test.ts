// What a Kafka batch handler leaves behind once its rows are in: nothing that keeps the fetch in
// memory. The handler waits for the flush before its rows while heartbeating on a timer; a tick
// timer left
// pending after the flush held the handler's scope (the fetch's messages and parsed rows) for up
// to half a heartbeat interval, which with several fetches a second kept ~4 fetches alive
// (measured with bench/ingest.ts: peak RSS 580 MB before, 340 MB after). The sink and the Kafka
// client are stand-ins: this is the handler's own logic.
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type BatchOutcome,
  type DatasourceSink,
  FencedError,
  type IncomingBatch,
} from '../../../src/ingest/datasource-sink.ts';
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

function harness(flushMs: number, revokeGraceMs?: number, maxRows = 1000) {
  let options: ConsumerOptions | undefined;
  const client = {
    consume: async (opts: ConsumerOptions) => {
      options = opts;
      return { commit: async () => {}, stop: async () => {} };
    },
  } as unknown as KafkaClient;
  const written: IncomingBatch[] = [];
  const flushes: number[][] = [];
  const sink = {
    datasource: ds,
    parser: compileRowParser(ds),
    invalidate: () => {},
    watermarks: async () => new Map(),
    write: async (batches: readonly IncomingBatch[], signal?: AbortSignal): Promise<BatchOutcome[]> => {
      written.push(...batches);
      flushes.push(offsetsOf([...batches]));
      await new Promise((r) => setTimeout(r, flushMs));
      if (signal?.aborted) throw new FencedError();
      return batches.map((b) => ({ stored: b.events.length, quarantined: 0, duplicates: 0, skipped: 0 }));
    },
  } as unknown as DatasourceSink;
  const ingester = new KafkaIngester(sink, client, {
    group: 'g',
    batch: { maxRows, maxWaitMs: 5 },
    consumer: { heartbeatIntervalMs: 3000 },
    ...(revokeGraceMs !== undefined ? { revokeGraceMs } : {}),
    log: () => {},
  });
  const batchAt = (first: number): ConsumedBatch => ({
    topic: 'events',
    partition: 0,
    highWatermark: first + 3,
    firstOffset: first,
    lastOffset: first + 2,
    messages: [first, first + 1, first + 2].map((offset) => ({
      offset: String(offset),
      key: null,
      value: Buffer.from(JSON.stringify({ id: `e${offset}` })),
      timestamp: '0',
      headers: {},
    })),
  });
  const heartbeats: number[] = [];
  const resolved: number[] = [];
  const ctl: BatchControl = {
    heartbeat: async () => {
      heartbeats.push(Date.now());
    },
    resolveOffset: (offset) => {
      resolved.push(offset);
    },
    seek: () => {},
  };
  return {
    ingester,
    ctl,
    written,
    resolved,
    heartbeats,
    onBatch: (first = 0) => options!.onBatch(batchAt(first), ctl),
    handOff: () => options!.beforeRejoin!(),
    offsets: () => offsetsOf(written),
    flushes: () => flushes,
  };
}

function offsetsOf(written: IncomingBatch[]): number[] {
  return written.flatMap((b) => b.events.map((e) => e.offset));
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
    expect(h.offsets()).toEqual([0, 1, 2]);
    // A quick flush needs no heartbeat, and nothing is left waiting on the clock.
    expect(h.heartbeats).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('fetches ahead: returns while a flush is in flight; once a whole flush waits, the next handler waits too, heartbeating', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const h = harness(4000, undefined, 6); // a flush is 6 rows: two batches
    await h.ingester.start();
    await h.onBatch(0);
    // Its offsets resolved (so Kafka fetches on) while its rows are still on their way.
    expect(h.resolved).toEqual([2]);
    await vi.advanceTimersByTimeAsync(10);
    expect(h.offsets()).toEqual([0, 1, 2]);
    await h.onBatch(3); // 3 rows waiting: less than a flush, so it returns at once
    expect(h.resolved).toEqual([2, 5]);
    const third = h.onBatch(6); // 6 rows waiting: a whole flush, so it waits for the one in flight
    let returned = false;
    void third.then(() => {
      returned = true;
    });
    await vi.advanceTimersByTimeAsync(3000);
    expect(returned).toBe(false);
    await vi.advanceTimersByTimeAsync(1100);
    await third;
    // Every half heartbeat interval (1.5 s) while the first flush took 4 s.
    expect(h.heartbeats.length).toBe(2);
    await vi.advanceTimersByTimeAsync(4100);
    // The rows parsed during the first flush went in one flush after it.
    expect(h.flushes()).toEqual([[0, 1, 2], [3, 4, 5, 6, 7, 8]]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('before a rejoin: drops the rows not yet flushing and waits for the flush in flight', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const h = harness(2000);
    await h.ingester.start();
    await h.onBatch(0);
    await vi.advanceTimersByTimeAsync(10); // 0-2 flushing
    const second = h.onBatch(3); // 3-5 parsed, waiting
    await vi.advanceTimersByTimeAsync(10);
    let settled = false;
    const handOff = h.handOff().then(() => {
      settled = true;
    });
    await vi.advanceTimersByTimeAsync(1000);
    expect(settled).toBe(false); // the flush in flight is not done
    await vi.advanceTimersByTimeAsync(1100);
    await handOff;
    await second;
    await vi.advanceTimersByTimeAsync(3000);
    // 3-5 never reached the sink: Kafka delivers them again to the partition's next owner.
    expect(h.offsets()).toEqual([0, 1, 2]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('before a rejoin: a flush in flight longer than the grace is abandoned (delivered again)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const h = harness(5000, 1000);
    await h.ingester.start();
    await h.onBatch(0);
    await vi.advanceTimersByTimeAsync(10);
    let settled = false;
    const handOff = h.handOff().then(() => {
      settled = true;
    });
    await vi.advanceTimersByTimeAsync(1100);
    // Past the grace the flush is told to stop, and the hand-off waits for its current attempt.
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(4000);
    await handOff;
    expect(h.ingester.stats().partitions).toEqual([]); // nothing was counted as stored
  });
});
