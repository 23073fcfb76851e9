/**
 * tally_view_failures read back: a view is missing rows while it has a `failed` row newer than
 * its last `recomputed` one, whatever the order the rows came in, per view and data source.
 */
import { expect, it } from 'vitest';
import {
  readViewsMissingRows,
  recordViewFailure,
  recordViewsRecomputed,
  VIEW_FAILURES_TABLE,
  viewFailuresTableSql,
} from '../../src/clickhouse/view-failure-log.ts';
import { forEachBackend } from '../support/backends.ts';

forEachBackend('tally_view_failures', (ctx) => {
  const put = (rows: Array<[number, string, string, 'failed' | 'recomputed', string?]>) =>
    ctx.engine.command(
      `INSERT INTO ${VIEW_FAILURES_TABLE} FORMAT JSONEachRow\n${rows
        .map(([at_ms, datasource, view, kind, error]) =>
          JSON.stringify({ at_ms, datasource, view, kind, error: error ?? '', instance: 'test' }),
        )
        .join('\n')}`,
    );

  it('recording a recompute before any ingestion made the table is harmless', async () => {
    await expect(recordViewsRecomputed(ctx.engine, ['v'], Date.now())).resolves.toBeUndefined();
    await ctx.engine.command(viewFailuresTableSql(ctx.engine));
    await ctx.engine.command(viewFailuresTableSql(ctx.engine)); // idempotent
  });

  it('lists per data source the views failed since their last recompute, whatever the order of the rows', async () => {
    await ctx.engine.command(`TRUNCATE TABLE ${VIEW_FAILURES_TABLE}`);
    await put([
      [5000, 'tx', 'healed', 'failed', 'a'],
      [1000, 'tx', 'never_recomputed', 'failed', 'first'],
      [6000, '', 'healed', 'recomputed'],
      [3000, 'tx', 'failed_again', 'failed', 'before'],
      [9000, 'tx', 'never_recomputed', 'failed', 'last'],
      [4000, '', 'failed_again', 'recomputed'],
      [2000, '', 'failed_again', 'recomputed'],
      [8000, 'tx', 'failed_again', 'failed', 'after'],
      [7000, 'pages', 'other_source', 'failed', 'p'],
      [6500, '', 'recomputed_only', 'recomputed'],
    ]);
    const read = await readViewsMissingRows(ctx.engine);
    expect(Object.fromEntries([...read].map(([ds, views]) => [ds, views]))).toEqual({
      tx: {
        never_recomputed: { failures: 2, firstAt: 1000, lastAt: 9000, error: 'last' },
        failed_again: { failures: 1, firstAt: 8000, lastAt: 8000, error: 'after' },
      },
      pages: { other_source: { failures: 1, firstAt: 7000, lastAt: 7000, error: 'p' } },
    });
  });

  it('keeps a failure seen after a recompute began listed, and heals it by the next one', async () => {
    await ctx.engine.command(`TRUNCATE TABLE ${VIEW_FAILURES_TABLE}`);
    const began = Date.now();
    await recordViewFailure(ctx.engine, {
      datasource: 'tx',
      view: 'v',
      at: began + 5,
      error: 'boom',
      instance: 'i',
    });
    await recordViewsRecomputed(ctx.engine, ['v'], began);
    const read = await readViewsMissingRows(ctx.engine);
    expect(read.get('tx')?.v).toEqual({ failures: 1, firstAt: began + 5, lastAt: began + 5, error: 'boom' });
    await recordViewsRecomputed(ctx.engine, ['v'], began + 6);
    expect((await readViewsMissingRows(ctx.engine)).get('tx')).toBeUndefined();
  });

  it('deletes the rows a recompute makes moot, and only those', async () => {
    await ctx.engine.command(`TRUNCATE TABLE ${VIEW_FAILURES_TABLE}`);
    await put([
      [1000, 'tx', 'v', 'failed', 'old'],
      [2000, '', 'v', 'recomputed'],
      [3000, 'tx', 'v', 'failed', 'older than the recompute'],
      [6000, 'tx', 'v', 'failed', 'during the recompute'],
      [1000, 'tx', 'w', 'failed', 'another view'],
    ]);
    expect(await recordViewsRecomputed(ctx.engine, ['v'], 5000)).toBeUndefined();
    const left = async () =>
      (
        await ctx.engine.rows<{ at_ms: string | number; view: string; kind: string }>(
          `SELECT at_ms, view, kind FROM ${VIEW_FAILURES_TABLE} ORDER BY view, at_ms`,
        )
      ).map((r) => `${r.view} ${Number(r.at_ms)} ${r.kind}`);
    // A mutation: ClickHouse runs it in the background.
    const deadline = Date.now() + 20_000;
    while ((await left()).length > 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await left()).toEqual(['v 5000 recomputed', 'v 6000 failed', 'w 1000 failed']);
    expect((await readViewsMissingRows(ctx.engine)).get('tx')).toEqual({
      v: { failures: 1, firstAt: 6000, lastAt: 6000, error: 'during the recompute' },
      w: { failures: 1, firstAt: 1000, lastAt: 1000, error: 'another view' },
    });

    // Nothing older to delete: no mutation is started (an old server rewrites every part for one).
    const mutations = async () =>
      Number(
        (
          await ctx.engine.rows<{ n: string | number }>(
            `SELECT count() AS n FROM system.mutations WHERE database = '${ctx.engine.database}' AND table = '${VIEW_FAILURES_TABLE}'`,
          )
        )[0]!.n,
      );
    const before = await mutations();
    expect(await recordViewsRecomputed(ctx.engine, ['w2'], 9000)).toBeUndefined();
    expect(await mutations()).toBe(before);
  });
});
