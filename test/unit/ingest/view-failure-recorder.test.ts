import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ViewFailureRecorder, type ViewFailureRow } from '../../../src/ingest/view-failure-recorder.ts';

/** A recorder on fake timers whose writes the test sees, and fails or holds when it says so. */
function recorder(everyMs: number) {
  const rows: ViewFailureRow[] = [];
  const refused: Array<{ view: string; failures: number }> = [];
  /** Rows reported written, as the sink hears of them. */
  const written: ViewFailureRow[] = [];
  const control = { fail: false, hold: undefined as Promise<void> | undefined, writes: 0 };
  const r = new ViewFailureRecorder({
    everyMs,
    write: async (row) => {
      control.writes++;
      if (control.hold) await control.hold;
      if (control.fail) throw new Error('ClickHouse is away');
      rows.push(row);
    },
    written: (row) => written.push(row),
    writeFailed: (view, failures) => refused.push({ view, failures }),
  });
  return { r, rows, refused, written, control };
}

/** Lets the recorder's promise callbacks run. */
const settle = () => vi.advanceTimersByTimeAsync(0);

describe('ViewFailureRecorder', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_000);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes the first failure at once and the ones within the interval as one row at its end', async () => {
    const { r, rows } = recorder(60_000);
    r.note('v', Date.now(), 'first');
    await settle();
    expect(rows).toEqual([{ view: 'v', failures: 1, at: 1_000_000, error: 'first' }]);

    for (let i = 1; i <= 50; i++) {
      await vi.advanceTimersByTimeAsync(1000);
      r.note('v', Date.now(), `failure ${i}`);
    }
    // 50 s in: nothing more written, all kept.
    expect(rows).toHaveLength(1);
    expect(r.unwritten).toBe(50);

    await vi.advanceTimersByTimeAsync(9_999);
    expect(rows).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    // Stamped with the last failure's own time, not the time of the write.
    expect(rows[1]).toEqual({ view: 'v', failures: 50, at: 1_050_000, error: 'failure 50' });
    expect(r.unwritten).toBe(0);
  });

  it('writes a failure of a view quiet for a whole interval at once', async () => {
    const { r, rows } = recorder(60_000);
    r.note('v', Date.now(), 'a');
    await vi.advanceTimersByTimeAsync(61_000);
    r.note('v', Date.now(), 'b');
    await settle();
    expect(rows.map((x) => x.error)).toEqual(['a', 'b']);
  });

  it('after a recompute by this process, writes what it kept and the next failure at once', async () => {
    const { r, rows } = recorder(60_000);
    r.note('v', Date.now(), 'a');
    await settle();
    r.note('v', Date.now() + 1, 'during the recompute');
    await vi.advanceTimersByTimeAsync(5_000);
    r.recomputed(['v', 'never failed']);
    await settle();
    expect(rows.map((x) => x.error)).toEqual(['a', 'during the recompute']);
    await vi.advanceTimersByTimeAsync(1_000);
    r.recomputed(['v']);
    r.note('v', Date.now(), 'after it');
    await settle();
    expect(rows.map((x) => x.error)).toEqual(['a', 'during the recompute', 'after it']);
  });

  it('after a recompute recorded elsewhere, writes a failure kept since at once and drops those before it', async () => {
    const { r, rows } = recorder(60_000);
    r.note('v', Date.now(), 'a');
    await settle();
    await vi.advanceTimersByTimeAsync(10_000);
    r.note('v', Date.now(), 'b'); // 1_010_000, kept for the interval
    r.recomputedElsewhere(new Map([['v', 999_999]])); // older than the last row: nothing
    await settle();
    expect(rows.map((x) => x.error)).toEqual(['a']);
    r.recomputedElsewhere(new Map([['v', 1_005_000]])); // b came after it: news
    await settle();
    expect(rows.map((x) => x.error)).toEqual(['a', 'b']);
    r.note('v', Date.now(), 'c'); // kept: b started a new interval
    await vi.advanceTimersByTimeAsync(5_000);
    r.recomputedElsewhere(new Map([['v', Date.now()]])); // c came before it: healed, never written
    r.note('v', Date.now() + 1, 'd');
    await settle();
    expect(rows.map((x) => x.error)).toEqual(['a', 'b', 'd']);
    expect(r.unwritten).toBe(0);
  });

  it('after a recompute by this process, a kept failure written then does not hold the next one back', async () => {
    const { r, rows } = recorder(60_000);
    r.note('v', Date.now(), 'a');
    await settle();
    r.note('v', Date.now() + 1, 'kept');
    await vi.advanceTimersByTimeAsync(1_000);
    r.recomputed(['v']);
    await settle();
    r.note('v', Date.now() + 1, 'after');
    await settle();
    expect(rows.map((x) => x.error)).toEqual(['a', 'kept', 'after']);
  });

  it('schedules nothing once closed, even when the last row is refused', async () => {
    const { r, refused, control } = recorder(60_000);
    r.note('v', Date.now(), 'a');
    await settle();
    r.note('v', Date.now(), 'b');
    control.fail = true;
    await r.close();
    expect(refused).toEqual([{ view: 'v', failures: 1 }]);
    const tries = control.writes;
    await vi.advanceTimersByTimeAsync(600_000);
    expect(control.writes).toBe(tries);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('keeps views apart', async () => {
    const { r, rows } = recorder(60_000);
    r.note('v', Date.now(), 'v1');
    r.note('w', Date.now(), 'w1');
    r.note('v', Date.now() + 1, 'v2');
    await settle();
    expect(rows).toEqual([
      { view: 'v', failures: 1, at: 1_000_000, error: 'v1' },
      { view: 'w', failures: 1, at: 1_000_000, error: 'w1' },
    ]);
    await r.close();
    expect(rows[2]).toEqual({ view: 'v', failures: 1, at: 1_000_001, error: 'v2' });
  });

  it('reports each row once it is in, with the last failure it holds', async () => {
    const { r, written } = recorder(60_000);
    r.note('v', Date.now(), 'a');
    await settle();
    r.note('v', Date.now() + 7, 'b');
    await vi.advanceTimersByTimeAsync(30_000);
    expect(written.map((w) => w.at)).toEqual([1_000_000]);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(written.map((w) => w.at)).toEqual([1_000_000, 1_000_007]);
  });

  it('close writes what the interval kept, after the write in flight', async () => {
    const { r, rows, control } = recorder(60_000);
    let release!: () => void;
    control.hold = new Promise((resolve) => {
      release = resolve;
    });
    r.note('v', Date.now(), 'a');
    r.note('v', Date.now() + 5, 'b');
    r.note('v', Date.now() + 9, 'c');
    const flushed = r.close();
    await settle();
    expect(control.writes).toBe(1);
    control.hold = undefined;
    release();
    await flushed;
    expect(rows).toEqual([
      { view: 'v', failures: 1, at: 1_000_000, error: 'a' },
      { view: 'v', failures: 2, at: 1_000_009, error: 'c' },
    ]);
  });

  it('keeps the failures of a row it could not write and writes them with the next', async () => {
    const { r, rows, refused, written, control } = recorder(60_000);
    control.fail = true;
    r.note('v', Date.now(), 'a');
    await settle();
    expect(refused).toEqual([{ view: 'v', failures: 1 }]);
    expect(r.unwritten).toBe(1);
    await vi.advanceTimersByTimeAsync(10_000);
    r.note('v', Date.now(), 'b');
    control.fail = false;
    await vi.advanceTimersByTimeAsync(49_999);
    expect(rows).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(rows).toEqual([{ view: 'v', failures: 2, at: 1_010_000, error: 'b' }]);
    expect(written).toEqual(rows);
  });

  it('with no interval writes every failure, one write at a time, and waits a second after a failed one', async () => {
    const { r, rows, control } = recorder(0);
    let release!: () => void;
    control.hold = new Promise((resolve) => {
      release = resolve;
    });
    r.note('v', Date.now(), 'a');
    r.note('v', Date.now() + 1, 'b');
    r.note('v', Date.now() + 2, 'c');
    await settle();
    expect(control.writes).toBe(1);
    control.hold = undefined;
    release();
    await settle();
    expect(rows.map((x) => [x.failures, x.error])).toEqual([
      [1, 'a'],
      [2, 'c'],
    ]);

    control.fail = true;
    r.note('v', Date.now(), 'd');
    await settle();
    const tries = control.writes;
    await vi.advanceTimersByTimeAsync(999);
    expect(control.writes).toBe(tries);
    control.fail = false;
    await vi.advanceTimersByTimeAsync(1);
    expect(rows.at(-1)).toMatchObject({ failures: 1, error: 'd' });
  });
});
