import { getQueryParam } from 'hono/utils/url';
import { describe, expect, it } from 'vitest';
import { readQuery } from '../../../src/server/read-query.ts';

const repeatedParam = (url: string) => readQuery(url).repeated;

describe('readQuery: a name given twice', () => {
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

describe('readQuery', () => {
  it('reads the first value of each name, decoded', () => {
    expect(readQuery('/v0/pipes/x.json')).toEqual({ query: {} });
    expect(readQuery('/v0/pipes/x.json?a=1%2C2&b+c=d+e')).toEqual({ query: { a: '1,2', 'b c': 'd e' } });
    expect(readQuery('http://h/v0/pipes/x.json?plan=free&plan=pro')).toEqual({
      query: { plan: 'free' },
      repeated: 'plan',
    });
  });
});

describe('readQuery: one plain pair, read without hono', () => {
  it('reads what hono reads, with and without the plain-pair shortcut', () => {
    for (const q of [
      'account_id=acc000042',
      'a=',
      'a==b',
      'a=b=c',
      '=x',
      'x',
      '',
      'ids=1,2,3',
      'q=a%20b',
      'q=a+b',
      'q=a#frag',
      '__proto__=1',
      'constructor=x',
      'toString=y',
      'é=ü',
      'a=1;b=2',
    ]) {
      const url = `/v0/pipes/x.json?${q}`;
      // Compared as plain objects: hono's has no prototype, the shortcut's (like the reader of
      // several pairs) is a plain object; the responder copies own keys either way.
      const viaHono = { ...(getQueryParam(`http://h${url}`) as Record<string, string>) };
      expect({ ...readQuery(url).query }, q).toEqual(viaHono);
      expect(Object.keys(readQuery(url).query), q).toEqual(Object.keys(viaHono));
    }
  });
});
