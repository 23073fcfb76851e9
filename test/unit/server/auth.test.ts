import { describe, expect, it } from 'vitest';
import type { TokenConfig } from '../../../src/config/config.ts';
import { presentedToken, TokenAuth } from '../../../src/server/auth.ts';
import { HttpError } from '../../../src/server/http-error.ts';

const tokens: TokenConfig[] = [
  { name: 'ops', value: 'admin-secret', scope: 'admin' },
  { name: 'dash', value: 'read-all', scope: 'read' },
  { name: 'partner', value: 'read-one', scope: 'read', endpoints: ['balance'] },
  { name: 'writer', value: 'append-tx', scope: 'append', datasources: ['transactions'] },
];

function status(fn: () => unknown): number | 'ok' {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (e instanceof HttpError) return e.status;
    throw e;
  }
}

describe('TokenAuth', () => {
  const auth = new TokenAuth(tokens);
  const ep = (name: string, required?: string) => ({
    kind: 'endpoint' as const,
    name,
    ...(required ? { required } : {}),
  });

  it('is off when no tokens are configured', () => {
    const off = new TokenAuth([]);
    expect(off.enabled).toBe(false);
    expect(status(() => off.check(undefined, ep('balance')))).toBe('ok');
  });

  it('answers 401 for a missing or unknown token', () => {
    expect(status(() => auth.check(undefined, ep('balance')))).toBe(401);
    expect(status(() => auth.check('nope', ep('balance')))).toBe(401);
    expect(status(() => auth.check('read-al', ep('balance')))).toBe(401);
    expect(status(() => auth.check('read-all ', ep('balance')))).toBe(401);
  });

  it('lets admin do everything', () => {
    expect(status(() => auth.check('admin-secret', ep('anything', 'partner')))).toBe('ok');
    expect(status(() => auth.check('admin-secret', { kind: 'append', datasource: 'x' }))).toBe('ok');
    expect(status(() => auth.check('admin-secret', { kind: 'admin' }))).toBe('ok');
  });

  it('limits read tokens to their endpoints and append tokens to their data sources (403)', () => {
    expect(status(() => auth.check('read-all', ep('balance')))).toBe('ok');
    expect(status(() => auth.check('read-one', ep('balance')))).toBe('ok');
    expect(status(() => auth.check('read-one', ep('attribution')))).toBe(403);
    expect(status(() => auth.check('read-all', { kind: 'append', datasource: 'transactions' }))).toBe(403);
    expect(status(() => auth.check('append-tx', { kind: 'append', datasource: 'transactions' }))).toBe('ok');
    expect(status(() => auth.check('append-tx', { kind: 'append', datasource: 'page_events' }))).toBe(403);
    expect(status(() => auth.check('append-tx', ep('balance')))).toBe(403);
    expect(status(() => auth.check('read-all', { kind: 'admin' }))).toBe(403);
  });

  it('restricts an endpoint that names a token to that token', () => {
    expect(status(() => auth.check('read-one', ep('balance', 'partner')))).toBe('ok');
    expect(status(() => auth.check('read-all', ep('balance', 'partner')))).toBe(403);
    expect(status(() => auth.check('read-all', ep('balance', 'read')))).toBe('ok');
  });

  it('lists the endpoints a token may call, by the same rules as check (401 without one)', () => {
    const endpoints = [
      { name: 'attribution' },
      { name: 'balance', token: 'partner' },
      { name: 'history', token: 'read' },
    ];
    const names = (t: string | undefined) => auth.callable(t, endpoints).map((e) => e.name);
    expect(names('admin-secret')).toEqual(['attribution', 'balance', 'history']);
    expect(names('read-all')).toEqual(['attribution', 'history']);
    expect(names('read-one')).toEqual(['balance']);
    expect(names('append-tx')).toEqual([]);
    for (const e of endpoints) {
      for (const t of ['admin-secret', 'read-all', 'read-one', 'append-tx']) {
        const listed = names(t).includes(e.name);
        expect(
          status(() => auth.check(t, ep(e.name, e.token))),
          `${t} ${e.name}`,
        ).toBe(listed ? 'ok' : 403);
      }
    }
    expect(status(() => auth.callable(undefined, endpoints))).toBe(401);
    expect(status(() => auth.callable('nope', endpoints))).toBe(401);
    expect(new TokenAuth([]).callable(undefined, endpoints)).toEqual(endpoints);
  });

  it('never puts the presented token in an error message', () => {
    for (const t of ['s3cr3t-value', 'read-one']) {
      let thrown: unknown;
      try {
        auth.check(t, ep('attribution'));
      } catch (e) {
        thrown = e;
      }
      // Refused (401 for an unknown token, 403 for one of another scope), without saying it.
      expect(thrown, t).toBeInstanceOf(HttpError);
      expect(String((thrown as Error).message)).not.toContain(t);
    }
  });

  it('reads Bearer headers and ?token=', () => {
    expect(presentedToken('Bearer abc', undefined)).toBe('abc');
    expect(presentedToken('bearer   abc  ', undefined)).toBe('abc');
    expect(presentedToken(undefined, 'q')).toBe('q');
    expect(presentedToken('Basic xyz', undefined)).toBeUndefined();
    expect(presentedToken(undefined, '')).toBeUndefined();
  });
});
