/**
 * A view of a data source that fails on an insert (here `throwIf`, as a pipe's division by zero
 * or a deploy's shadow view can) fails it after ClickHouse stored the rows in the table and in
 * the views pushed before it. The retry must not store them again: before, every retry added a
 * copy to the log and to those views.
 */
import { afterAll, expect, it } from 'vitest';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import { startIngestion } from '../../src/ingest/ingestion.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { forEachBackend } from '../support/backends.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

afterAll(removeProjects);

const project = () =>
  loadProjectOrThrow(
    writeProject({
      'tally.yaml': 'name: view-failure-test\n',
      'datasources/tx.datasource.yaml': [
        'columns:',
        '  - { name: id, type: String, json: $.id }',
        '  - { name: n, type: Int64, json: $.n }',
        'engine: { sorting_key: [id] }',
        'dedup_key: id',
      ].join('\n'),
    }),
    { env: {} },
  );

forEachBackend('a view failing on rows already stored', (ctx) => {
  it('keeps the rows once in the log, counts them at most once, and remembers their keys', async () => {
    const p = project();
    expect((await applyDeploy(p, ctx.engine)).error).toBeUndefined();
    const n = async (sql: string) => Number((await ctx.engine.rows<{ c: string | number }>(sql))[0]!.c);
    // `aa_count` is pushed before `ab_fail` on 18.16 (name order); newer servers push neither.
    await ctx.engine.command('CREATE TABLE aa_counted (id String) ENGINE = MergeTree ORDER BY id');
    await ctx.engine.command('CREATE MATERIALIZED VIEW aa_count TO aa_counted AS SELECT id FROM tx');
    await ctx.engine.command('CREATE TABLE ab_failed (id String, x UInt8) ENGINE = MergeTree ORDER BY id');
    await ctx.engine.command(
      'CREATE MATERIALIZED VIEW ab_fail TO ab_failed AS SELECT id, throwIf(n = 13) AS x FROM tx',
    );
    const logged: Array<Record<string, unknown>> = [];
    const ingestion = await startIngestion(p, ctx.engine, undefined, {
      consume: false,
      retryInitialMs: 10,
      retryMaxMs: 20,
      log: (e) => logged.push(e),
    });
    try {
      const events = Array.from({ length: 30 }, (_, i) => `{"id":"e${i}","n":${i}}`);
      const first = await ingestion.append('tx', events, { requestId: 'r1' });
      expect(first).toMatchObject({ successful_rows: 30, duplicate_rows: 0 });
      expect(await n('SELECT count() AS c FROM tx')).toBe(30);
      expect(await n('SELECT count() AS c FROM aa_counted')).toBeLessThanOrEqual(30);
      expect(logged.some((e) => e.msg === 'a materialized view failed on rows already stored')).toBe(true);
      // Kept for /health and /metrics: the view named in the server's own message.
      const tx = ingestion.stats().datasources.find((d) => d.name === 'tx')!;
      expect(Object.keys(tx.totals.viewFailures ?? {})).toEqual(['ab_fail']);
      expect(tx.totals.viewFailures!.ab_fail).toMatchObject({ failures: 1 });
      expect(tx.totals.viewFailures!.ab_fail!.error).toMatch(/throwIf/);

      // Their keys are known: sent again, they are duplicates (the failing view gone or not).
      await ctx.engine.command('DROP TABLE ab_fail');
      const again = await ingestion.append('tx', events, { requestId: 'r2' });
      expect(again).toMatchObject({ successful_rows: 0, duplicate_rows: 30 });
      expect(await n('SELECT count() AS c FROM tx')).toBe(30);
    } finally {
      await ingestion.stop();
    }
  });

  it('looks a large flush up whole: 20,000 keys, far more than a query text may hold', async () => {
    const p = project();
    expect((await applyDeploy(p, ctx.engine)).error).toBeUndefined();
    await ctx.engine.command(
      'CREATE TABLE IF NOT EXISTS ac_failed (id String, x UInt8) ENGINE = MergeTree ORDER BY id',
    );
    await ctx.engine.command(
      "CREATE MATERIALIZED VIEW IF NOT EXISTS ac_fail TO ac_failed AS SELECT id, throwIf(id = 'big-00013') AS x FROM tx",
    );
    const ingestion = await startIngestion(p, ctx.engine, undefined, {
      consume: false,
      retryInitialMs: 10,
      retryMaxMs: 20,
    });
    try {
      // 32 characters a key: quoted in a list, 20,000 of them would be 700 kB of SQL.
      const id = (i: number) => `big-${String(i).padStart(5, '0')}-${'x'.repeat(22)}`.slice(0, 32);
      const events = Array.from(
        { length: 20_000 },
        (_, i) => `{"id":"${i === 13 ? 'big-00013' : id(i)}","n":1}`,
      );
      expect(await ingestion.append('tx', events, { requestId: 'big' })).toMatchObject({
        successful_rows: 20_000,
        duplicate_rows: 0,
      });
      const [c] = await ctx.engine.rows<{ c: string | number }>(
        "SELECT count() AS c FROM tx WHERE startsWith(id, 'big-')",
      );
      expect(Number(c!.c)).toBe(20_000);
    } finally {
      await ctx.engine.command('DROP TABLE IF EXISTS ac_fail').catch(() => {});
      await ingestion.stop();
    }
  });
});
