import { afterEach, describe, expect, it, vi } from 'vitest';
import { settledWithin } from '../../../src/util/settled-within.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('settledWithin', () => {
  it('is true when the promise settles first, and leaves no timer behind', async () => {
    vi.useFakeTimers();
    const p = new Promise((resolve) => setTimeout(resolve, 100));
    const r = settledWithin(p, 1000);
    await vi.advanceTimersByTimeAsync(100);
    expect(await r).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('counts a rejection as settled', async () => {
    expect(await settledWithin(Promise.reject(new Error('no')), 1000)).toBe(true);
  });

  it('is false when the time runs out first', async () => {
    vi.useFakeTimers();
    const r = settledWithin(new Promise(() => {}), 1000);
    await vi.advanceTimersByTimeAsync(1000);
    expect(await r).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });
});
