/**
 * The exactly-once proofs: a view created, a target recomputed and a source rebuilt while a
 * writer keeps inserting small batches; afterwards the target's totals equal an independent
 * query over the source, and no row is lost or doubled.
 */
import { describe, expect, it } from 'vitest';
import type { Engine } from '../../src/clickhouse/engine.ts';
import type { DeployEvent } from '../../src/deploy/apply-context.ts';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import type { Project } from '../../src/project/model.ts';
import { BACKENDS } from '../support/backends.ts';
import { freshEngine, num, startWriter } from '../support/deploy-fixtures.ts';
import { datasource, eventsProject, pipe, withDatasource, withPipe } from '../support/model-builder.ts';

const BASE = 1_000_000;

async function load(engine: Engine): Promise<void> {
  // 1M rows over ~23 monthly partitions, in several inserts (several parts).
  for (let i = 0; i < 4; i++) {
    await engine.command(
      `INSERT INTO events SELECT number, concat('a', toString(number % 1000)), toDecimal64(number % 100, 2) / 4, toDateTime('2024-01-01 00:00:00') + number * 60 FROM numbers(${(i * BASE) / 4}, ${BASE / 4})`,
    );
  }
}

const row = (i: number) => {
  const id = 2 * BASE + i;
  return { id, account: `a${id % 1000}`, amount: (id % 100) / 4, ts: '2026-06-01 12:00:00' };
};

/** Totals per account from the target, and the same computed from the source independently. */
async function compare(engine: Engine, sourceExpr = 'amount', where = '1') {
  const got = await engine.rows<{ k: string; s: string; n: string }>(
    'SELECT account AS k, toString(sumMerge(total)) AS s, toString(countMerge(n)) AS n FROM totals GROUP BY account ORDER BY account',
  );
  const want = await engine.rows<{ k: string; s: string; n: string }>(
    `SELECT account AS k, toString(sum(${sourceExpr})) AS s, toString(count()) AS n FROM events WHERE ${where} GROUP BY account ORDER BY account`,
  );
  return { got, want };
}

async function deployWhileWriting(engine: Engine, project: Project, label: string) {
  // Two writers, as two ingesters would: more INSERTs in flight when a hold begins.
  const writers = [
    startWriter(engine, 'events', 200, row),
    startWriter(engine, 'events', 100, (i) => ({ ...row(i), id: 3 * BASE + i, ts: '2026-07-01 12:00:00' })),
  ];
  await new Promise((r) => setTimeout(r, 150));
  const holds: number[] = [];
  const events: DeployEvent[] = [];
  const t0 = performance.now();
  const result = await applyDeploy(project, engine, {
    onProgress: (e) => {
      events.push(e);
      if (e.type === 'hold') holds.push(e.ms);
    },
  });
  const ms = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 150));
  const done = await Promise.all(writers.map((w) => w.stop()));
  const written = {
    rows: done.reduce((n, d) => n + d.rows, 0),
    batches: done.reduce((n, d) => n + d.batches, 0),
    retries: done.reduce((n, d) => n + d.retries, 0),
  };
  console.log(
    `[${label}] deploy ${ms.toFixed(0)} ms; writers ${written.rows} rows in ${written.batches} batches, ${written.retries} retries during holds; holds ${holds.map((h) => h.toFixed(0)).join(', ')} ms`,
  );
  return { result, written, holds, events };
}

