import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ViewFailureRecorder, type ViewFailureRow } from '../../../src/ingest/view-failure-recorder.ts';

/** A recorder on fake timers whose writes the test sees, and fails or holds when it says so. */
function recorder(everyMs: number) {
  const rows: ViewFailureRow[] = [];
  const refused: Array<{ view: string; failures: number }> = [];
  const control = { fail: false, hold: undefined as Promise<void> | undefined, writes: 0 };
  const r = new ViewFailureRecorder({
    everyMs,
    write: async (row) => {
      control.writes++;
      if (control.hold) await control.hold;
      if (control.fail) throw new Error('ClickHouse is away');
      rows.push(row);
    },
    writeFailed: (view, failures) => refused.push({ view, failures }),
  });
  return { r, rows, refused, control };
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
    void r.note('v', Date.now(), 'first');
    await settle();
    expect(rows).toEqual([{ view: 'v', failures: 1, at: 1_000_000, error: 'first' }]);

    for (let i = 1; i <= 50; i++) {
      await vi.advanceTimersByTimeAsync(1000);
      void r.note('v', Date.now(), `failure ${i}`);
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
    void r.note('v', Date.now(), 'a');
    await vi.advanceTimersByTimeAsync(61_000);
    void r.note('v', Date.now(), 'b');
    await settle();
    expect(rows.map((x) => x.error)).toEqual(['a', 'b']);
  });

  it('after a recompute by this process, writes what it kept and the next failure at once', async () => {
    const { r, rows } = recorder(60_000);
    void r.note('v', Date.now(), 'a');
    await settle();
    void r.note('v', Date.now() + 1, 'during the recompute');
    await vi.advanceTimersByTimeAsync(5_000);
    r.recomputed(['v', 'never failed']);
    await settle();
    expect(rows.map((x) => x.error)).toEqual(['a', 'during the recompute']);
    await vi.advanceTimersByTimeAsync(1_000);
    r.recomputed(['v']);
    void r.note('v', Date.now(), 'after it');
    await settle();
    expect(rows.map((x) => x.error)).toEqual(['a', 'during the recompute', 'after it']);
  });

  it('keeps views apart', async () => {
    const { r, rows } = recorder(60_000);
    void r.note('v', Date.now(), 'v1');
    void r.note('w', Date.now(), 'w1');
    void r.note('v', Date.now() + 1, 'v2');
    await settle();
    expect(rows).toEqual([
      { view: 'v', failures: 1, at: 1_000_000, error: 'v1' },
      { view: 'w', failures: 1, at: 1_000_000, error: 'w1' },
    ]);
    await r.flush();
    expect(rows[2]).toEqual({ view: 'v', failures: 1, at: 1_000_001, error: 'v2' });
  });

  it('resolves a failure once a row holding it is written', async () => {
    const { r } = recorder(60_000);
    const first = vi.fn();
    const second = vi.fn();
    void r.note('v', Date.now(), 'a').then(first);
    await settle();
    void r.note('v', Date.now(), 'b').then(second);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(first).toHaveBeenCalled();
    expect(second).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(second).toHaveBeenCalled();
  });

  it('flush writes what the interval kept, after the write in flight', async () => {
    const { r, rows, control } = recorder(60_000);
    let release!: () => void;
    control.hold = new Promise((resolve) => {
      release = resolve;
    });
    void r.note('v', Date.now(), 'a');
    void r.note('v', Date.now() + 5, 'b');
    void r.note('v', Date.now() + 9, 'c');
    const flushed = r.flush();
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
    const { r, rows, refused, control } = recorder(60_000);
    control.fail = true;
    const done = vi.fn();
    void r.note('v', Date.now(), 'a').then(done);
    await settle();
    expect(refused).toEqual([{ view: 'v', failures: 1 }]);
    expect(r.unwritten).toBe(1);
    await vi.advanceTimersByTimeAsync(10_000);
    void r.note('v', Date.now(), 'b');
    control.fail = false;
    await vi.advanceTimersByTimeAsync(49_999);
    expect(rows).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(rows).toEqual([{ view: 'v', failures: 2, at: 1_010_000, error: 'b' }]);
    expect(done).toHaveBeenCalled();
  });

  it('with no interval writes every failure, one write at a time, and waits a second after a failed one', async () => {
    const { r, rows, control } = recorder(0);
    let release!: () => void;
    control.hold = new Promise((resolve) => {
      release = resolve;
    });
    void r.note('v', Date.now(), 'a');
    void r.note('v', Date.now() + 1, 'b');
    void r.note('v', Date.now() + 2, 'c');
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
    void r.note('v', Date.now(), 'd');
    await settle();
    const tries = control.writes;
    await vi.advanceTimersByTimeAsync(999);
    expect(control.writes).toBe(tries);
    control.fail = false;
    await vi.advanceTimersByTimeAsync(1);
    expect(rows.at(-1)).toMatchObject({ failures: 1, error: 'd' });
  });
});
