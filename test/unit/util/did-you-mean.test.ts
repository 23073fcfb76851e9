import { describe, expect, it } from 'vitest';
import { closest, didYouMean, editDistance } from '../../../src/util/did-you-mean.ts';

describe('did you mean', () => {
  it('counts insertions, deletions, substitutions and swaps as one edit each', () => {
    expect(editDistance('check', 'check')).toBe(0);
    expect(editDistance('chekc', 'check')).toBe(1);
    expect(editDistance('chec', 'check')).toBe(1);
    expect(editDistance('checks', 'check')).toBe(1);
    expect(editDistance('chack', 'check')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('suggests only plausible typos', () => {
    expect(closest('databse', ['url', 'database', 'user'])).toBe('database');
    expect(closest('DATABASE', ['database'])).toBe('database');
    expect(closest('zzz', ['database', 'url'])).toBeUndefined();
    expect(didYouMean('sortng_key', ['sorting_key', 'ttl'])).toBe(' (did you mean `sorting_key`?)');
    expect(didYouMean('x', [])).toBe('');
  });
});
