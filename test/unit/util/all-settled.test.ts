import { describe, expect, it } from 'vitest';
import { allSettledOrThrow } from '../../../src/util/all-settled.ts';

describe('allSettledOrThrow', () => {
  it('returns every value in order', async () => {
    expect(await allSettledOrThrow([Promise.resolve(1), Promise.resolve('a')] as const)).toEqual([1, 'a']);
  });

  it('throws the first failure only once the slower work has finished', async () => {
    let slowDone = false;
    const slow = new Promise<void>((r) =>
      setTimeout(() => {
        slowDone = true;
        r();
      }, 30),
    );
    await expect(
      allSettledOrThrow([Promise.reject(new Error('fast failure')), slow] as const),
    ).rejects.toThrow('fast failure');
    expect(slowDone).toBe(true);
  });
});