describe.each(BACKENDS)('deploy exactly once under concurrent writes [%s]', (backend) => {
  it('backfills a new view over 1M rows while a writer keeps inserting', async () => {
    const { engine, drop } = await freshEngine(backend);
    try {
      const full = eventsProject();
      expect((await applyDeploy(withPipe(full, 'totals_mv', undefined), engine)).ok).toBe(true);
      await load(engine);
      const { result, written, events } = await deployWhileWriting(engine, full, `${backend} create view`);
      expect(result.error).toBeUndefined();
      expect(result.plan.steps.map((s) => s.kind)).toEqual(['create-view', 'backfill']);
      expect(written.batches).toBeGreaterThan(0);
      const progress = events.filter((e) => e.type === 'backfill');
      expect(progress.at(-1)).toMatchObject({ progress: { rowsDone: expect.any(Number) } });
      const [c] = await engine.rows<{ n: string; u: string }>(
        'SELECT count() AS n, uniqExact(id) AS u FROM events',
      );
      expect(num(c!.n)).toBe(BASE + written.rows);
      expect(num(c!.u)).toBe(BASE + written.rows);
      const { got, want } = await compare(engine);
      expect(got.length).toBe(1000);
      expect(got).toEqual(want);
    } finally {
      await drop();
    }
  });

  it('recomputes a changed view over 1M rows while a writer keeps inserting', async () => {
    const { engine, drop } = await freshEngine(backend);
    try {
      const p1 = eventsProject();
      expect((await applyDeploy(p1, engine)).ok).toBe(true);
      await load(engine);
      const p2 = withPipe(
        p1,
        'totals_mv',
        pipe(
          'totals_mv',
          'SELECT account, sumState(amount * 3) AS total, countState() AS n FROM events WHERE id % 2 = 0 GROUP BY account',
          'totals',
        ),
      );
      const { result, written } = await deployWhileWriting(engine, p2, `${backend} replace view`);
      expect(result.error).toBeUndefined();
      expect(result.plan.steps.map((s) => s.kind)).toEqual(['replace-view']);
      const [c] = await engine.rows<{ n: string; u: string }>(
        'SELECT count() AS n, uniqExact(id) AS u FROM events',
      );
      expect([num(c!.n), num(c!.u)]).toEqual([BASE + written.rows, BASE + written.rows]);
      const { got, want } = await compare(engine, 'amount * 3', 'id % 2 = 0');
      expect(got).toEqual(want);
    } finally {
      await drop();
    }
  });

  it('a changed view whose SELECT fails on rows already in the source: the step fails in the pipe (exit 1), the live target keeps counting', async () => {
    const { engine, drop } = await freshEngine(backend);
    try {
      const p1 = eventsProject();
      expect((await applyDeploy(p1, engine)).ok).toBe(true);
      await engine.command(
        `INSERT INTO events SELECT number, concat('a', toString(number % 10)), toDecimal64(number, 2), toDateTime('2024-01-01 00:00:00') + number FROM numbers(1000)`,
      );
      // Valid SQL that ClickHouse refuses only when it reads a row: a division by zero.
      const p2 = withPipe(
        p1,
        'totals_mv',
        pipe(
          'totals_mv',
          'SELECT account, sumState(amount) AS total, countState() AS n FROM events WHERE intDiv(1, length(account) - length(account)) = 0 GROUP BY account',
          'totals',
        ),
      );
      const failed = await applyDeploy(p2, engine);
      expect(failed.ok).toBe(false);
      expect(failed.exitCode).toBe(1);
      expect(failed.error).toContain(
        'pipes/totals_mv.pipe.yaml:1:1: materialized pipe `totals_mv` failed on ClickHouse while computing totals from events: ',
      );
      expect(failed.error).toMatch(/Division by zero/);
      // The old view still feeds the old target, which has every row.
      await engine.command(
        `INSERT INTO events SELECT number, concat('a', toString(number % 10)), toDecimal64(number, 2), toDateTime('2024-01-01 00:00:00') + number FROM numbers(1000, 10)`,
      );
      const { got, want } = await compare(engine);
      expect(got).toEqual(want);
      expect(got.reduce((n, r) => n + num(r.n), 0)).toBe(1010);
      // The project as deployed before has nothing left to do.
      const again = await applyDeploy(p1, engine);
      expect([again.ok, again.changes]).toEqual([true, 0]);
    } finally {
      await drop();
    }
  });

  it('rebuilds a source over 1M rows while a writer keeps inserting; its view keeps counting', async () => {
    const { engine, drop } = await freshEngine(backend);
    try {
      const p1 = eventsProject();
      expect((await applyDeploy(p1, engine)).ok).toBe(true);
      await load(engine);
      const ev = p1.datasources.get('events')!;
      const p2 = withDatasource(
        p1,
        'events',
        datasource('events', {
          columns: ev.columns.map((c) => ({ name: c.name, type: c.type.text })),
          sortingKey: ['id'],
          partitionKey: 'toYYYYMM(ts)',
        }),
      );
      const { result, written } = await deployWhileWriting(engine, p2, `${backend} rebuild`);
      expect(result.error).toBeUndefined();
      expect(result.plan.steps.map((s) => s.kind)).toEqual(['rebuild-table']);
      const [c] = await engine.rows<{ n: string; u: string }>(
        'SELECT count() AS n, uniqExact(id) AS u FROM events',
      );
      expect(num(c!.n)).toBe(BASE + written.rows);
      expect(num(c!.u)).toBe(BASE + written.rows);
      const { got, want } = await compare(engine);
      expect(got).toEqual(want);
    } finally {
      await drop();
    }
  });

  it('stays exact over repeated deploys of each kind under two writers', async () => {
    const modes = ['create', 'replace', 'rebuild', 'create', 'replace', 'rebuild'] as const;
    for (const [round, mode] of modes.entries()) {
      const { engine, drop } = await freshEngine(backend);
      try {
        const p1 = eventsProject();
        await applyDeploy(mode === 'create' ? withPipe(p1, 'totals_mv', undefined) : p1, engine);
        await load(engine);
        const ev = p1.datasources.get('events')!;
        const p2 =
          mode === 'rebuild'
            ? withDatasource(
                p1,
                'events',
                datasource('events', {
                  columns: ev.columns.map((c) => ({ name: c.name, type: c.type.text })),
                  sortingKey: ['id'],
                  partitionKey: 'toYYYYMM(ts)',
                }),
              )
            : mode === 'replace'
              ? withPipe(
                  p1,
                  'totals_mv',
                  pipe(
                    'totals_mv',
                    'SELECT account, sumState(amount) AS total, countState() AS n FROM events WHERE id > 5 GROUP BY account',
                    'totals',
                  ),
                )
              : p1;
        const { result, written } = await deployWhileWriting(engine, p2, `${backend} ${mode} #${round}`);
        if (result.error) console.log(`[${backend} ${mode} #${round}] ${result.error}`);
        expect(result.error).toBeUndefined();
        const [c] = await engine.rows<{ n: string; u: string }>(
          'SELECT count() AS n, uniqExact(id) AS u FROM events',
        );
        expect([num(c!.n), num(c!.u)]).toEqual([BASE + written.rows, BASE + written.rows]);
        const { got, want } = await compare(engine, 'amount', mode === 'replace' ? 'id > 5' : '1');
        expect(got).toEqual(want);
      } finally {
        await drop();
      }
    }
  });
});
