import { describe, expect, it } from 'vitest';
import type { Engine } from '../../../src/clickhouse/engine.ts';
import { FailoverEngine } from '../../../src/clickhouse/failover-engine.ts';
import { TallyError } from '../../../src/errors.ts';

const unreachable = (url: string, why: string) =>
  new TallyError('clickhouse-unreachable', `cannot reach ClickHouse at ${url}: ${why}`);

/** A server that answers with its URL, or fails as `fault()` says at the time of the call. */
function fakeServer(url: string, fault: () => string | undefined, calls: string[]): Engine {
  const answer = async (what: string) => {
    calls.push(`${url} ${what}`);
    const f = fault();
    if (f) throw unreachable(url, f);
    return url;
  };
  return {
    backend: 'server',
    capabilities: { version: '18.16.1', major: 18 } as Engine['capabilities'],
    database: 'db',
    description: `fake at ${url}`,
    query: async () => ({ meta: [], data: [await answer('query')], rows: 1 }) as never,
    rows: async () => [await answer('rows')] as never,
    text: async () => answer('text'),
    command: async () => {
      await answer('command');
    },
    insert: async () => {
      await answer('insert');
    },
    close: async () => {},
  };
}

function setup(faults: Record<string, string | undefined>) {
  const calls: string[] = [];
  const opened: string[] = [];
  const moves: string[] = [];
  const urls = ['http://a', 'http://b', 'http://c'];
  const open = async (url: string) => {
    opened.push(url);
    if (faults[`open ${url}`]) throw unreachable(url, faults[`open ${url}`]!);
    return fakeServer(url, () => faults[url], calls);
  };
  const engine = new FailoverEngine(
    urls,
    { at: 0, engine: fakeServer('http://a', () => faults['http://a'], calls) },
    open,
    { onMove: (m) => moves.push(`${m.from} -> ${m.to}`) },
  );
  return { engine, calls, opened, moves };
}

describe('FailoverEngine', () => {
  it('sends a read to the next server when the current one refuses connections, and stays there', async () => {
    const faults: Record<string, string | undefined> = { 'http://a': 'connect ECONNREFUSED 127.0.0.1:1' };
    const { engine, calls, opened, moves } = setup(faults);
    expect(await engine.rows('SELECT 1')).toEqual(['http://b']);
    expect(engine.generation).toBe(1);
    expect(engine.url).toBe('http://b');
    expect(moves).toEqual(['http://a -> http://b']);
    faults['http://a'] = undefined; // a is back: b stays current until it fails
    expect(await engine.text('SELECT 1', 'JSON')).toBe('http://b');
    expect(opened).toEqual(['http://b']);
    expect(calls).toEqual(['http://a rows', 'http://b rows', 'http://b text']);
  });

  it('retries a read whose connection broke, but not a write: the write fails and the engine moves', async () => {
    const faults: Record<string, string | undefined> = { 'http://a': 'socket hang up' };
    const { engine, calls } = setup(faults);
    expect((await engine.query('SELECT 1')).data).toEqual(['http://b']);
    faults['http://b'] = 'read ECONNRESET';
    await expect(engine.command('INSERT ...')).rejects.toThrow(/ECONNRESET/);
    // A broken write may have run: no move, the caller decides.
    expect(engine.url).toBe('http://b');
    faults['http://b'] = 'connect ECONNREFUSED';
    await expect(engine.insert('t', [{ x: 1 }])).rejects.toThrow(/ECONNREFUSED/);
    // Refused: it did not run; the engine moved, but the write is left to its caller.
    expect(engine.url).toBe('http://c');
    expect(engine.generation).toBe(2);
    await engine.command('INSERT ...');
    expect(calls.filter((c) => c.startsWith('http://c'))).toEqual(['http://c command']);
  });

  it('does not move on a timeout', async () => {
    const { engine } = setup({ 'http://a': 'Timeout error' });
    await expect(engine.rows('SELECT sleep(3)')).rejects.toThrow(/Timeout error/);
    expect(engine.generation).toBe(0);
  });

  it('skips a server it cannot open, and fails with the last error when none answers', async () => {
    const faults: Record<string, string | undefined> = {
      'http://a': 'connect ECONNREFUSED',
      'open http://b': 'connect ECONNREFUSED',
    };
    const { engine, opened } = setup(faults);
    expect(await engine.rows('SELECT 1')).toEqual(['http://c']);
    expect(opened).toEqual(['http://b', 'http://c']);
    faults['http://c'] = 'connect ECONNREFUSED';
    await expect(engine.rows('SELECT 1')).rejects.toThrow(/cannot reach ClickHouse at http:\/\/b/);
    expect(engine.generation).toBe(5);
  });

  it('passes other errors through without moving', async () => {
    const { engine } = setup({});
    const e = new FailoverEngine(
      ['http://a', 'http://b'],
      {
        at: 0,
        engine: {
          ...fakeServer('http://a', () => undefined, []),
          rows: async () => {
            throw new TallyError('clickhouse-error', 'Code: 60. Table db.x does not exist');
          },
        },
      },
      async () => {
        throw new Error('not opened');
      },
    );
    await expect(e.rows('SELECT * FROM x')).rejects.toThrow(/does not exist/);
    expect(e.generation).toBe(0);
    expect(engine.description).toBe('fake at http://a (failover: 3 servers)');
  });
});
