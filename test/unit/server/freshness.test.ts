import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Engine } from '../../../src/clickhouse/engine.ts';
import { loadProjectOrThrow } from '../../../src/project/load-project.ts';
import { dataSourcesRead, FreshnessTracker } from '../../../src/server/freshness.ts';

const REPO = resolve(import.meta.dirname, '..', '..', '..');
const example = loadProjectOrThrow(REPO, { env: {} });

/** An engine that answers the two queries the tracker sends, and counts them. */
function fakeEngine(log: Array<{ datasource: string; t: number }> | 'no-table' | 'fail') {
  const calls: string[] = [];
  const engine = {
    database: 'tally',
    async rows(sql: string) {
      calls.push(sql);
      if (sql.includes('system.tables')) return [{ n: log === 'no-table' ? 0 : 1 }];
      if (log === 'fail') throw new Error('boom');
      if (log === 'no-table') throw new Error('unexpected');
      return log;
    },
  } as unknown as Engine;
  return { engine, calls };
}

describe('dataSourcesRead', () => {
  it('follows materialized data sources to the data sources that feed them', () => {
    // balance reads balance_snapshots, which the copy pipe fills from transactions.
    expect(dataSourcesRead(example, 'balance')).toEqual(['balance_snapshots', 'transactions']);
    expect(dataSourcesRead(example, 'balances_snapshot')).toEqual(['account_balances', 'transactions']);
    expect(dataSourcesRead(example, 'subscription_status')).toEqual([
      'subscription_events',
      'subscription_state',
      'subscription_status_snapshots',
    ]);
    expect(dataSourcesRead(example, 'attribution')).toEqual(['page_events']);
    expect(dataSourcesRead(example, 'no_such_pipe')).toEqual([]);
  });
});

describe('FreshnessTracker', () => {
  const NOW = 1_700_000_000_000;

  it('measures the stalest data source with a known last batch, in whole seconds', async () => {
    const { engine } = fakeEngine([
      { datasource: 'transactions', t: NOW / 1000 - 42 },
      { datasource: 'page_events', t: NOW / 1000 - 5 },
    ]);
    const tracker = new FreshnessTracker({ now: () => NOW });
    expect(await tracker.measure(example, engine, 'balances_snapshot')).toEqual({
      seconds: 42,
      sources: { account_balances: null, transactions: 42 },
    });
    expect((await tracker.measure(example, engine, 'attribution')).seconds).toBe(5);
    // never ingested: unknown
    expect(await tracker.measure(example, engine, 'subscription_status')).toEqual({
      seconds: undefined,
      sources: { subscription_events: null, subscription_state: null, subscription_status_snapshots: null },
    });
  });

  it('is unknown when the ops log does not exist yet, or cannot be read', async () => {
    const none = fakeEngine('no-table');
    expect(
      (await new FreshnessTracker({ now: () => NOW }).measure(example, none.engine, 'balance')).seconds,
    ).toBe(undefined);
    const errors: unknown[] = [];
    const failing = fakeEngine('fail');
    const t = new FreshnessTracker({ now: () => NOW, onError: (e) => errors.push(e) });
    expect((await t.measure(example, failing.engine, 'balance')).seconds).toBe(undefined);
    expect(errors).toHaveLength(1);
  });

  it('reads the ops log once per ttl for all requests, concurrent ones included', async () => {
    let now = NOW;
    const { engine, calls } = fakeEngine([{ datasource: 'transactions', t: NOW / 1000 - 1 }]);
    const tracker = new FreshnessTracker({ now: () => now, ttlMs: 1000 });
    await Promise.all(Array.from({ length: 50 }, () => tracker.measure(example, engine, 'balance')));
    const logReads = () =>
      calls.filter((c) => c.includes('tally_ingest_log') && !c.includes('system.tables')).length;
    expect(logReads()).toBe(1);
    now += 999;
    expect((await tracker.measure(example, engine, 'balance')).seconds).toBe(1);
    expect(logReads()).toBe(1);
    now += 2;
    expect((await tracker.measure(example, engine, 'balance')).seconds).toBe(2);
    expect(logReads()).toBe(2);
    // the table's existence is checked once
    expect(calls.filter((c) => c.includes('system.tables'))).toHaveLength(1);
  });

  it('takes a newer caught-up report from the ingester over the last batch', async () => {
    const { engine } = fakeEngine([{ datasource: 'transactions', t: NOW / 1000 - 600 }]);
    const tracker = new FreshnessTracker({
      now: () => NOW,
      caughtUp: (ds) => (ds === 'transactions' ? NOW - 3000 : ds === 'page_events' ? NOW - 9000 : undefined),
    });
    expect((await tracker.measure(example, engine, 'balance')).seconds).toBe(3);
    expect((await tracker.measure(example, engine, 'attribution')).seconds).toBe(9);
  });

  it('while the ingester has no lag figures yet, waits for them instead of judging by the last batch', async () => {
    const { engine } = fakeEngine([{ datasource: 'transactions', t: NOW / 1000 - 600 }]);
    let caughtUpAt: number | undefined;
    let answer: () => void = () => {};
    let pending: Promise<void> | undefined = new Promise<void>((r) => {
      answer = r;
    });
    const tracker = new FreshnessTracker({
      now: () => NOW,
      caughtUp: () => caughtUpAt,
      ready: () => pending,
    });
    let measured: number | undefined | 'waiting' = 'waiting';
    const m = tracker.measure(example, engine, 'balance').then((f) => {
      measured = f.seconds;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(measured).toBe('waiting');
    // The broker's first answer: the idle topic is fully stored.
    caughtUpAt = NOW - 1000;
    pending = undefined;
    answer();
    await m;
    expect(measured).toBe(1);
  });

  it('answers without waiting only from a settled read within the ttl, and never while start-up is pending', async () => {
    let now = NOW;
    const { engine } = fakeEngine([{ datasource: 'transactions', t: NOW / 1000 - 7 }]);
    let pending: Promise<void> | undefined;
    const tracker = new FreshnessTracker({ now: () => now, ttlMs: 1000, ready: () => pending });
    // Nothing read yet: it cannot answer now, and starts the read.
    expect(tracker.measureNow(example, engine, 'balance')).toBeUndefined();
    expect(await tracker.measure(example, engine, 'balance')).toEqual(
      tracker.measureNow(example, engine, 'balance'),
    );
    expect(tracker.measureNow(example, engine, 'balance')?.seconds).toBe(7);
    // A pipe that reads no data source needs no read at all.
    expect(tracker.measureNow(example, engine, 'no_such_pipe')).toEqual({ seconds: undefined, sources: {} });
    // Past the ttl the read starts again; until it settles, only `measure` answers.
    now += 1001;
    expect(tracker.measureNow(example, engine, 'balance')).toBeUndefined();
    expect((await tracker.measure(example, engine, 'balance')).seconds).toBe(8);
    expect(tracker.measureNow(example, engine, 'balance')?.seconds).toBe(8);
    pending = new Promise<void>(() => {});
    expect(tracker.measureNow(example, engine, 'balance')).toBeUndefined();
  });
});
