// The Kafka batch handler's own logic, with a stand-in sink and Kafka client (fake timers):
// - memory: a tick timer left pending after a wait held the handler's scope (the fetch's
//   messages and parsed rows) for up to half a heartbeat interval, which with several fetches a
//   second kept ~4 fetches alive (bench/ingest.ts: peak RSS 580 MB before, 340 MB after); no
//   timer may outlive a wait, and the memory cap stops the handler, not only its rows;
// - fetch-ahead and group commit: a handler returns while a flush is in flight, and waits only
//   once a whole flush is waiting;
// - the hand-off before a join or leave: rows not yet flushing dropped and fetched again, the
//   flush in flight waited for (or abandoned after the grace), nothing added while the join runs.
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

interface HarnessOptions {
  flushMs: number;
  revokeGraceMs?: number;
  maxRows?: number;
  maxBufferedBytes?: number;
  /** The flush (0-based) that fails with an error other than an abandon. */
  failFlush?: number;
}

function harness({ flushMs, revokeGraceMs, maxRows = 1000, maxBufferedBytes, failFlush }: HarnessOptions) {
  let options: ConsumerOptions | undefined;
  const commits: number[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const client = {
    consume: async (opts: ConsumerOptions) => {
      options = opts;
      return {
        commit: async (_p: number, offset: number) => {
          commits.push(offset);
        },
        stop: async () => {},
        fetchSizes: () => ({ maxBytes: 1, maxBytesPerPartition: 1, compression: 1, lastFullBatchBytes: 0 }),
      };
    },
  } as unknown as KafkaClient;
  const flushes: number[][] = [];
  const sink = {
    datasource: ds,
    parser: compileRowParser(ds),
    invalidate: () => {},
    watermarks: async () => new Map(),
    write: async (batches: readonly IncomingBatch[], signal?: AbortSignal): Promise<BatchOutcome[]> => {
      flushes.push(batches.flatMap((b) => b.events.map((e) => e.offset)));
      await new Promise((r) => setTimeout(r, flushMs));
      if (flushes.length - 1 === failFlush) throw new Error('unexpected');
      if (signal?.aborted) throw new FencedError();
      return batches.map((b) => ({ stored: b.events.length, quarantined: 0, duplicates: 0, skipped: 0 }));
    },
  } as unknown as DatasourceSink;
  const ingester = new KafkaIngester(sink, client, {
    group: 'g',
    batch: { maxRows, maxWaitMs: 5, ...(maxBufferedBytes ? { maxBufferedBytes } : {}) },
    consumer: { heartbeatIntervalMs: 3000 },
    ...(revokeGraceMs !== undefined ? { revokeGraceMs } : {}),
    log: (entry) => logs.push(entry),
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
  const seeks: number[] = [];
  const ctl: BatchControl = {
    heartbeat: async () => {
      heartbeats.push(Date.now());
    },
    resolveOffset: (offset) => {
      resolved.push(offset);
    },
    seek: (offset) => {
      seeks.push(offset);
    },
  };
  const settled = (p: Promise<unknown>) => {
    const state = { done: false };
    void p.then(() => {
      state.done = true;
    });
    return state;
  };
  return {
    ingester,
    resolved,
    seeks,
    commits,
    logs,
    heartbeats,
    flushes,
    settled,
    /** Starts, with partition 0 assigned (as after a join). */
    start: async () => {
      await ingester.start();
      options!.onAssign!([0]);
    },
    onBatch: (first = 0) => options!.onBatch(batchAt(first), ctl),
    handOff: () => options!.beforeRejoin!(),
    joinOver: () => options!.afterRejoin!(),
    stored: () => flushes.flat(),
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('Kafka batch handler', () => {
  it('returns at once, its rows flushed after it, commits them, and leaves no timer', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const h = harness({ flushMs: 10 });
    await h.start();
    await h.onBatch();
    expect(vi.getTimerCount()).toBeLessThanOrEqual(1); // the batcher's own flush timer at most
    await vi.advanceTimersByTimeAsync(50);
    expect(h.stored()).toEqual([0, 1, 2]);
    expect(h.commits).toEqual([3]);
    expect(h.heartbeats).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('once a whole flush is waiting, the next handler waits for the one in flight, heartbeating, and leaves no timer', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const h = harness({ flushMs: 4000, maxRows: 6 }); // a flush is 6 rows: two batches
    await h.start();
    await h.onBatch(0);
    // Its offsets resolved (so Kafka fetches on) while its rows are still on their way.
    expect(h.resolved).toEqual([2]);
    await vi.advanceTimersByTimeAsync(10);
    expect(h.flushes).toEqual([[0, 1, 2]]);
    await h.onBatch(3); // 3 rows waiting: less than a flush, so it returns at once
    expect(h.resolved).toEqual([2, 5]);
    const third = h.settled(h.onBatch(6)); // 6 rows waiting: a whole flush, so it waits
    await vi.advanceTimersByTimeAsync(3000);
    expect(third.done).toBe(false);
    expect(h.commits).toEqual([]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(third.done).toBe(true);
    // Every half heartbeat interval (1.5 s) while the first flush took 4 s; no tick left pending.
    expect(h.heartbeats.length).toBe(2);
    expect(vi.getTimerCount()).toBe(1); // the second flush (the sink's timer), no heartbeat tick
    await vi.advanceTimersByTimeAsync(4100);
    expect(h.flushes).toEqual([
      [0, 1, 2],
      [3, 4, 5, 6, 7, 8],
    ]);
    expect(h.commits).toEqual([3, 6, 9]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('over the memory cap the handler itself waits (nothing more is fetched), in order', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    // Each batch is ~42 bytes: the cap lets one batch be held, not two.
    const h = harness({ flushMs: 2000, maxBufferedBytes: 60 });
    await h.start();
    await h.onBatch(0);
    await vi.advanceTimersByTimeAsync(10); // 0-2 in flight
    const second = h.settled(h.onBatch(3));
    await vi.advanceTimersByTimeAsync(1000);
    expect(second.done).toBe(false);
    expect(h.resolved).toEqual([2]); // 3-5 not resolved yet: Kafka does not fetch past them
    await vi.advanceTimersByTimeAsync(1100);
    expect(second.done).toBe(true);
    expect(h.resolved).toEqual([2, 5]);
    await vi.advanceTimersByTimeAsync(2100);
    expect(h.flushes).toEqual([
      [0, 1, 2],
      [3, 4, 5],
    ]);
  });

  it('hand-off: drops the rows not yet flushing, waits for the flush in flight, and fetches the dropped rows again', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const h = harness({ flushMs: 2000 });
    await h.start();
    await h.onBatch(0);
    await vi.advanceTimersByTimeAsync(10); // 0-2 flushing
    await h.onBatch(3); // 3-5 parsed, waiting
    const handOff = h.settled(h.handOff());
    await vi.advanceTimersByTimeAsync(1000);
    expect(handOff.done).toBe(false); // the flush in flight is not done
    await vi.advanceTimersByTimeAsync(1100);
    expect(handOff.done).toBe(true);
    expect(h.logs.filter((l) => String(l.msg).startsWith('kafka hand-off'))).toEqual([
      expect.objectContaining({ level: 'info', dropped_batches: 1, waited_ms: expect.any(Number) }),
    ]);
    // While the join runs, a batch is neither added nor resolved.
    const during = h.onBatch(6);
    await vi.advanceTimersByTimeAsync(200);
    await during;
    expect(h.resolved).toEqual([2, 5]);
    // The join failed (no new assignment): the client's position is past the dropped 3-5, and
    // the next batch it gives is sent back to them.
    h.joinOver();
    await h.onBatch(6);
    expect(h.seeks).toEqual([3]);
    await h.onBatch(3);
    await vi.advanceTimersByTimeAsync(3000);
    expect(h.flushes).toEqual([
      [0, 1, 2],
      [3, 4, 5],
    ]);
    expect(h.commits).toEqual([3, 6]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('hand-off: a flush in flight longer than the grace is abandoned, not committed, and fetched again', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const h = harness({ flushMs: 5000, revokeGraceMs: 1000 });
    await h.start();
    await h.onBatch(0);
    await vi.advanceTimersByTimeAsync(10);
    const handOff = h.settled(h.handOff());
    await vi.advanceTimersByTimeAsync(1100);
    // Past the grace the flush is told to stop, and the hand-off waits for its current attempt.
    expect(handOff.done).toBe(false);
    await vi.advanceTimersByTimeAsync(4000);
    expect(handOff.done).toBe(true);
    expect(h.commits).toEqual([]);
    const said = h.logs.find((l) => String(l.msg).startsWith('kafka hand-off'));
    expect(said).toMatchObject({ level: 'warn', dropped_batches: 0 });
    expect(said!.msg).toContain('abandoned');
    expect(Number(said!.waited_ms)).toBeGreaterThanOrEqual(1000);
    h.joinOver();
    await h.onBatch(3);
    expect(h.seeks).toEqual([0]);
  });

  it('stopping: a handler called meanwhile waits for the drain and keeps the membership', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const h = harness({ flushMs: 5000 });
    await h.start();
    await h.onBatch(0);
    await vi.advanceTimersByTimeAsync(10);
    const stop = h.settled(h.ingester.stop(30_000));
    const during = h.settled(h.onBatch(3));
    await vi.advanceTimersByTimeAsync(4000);
    expect(during.done).toBe(false);
    expect(h.heartbeats.length).toBeGreaterThanOrEqual(2);
    await vi.advanceTimersByTimeAsync(1100);
    expect(during.done).toBe(true);
    expect(stop.done).toBe(true);
    expect(h.stored()).toEqual([0, 1, 2]); // 3-5 were not added: delivered again after the stop
    expect(h.resolved).toEqual([2]);
  });

  it('stopping: a flush still failing after the grace is abandoned, and the stop says so with the data source', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const h = harness({ flushMs: 5000 });
    await h.start();
    await h.onBatch(0);
    await vi.advanceTimersByTimeAsync(10);
    const stop = h.settled(h.ingester.stop(1000));
    await vi.advanceTimersByTimeAsync(5000);
    expect(stop.done).toBe(true);
    expect(h.commits).toEqual([]);
    expect(h.logs.filter((l) => String(l.msg).startsWith('stopping:'))).toEqual([
      {
        level: 'warn',
        msg: 'stopping: the flush in flight was abandoned after 1 s of ClickHouse failing; its rows are not stored, and are read again from Kafka at the next start',
        datasource: 'events',
        topic: 'events',
        rows: 3,
      },
    ]);
  });

  it('stopping: a flush stored within the grace is not said to be abandoned', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const h = harness({ flushMs: 500 });
    await h.start();
    await h.onBatch(0);
    await vi.advanceTimersByTimeAsync(10);
    const stop = h.settled(h.ingester.stop(1000));
    await vi.advanceTimersByTimeAsync(600);
    expect(stop.done).toBe(true);
    expect(h.stored()).toEqual([0, 1, 2]);
    expect(h.logs.filter((l) => String(l.msg).startsWith('stopping:'))).toEqual([]);
  });

  it('a flush failing other than by an abandon: nothing committed, what waited dropped, its rows fetched again', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const h = harness({ flushMs: 1000, failFlush: 0 });
    await h.start();
    await h.onBatch(0);
    await vi.advanceTimersByTimeAsync(10); // 0-2 flushing
    await h.onBatch(3); // 3-5 waiting behind it
    await vi.advanceTimersByTimeAsync(1000);
    expect(h.flushes).toEqual([[0, 1, 2]]); // 3-5 were dropped, not flushed ahead of 0-2
    expect(h.commits).toEqual([]);
    expect(h.logs).toContainEqual(
      expect.objectContaining({ level: 'error', msg: expect.stringContaining('fetched again') }),
    );
    await h.onBatch(6);
    expect(h.seeks).toEqual([0]);
  });
});
