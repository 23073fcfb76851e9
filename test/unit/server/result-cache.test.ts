import { describe, expect, it } from 'vitest';
import { ResultCache } from '../../../src/server/result-cache.ts';

describe('ResultCache', () => {
  it('coalesces identical concurrent loads into one', async () => {
    const cache = new ResultCache<number>();
    let loads = 0;
    let release!: (v: number) => void;
    const load = () => {
      loads++;
      return new Promise<number>((r) => (release = r));
    };
    const all = Promise.all([cache.get('k', 0, load), cache.get('k', 0, load), cache.get('k', 0, load)]);
    release(42);
    const results = await all;
    expect(loads).toBe(1);
    expect(results.map((r) => r.value)).toEqual([42, 42, 42]);
    expect(results.filter((r) => r.hit)).toHaveLength(2);
    // ttl 0: nothing kept once the load is over
    await cache.get('k', 0, async () => 7);
    expect(loads).toBe(1);
    expect(cache.size).toBe(0);
  });

  it('keeps a value for its TTL and then loads again', async () => {
    const cache = new ResultCache<number>();
    let n = 0;
    const load = async () => ++n;
    expect(await cache.get('a', 40, load)).toEqual({ value: 1, hit: false });
    expect(await cache.get('a', 40, load)).toEqual({ value: 1, hit: true });
    await new Promise((r) => setTimeout(r, 60));
    expect(await cache.get('a', 40, load)).toEqual({ value: 2, hit: false });
  });

  it('does not cache failures, and shares one failure with concurrent callers', async () => {
    const cache = new ResultCache<number>();
    let n = 0;
    const failing = async () => {
      n++;
      throw new Error('boom');
    };
    const r = await Promise.allSettled([cache.get('x', 1000, failing), cache.get('x', 1000, failing)]);
    expect(r.map((x) => x.status)).toEqual(['rejected', 'rejected']);
    expect(n).toBe(1);
    expect(await cache.get('x', 1000, async () => 5)).toEqual({ value: 5, hit: false });
  });

  it('stays within its entry bound', async () => {
    const cache = new ResultCache<number>(3);
    for (let i = 0; i < 10; i++) await cache.get(`k${i}`, 10_000, async () => i);
    expect(cache.size).toBe(3);
    expect((await cache.get('k9', 10_000, async () => -1)).hit).toBe(true);
    expect((await cache.get('k0', 10_000, async () => -1)).hit).toBe(false);
  });
});
