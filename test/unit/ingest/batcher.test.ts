import { describe, expect, it } from 'vitest';
import { Batcher } from '../../../src/ingest/batcher.ts';

function recorder(delayMs = 0) {
  const flushes: string[][] = [];
  let active = 0;
  let maxActive = 0;
  const fn = async (batches: readonly string[]) => {
    active++;
    maxActive = Math.max(maxActive, active);
    flushes.push([...batches]);
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
    active--;
    return batches.map((b) => `done:${b}`);
  };
  return { fn, flushes, maxActive: () => maxActive };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('batcher', () => {
  it('flushes when enough rows are pending, and answers each batch with its result', async () => {
    const r = recorder();
    const b = new Batcher(r.fn, { maxRows: 3, maxWaitMs: 10_000 });
    const p1 = b.add('a', { rows: 2, bytes: 10 });
    await sleep(5);
    expect(r.flushes).toEqual([]);
    const p2 = b.add('b', { rows: 1, bytes: 10 });
    expect(await Promise.all([p1, p2])).toEqual(['done:a', 'done:b']);
    expect(r.flushes).toEqual([['a', 'b']]);
  });

  it('flushes when enough bytes are pending', async () => {
    const r = recorder();
    const b = new Batcher(r.fn, { maxBytes: 100, maxWaitMs: 10_000 });
    await Promise.all([b.add('a', { rows: 1, bytes: 60 }), b.add('b', { rows: 1, bytes: 60 })]);
    expect(r.flushes).toEqual([['a', 'b']]);
  });

  it('flushes a small batch after maxWaitMs', async () => {
    const r = recorder();
    const b = new Batcher(r.fn, { maxWaitMs: 30 });
    const t0 = performance.now();
    await b.add('a', { rows: 1, bytes: 1 });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
    expect(r.flushes).toEqual([['a']]);
  });

  it('runs one flush at a time, in order, collecting what came meanwhile', async () => {
    const r = recorder(30);
    const b = new Batcher(r.fn, { maxRows: 1, maxWaitMs: 10_000 });
    const all = ['a', 'b', 'c', 'd'].map((x) => b.add(x, { rows: 1, bytes: 1 }));
    await Promise.all(all);
    expect(r.maxActive()).toBe(1);
    expect(r.flushes).toEqual([['a'], ['b', 'c', 'd']]);
  });

  it('flushNow and drain flush without waiting for the timer', async () => {
    const r = recorder();
    const b = new Batcher(r.fn, { maxWaitMs: 60_000 });
    const p = b.add('a', { rows: 1, bytes: 1 });
    b.flushNow();
    expect(await p).toBe('done:a');
    const q = b.add('b', { rows: 1, bytes: 1 });
    await b.drain();
    expect(await q).toBe('done:b');
  });

  it('pauses add() while the buffered bytes are over the cap', async () => {
    const r = recorder(40);
    const b = new Batcher(r.fn, { maxRows: 1000, maxWaitMs: 10_000, maxBufferedBytes: 100 });
    const first = b.add('a', { rows: 1, bytes: 80 });
    let secondAdmitted = false;
    const second = b.add('b', { rows: 1, bytes: 80 }).then((x) => {
      secondAdmitted = true;
      return x;
    });
    await sleep(10);
    // 'a' was flushed to make room; 'b' waits until that flush is done.
    expect(r.flushes).toEqual([['a']]);
    expect(b.buffered).toEqual({ rows: 0, bytes: 0, inFlightBytes: 80 });
    expect(secondAdmitted).toBe(false);
    await first;
    await sleep(5);
    expect(secondAdmitted).toBe(false);
    expect(b.buffered.bytes).toBe(80);
    b.flushNow();
    expect(await second).toBe('done:b');
  });

  it('admits a batch larger than the cap when nothing else is buffered', async () => {
    const r = recorder();
    const b = new Batcher(r.fn, { maxBufferedBytes: 10, maxBytes: 5 });
    expect(await b.add('big', { rows: 1, bytes: 50 })).toBe('done:big');
  });

  it('rejects the batches of a failed flush, and carries on with the next', async () => {
    let fail = true;
    const b = new Batcher<string, string>(
      async (batches) => {
        if (fail) throw new Error('boom');
        return batches.map((x) => x);
      },
      { maxRows: 1 },
    );
    await expect(b.add('a', { rows: 1, bytes: 1 })).rejects.toThrow('boom');
    fail = false;
    expect(await b.add('b', { rows: 1, bytes: 1 })).toBe('b');
  });

  it('abandon rejects pending batches (optionally only some) but not the one in flight', async () => {
    const r = recorder(30);
    const b = new Batcher(r.fn, { maxRows: 1, maxWaitMs: 10_000 });
    const a = b.add('a', { rows: 1, bytes: 1 });
    const x = b.add('x', { rows: 1, bytes: 1 });
    const y = b.add('y', { rows: 1, bytes: 1 });
    await sleep(5);
    expect(b.abandon(new Error('revoked'), (batch) => batch === 'y')).toBe(1);
    await expect(x).rejects.toThrow('revoked');
    expect(await a).toBe('done:a');
    expect(await y).toBe('done:y');
    expect(r.flushes).toEqual([['a'], ['y']]);
  });
});
