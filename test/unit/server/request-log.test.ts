import { describe, expect, it } from 'vitest';
import { jsonLines, type LogSink, REDACTED, takesMembers } from '../../../src/server/logger.ts';
import { MetricsRegistry, serverMetrics } from '../../../src/server/metrics.ts';
import { type RequestNote, RequestTracker } from '../../../src/server/request-tracker.ts';

// The request log has two writers: JSON members made by hand for a jsonLines sink (the busy
// path), and an object for any other sink. Both must say the same thing, redacted the same way.

interface Case {
  note: Partial<RequestNote>;
  method: string;
  path: string;
  status: number;
}

const cases: Case[] = [
  {
    note: { endpoint: 'balance', cache: 'hit', freshness: 3 },
    method: 'GET',
    path: '/v0/pipes/balance.json',
    status: 200,
  },
  { note: { endpoint: '', freshness: 'unknown' }, method: 'POST', path: '/v0/pipes/nope.json', status: 404 },
  { note: {}, method: 'GET', path: '/health', status: 503 },
  {
    note: { endpoint: 'x', cache: 'miss', freshness: 0 },
    method: 'GET',
    path: '/a"b\\c\u0001\u2028é',
    status: 400,
  },
  { note: {}, method: 'GET', path: '/x?token=s3cret-1&a=1', status: 401 },
  { note: {}, method: 'GET', path: '/x Bearer s3cret-2', status: 403 },
  { note: { freshness: Number.NaN }, method: 'GET', path: '/', status: 200 },
  {
    note: {
      endpoint: 'broken',
      error: 'Code: 153. DB::Exception: Division by zero "q" \\ url?token=s3cret-3',
    },
    method: 'GET',
    path: '/v0/pipes/broken.json',
    status: 500,
  },
];

function written(sink: (out: string[]) => LogSink, c: Case): Record<string, unknown> {
  const out: string[] = [];
  const tracker = new RequestTracker(serverMetrics(new MetricsRegistry()), sink(out));
  const note = { ...tracker.begin('req-1'), ...c.note };
  tracker.end(note, c.method, c.path, c.status);
  expect(out).toHaveLength(1);
  const entry = JSON.parse(out[0]!) as Record<string, unknown>;
  delete entry.time;
  entry.ms = typeof entry.ms; // measured, so it differs between the two runs
  return entry;
}

describe('request log', () => {
  it.each(cases)('writes the same entry through a jsonLines sink as through an object sink: $path', (c) => {
    const viaMembers = written((out) => jsonLines((l) => out.push(l)), c);
    // An object sink: the entry as the tracker hands it over, serialised here.
    const viaObject = written((out) => (entry) => out.push(JSON.stringify({ time: 'x', ...entry })), c);
    expect(viaMembers).toEqual(viaObject);
    expect(viaMembers).toMatchObject({
      msg: 'request',
      id: 'req-1',
      method: c.method,
      status: c.status,
      ms: 'number',
    });
  });

  it('takes the members path for a jsonLines sink, and not for another sink', () => {
    const members: string[] = [];
    const sink = Object.assign(
      jsonLines(() => {}),
      { members: (m: string) => members.push(m) },
    );
    expect(takesMembers(sink)).toBe(true);
    expect(takesMembers(() => {})).toBe(false);
    const tracker = new RequestTracker(serverMetrics(new MetricsRegistry()), sink);
    tracker.end(tracker.begin('req-2'), 'GET', '/health', 200);
    expect(members).toHaveLength(1);
    expect(JSON.parse(`{${members[0]}}`)).toMatchObject({ id: 'req-2', path: '/health', status: 200 });
  });

  it('escapes and redacts an id that did not come from begin, as the object writer does', () => {
    const c: Case = {
      note: { id: 'x","level":"forged Bearer s3cret-9' },
      method: 'GET',
      path: '/',
      status: 200,
    };
    const viaMembers = written((out) => jsonLines((l) => out.push(l)), c);
    expect(viaMembers).toEqual(written((out) => (e) => out.push(JSON.stringify(e)), c));
    expect(viaMembers.level).toBe('info');
    expect(viaMembers.id).toBe(`x","level":"forged Bearer ${REDACTED}`);
  });

  it('writes a long path whole, redacted', () => {
    const path = `/v0/pipes/${'a'.repeat(400)}.json?token=s3cret-10`;
    const c: Case = { note: {}, method: 'GET', path, status: 404 };
    expect(written((out) => jsonLines((l) => out.push(l)), c).path).toBe(
      `/v0/pipes/${'a'.repeat(400)}.json?token=${REDACTED}`,
    );
  });

  it('never writes a token from the path, on either writer', () => {
    for (const sink of [
      (out: string[]) => jsonLines((l) => out.push(l)),
      (out: string[]) => (e: Record<string, unknown>) => out.push(JSON.stringify(e)),
    ]) {
      expect(written(sink, cases[4]!).path).toBe(`/x?token=${REDACTED}&a=1`);
      expect(written(sink, cases[5]!).path).toBe(`/x Bearer ${REDACTED}`);
      // ClickHouse's message, kept out of a guarded answer, is logged with tokens redacted.
      expect(written(sink, cases[7]!).error).toBe(
        `Code: 153. DB::Exception: Division by zero "q" \\ url?token=${REDACTED}`,
      );
    }
  });

  it('levels by status and leaves out what the request did not have', () => {
    const sink = (out: string[]) => jsonLines((l) => out.push(l));
    expect(written(sink, cases[0]!)).toEqual({
      level: 'info',
      msg: 'request',
      id: 'req-1',
      method: 'GET',
      path: '/v0/pipes/balance.json',
      status: 200,
      ms: 'number',
      endpoint: 'balance',
      cache: 'hit',
      freshness_s: 3,
    });
    expect(written(sink, cases[1]!)).toMatchObject({ level: 'warn', freshness_s: 'unknown' });
    expect(written(sink, cases[1]!)).not.toHaveProperty('endpoint');
    expect(written(sink, cases[2]!)).toEqual({
      level: 'error',
      msg: 'request',
      id: 'req-1',
      method: 'GET',
      path: '/health',
      status: 503,
      ms: 'number',
    });
  });

  it('writes no line without a sink, and still counts the request', () => {
    const registry = new MetricsRegistry();
    const tracker = new RequestTracker(serverMetrics(registry), undefined);
    const note = tracker.begin(undefined);
    note.endpoint = 'balance';
    tracker.end(note, 'GET', '/v0/pipes/balance.json', 200);
    expect(registry.render()).toMatch(/endpoint="balance",status="200"\} 1/);
  });
});
