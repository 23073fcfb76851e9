import { describe, expect, it } from 'vitest';
import type { Engine } from '../../../src/clickhouse/engine.ts';
import { viewsHealedBy } from '../../../src/deploy/apply.ts';
import { healableViewOf } from '../../../src/deploy/names.ts';
import { ViewFailureWatch } from '../../../src/ingest/view-failure-watch.ts';

type Row = {
  datasource: string;
  view: string;
  failures: number;
  first_ms: number;
  last_ms: number;
  error: string;
};

/** An engine whose only query is the watch's read: answers `rows()` with what the test says, or fails. */
function standIn() {
  const state = {
    answer: [] as Row[] | Error,
    /** The last recompute of each view, as the table says. */
    recomputes: [] as Array<{ view: string; at: number }>,
    reads: 0,
    /** Resolves the read in progress when set: the test decides when ClickHouse answers. */
    hold: undefined as Promise<void> | undefined,
  };
  const engine = {
    database: 'db',
    rows: async (sql: string) => {
      if (/kind = 'recomputed' GROUP BY view$/.test(sql)) return state.recomputes;
      state.reads++;
      const answer = state.answer;
      if (state.hold) await state.hold;
      if (answer instanceof Error) throw answer;
      return answer;
    },
  } as unknown as Engine;
  return { state, engine };
}

const row = (view: string, last: number): Row => ({
  datasource: 'tx',
  view,
  failures: 1,
  first_ms: last,
  last_ms: last,
  error: `${view} failed`,
});

describe('ViewFailureWatch', () => {
  it("lists what the table says, and forgets a view this process's deploy healed until a read begun after it", async () => {
    const { state, engine } = standIn();
    state.answer = [row('v', 100), row('w', 100)];
    const watch = new ViewFailureWatch(engine, () => {}, 60_000);
    await watch.start();
    expect(Object.keys(watch.missingRows('tx', undefined)).sort()).toEqual(['v', 'w']);
    expect(watch.missingRows('pages', undefined)).toEqual({});

    // A read under way while the deploy heals v: its answer, older than the heal, keeps v out.
    let answer = () => {};
    state.hold = new Promise((r) => {
      answer = r;
    });
    const reading = (watch as unknown as { read(): Promise<void> }).read();
    await new Promise((r) => setTimeout(r, 5));
    watch.healed(['v']);
    answer();
    await reading;
    expect(Object.keys(watch.missingRows('tx', undefined))).toEqual(['w']);

    // A read begun after the heal is believed: the table lists v again (it failed since).
    state.hold = undefined;
    await new Promise((r) => setTimeout(r, 5));
    await (watch as unknown as { read(): Promise<void> }).read();
    expect(Object.keys(watch.missingRows('tx', undefined)).sort()).toEqual(['v', 'w']);
    await watch.stop();
  });

  it('reads one at a time, keeps the last answer when a read fails, and says so once per error', async () => {
    const { state, engine } = standIn();
    const logged: Array<Record<string, unknown>> = [];
    state.answer = [row('v', 100)];
    const watch = new ViewFailureWatch(engine, (e) => logged.push(e), 60_000);
    await watch.start();
    const read = () => (watch as unknown as { read(): Promise<void> }).read();

    let answer = () => {};
    state.hold = new Promise((r) => {
      answer = r;
    });
    const a = read();
    const b = read();
    expect(b).toBe(a);
    answer();
    await a;
    expect(state.reads).toBe(2);

    state.hold = undefined;
    state.answer = new Error('Connection refused');
    await read();
    await read();
    expect(Object.keys(watch.missingRows('tx', undefined))).toEqual(['v']);
    expect(logged).toEqual([
      { level: 'warn', msg: 'could not read tally_view_failures', error: 'Connection refused' },
    ]);
    state.answer = new Error("Table db.tally_view_failures doesn't exist");
    await read();
    expect(logged).toHaveLength(1);
    await watch.stop();
  });

  it("adds this process's own failure the last read could not have seen", async () => {
    const { state, engine } = standIn();
    const watch = new ViewFailureWatch(engine, () => {}, 60_000);
    await watch.start();
    const now = Date.now();
    const noted = { v: { failures: 1, firstAt: now + 10, lastAt: now + 10, error: 'mine' } };
    expect(watch.missingRows('tx', noted)).toEqual({
      v: { failures: 1, firstAt: now + 10, lastAt: now + 10, error: 'mine' },
    });
    expect(state.reads).toBe(1);
    await watch.stop();
  });

  it("drops this process's own failures that a recompute run elsewhere began after, and passes the recomputes on", async () => {
    const { state, engine } = standIn();
    state.recomputes = [
      { view: 'v', at: 2000 },
      { view: 'w', at: 2000 },
    ];
    const told: Array<Map<string, number>> = [];
    const watch = new ViewFailureWatch(
      engine,
      () => {},
      60_000,
      (r) => told.push(new Map(r)),
    );
    await watch.start();
    const noted = {
      // Met before the recompute, its row still waiting for the interval: healed all the same.
      v: { failures: 3, firstAt: 500, lastAt: 1500, error: 'before' },
      // Met after it began: still missing rows, written or not.
      w: { failures: 1, firstAt: 2500, lastAt: 2500, error: 'after' },
      x: { failures: 1, firstAt: 100, lastAt: 100, error: 'never recomputed' },
    };
    expect(Object.keys(watch.missingRows('tx', noted)).sort()).toEqual(['w', 'x']);
    expect(told).toEqual([
      new Map([
        ['v', 2000],
        ['w', 2000],
      ]),
    ]);
    await watch.stop();
  });
});

describe('which views a failure and a deploy step name', () => {
  it("records a recompute shadow under its view; not a copy view, nor Tally's own", () => {
    expect(healableViewOf('account_balances_mv')).toBe('account_balances_mv');
    expect(healableViewOf('account_balances_mv__tally_next')).toBe('account_balances_mv');
    expect(healableViewOf('transactions__tally_copy')).toBeUndefined();
    expect(healableViewOf('tally_seen_transactions_mv_0a1b2c3d')).toBeUndefined();
    expect(healableViewOf('transactions__tally_hold')).toBeUndefined();
  });

  it('a recompute heals the views of its target, a dropped view heals itself, other steps nothing', () => {
    expect(viewsHealedBy({ kind: 'replace-view', resource: 'balances', also: ['a_mv', 'b_mv'] })).toEqual([
      'a_mv',
      'b_mv',
    ]);
    expect(viewsHealedBy({ kind: 'drop-view', resource: 'old_mv' })).toEqual(['old_mv']);
    expect(viewsHealedBy({ kind: 'create-view', resource: 'new_mv' })).toEqual([]);
    expect(viewsHealedBy({ kind: 'rebuild-table', resource: 'transactions' })).toEqual([]);
  });
});
