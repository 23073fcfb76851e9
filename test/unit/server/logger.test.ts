import { describe, expect, it } from 'vitest';
import { createLogger, jsonLines, REDACTED, redact, redactText } from '../../../src/server/logger.ts';

describe('logger', () => {
  it('writes one JSON object per line with time, level and message, dropping levels below the minimum', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', sink: jsonLines((l) => lines.push(l)) });
    log.debug('hidden');
    log.info('request', { id: 'r1', status: 200 });
    log.child({ id: 'r2' }).error('boom', { n: 10n });
    expect(lines).toHaveLength(2);
    const [a, b] = lines.map((l) => JSON.parse(l));
    expect(a).toMatchObject({ level: 'info', msg: 'request', id: 'r1', status: 200 });
    expect(new Date(a.time).toISOString()).toBe(a.time);
    expect(b).toMatchObject({ level: 'error', msg: 'boom', id: 'r2', n: '10' });
    expect(lines.every((l) => !l.includes('\n'))).toBe(true);
    jsonLines((l) => lines.push(l))({});
    expect(Object.keys(JSON.parse(lines[2]!))).toEqual(['time']);
  });

  it('never writes a token: query params, Authorization headers, secret-named fields, errors', () => {
    const lines: string[] = [];
    const log = createLogger({ sink: jsonLines((l) => lines.push(l)) });
    log.info('request', {
      url: '/v0/pipes/x.json?a=1&token=s3cret-1&b=2',
      headers: { Authorization: 'Bearer s3cret-2', accept: '*/*' },
      token: 's3cret-3',
      nested: { password: 's3cret-4', list: ['Bearer s3cret-5'] },
      error: new Error('failed with ?token=s3cret-6'),
    });
    const text = lines.join('\n');
    for (let i = 1; i <= 6; i++) expect(text).not.toContain(`s3cret-${i}`);
    const entry = JSON.parse(lines[0]!);
    expect(entry.url).toBe(`/v0/pipes/x.json?a=1&token=${REDACTED}&b=2`);
    expect(entry.headers).toEqual({ Authorization: REDACTED, accept: '*/*' });
  });

  it('redacts the message and the bindings of a child logger too; fields win over bindings of the same name', () => {
    const lines: string[] = [];
    const log = createLogger({ sink: jsonLines((l) => lines.push(l)) }).child({
      id: 'r1',
      password: 's3cret-1',
      note: 'sent with Bearer s3cret-2',
      level: 'not-a-level',
    });
    log.warn('retrying /x?token=s3cret-3', { id: 'r2', attempt: 2 });
    const text = lines.join('\n');
    for (let i = 1; i <= 3; i++) expect(text).not.toContain(`s3cret-${i}`);
    const entry = JSON.parse(lines[0]!);
    expect(entry).toMatchObject({
      msg: `retrying /x?token=${REDACTED}`,
      id: 'r2',
      attempt: 2,
      password: REDACTED,
      note: `sent with Bearer ${REDACTED}`,
      // As before the change: what the caller gives is written as given, after level and msg.
      level: 'not-a-level',
    });
  });

  it('redacts URLs and leaves other text alone', () => {
    expect(redactText('/x?token=abc')).toBe(`/x?token=${REDACTED}`);
    expect(redactText('/x?mytoken=abc')).toBe('/x?mytoken=abc');
    expect(redact({ msg: 'a=b', n: 1, z: null })).toEqual({ msg: 'a=b', n: 1, z: null });
  });
});
