import { describe, expect, it } from 'vitest';
import { repeatedParam } from '../../../src/server/repeated-param.ts';

describe('repeatedParam', () => {
  it('finds the first name given twice, decoded as the query reader decodes it', () => {
    expect(repeatedParam('/v0/pipes/x.json?plan=free&plan=pro')).toBe('plan');
    expect(repeatedParam('/v0/pipes/x.json?a=1&b=2&acc%6Funt=3&account=4')).toBe('account');
    expect(repeatedParam('/v0/pipes/x.json?my+name=1&my%20name=2')).toBe('my name');
    expect(repeatedParam('/v0/pipes/x.json?flag&flag=1')).toBe('flag');
  });

  it('passes queries whose names are each given once', () => {
    for (const url of [
      '/v0/pipes/x.json',
      '/v0/pipes/x.json?a=1',
      '/v0/pipes/x.json?ids=1,2,3&limit=5&&',
      '/v0/pipes/x.json?bad%zz=1&bad%zy=2',
    ]) {
      expect(repeatedParam(url), url).toBeUndefined();
    }
  });
});
