/**
 * A view failing on every flush adds at most one tally_view_failures row a minute per process:
 * the first failure at once, the ones after it as one row (their count, the last one's time and
 * message) when the minute ends or the process stops. A table made by an earlier version (no
 * `failures` column) is brought up to date, its rows counting one failure each.
 */
import { afterAll, expect, it } from 'vitest';
import {
  ensureViewFailuresTable,
  readViewsMissingRows,
  recordViewFailure,
  recordViewsRecomputed,
  VIEW_FAILURES_TABLE,
} from '../../src/clickhouse/view-failure-log.ts';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import { startIngestion } from '../../src/ingest/ingestion.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { forEachBackend } from '../support/backends.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

afterAll(removeProjects);

const FILES: Record<string, string> = {
  'tally.yaml': 'name: view-failure-rows-test\n',
  'datasources/tx.datasource.yaml':
    'columns:\n  - { name: id, type: String, json: $.id }\n  - { name: n, type: Int64, json: $.n }\nengine: { sorting_key: [id] }\ndedup_key: id\n',
  'datasources/checked.datasource.yaml':
    'columns:\n  - { name: id, type: String }\n  - { name: n, type: Int64 }\n  - { name: checked, type: UInt8 }\nengine: { sorting_key: [id] }\n',
  'pipes/checks.pipe.yaml':
    'nodes:\n  - name: q\n    sql: SELECT id, n, throwIf(n = 13) AS checked FROM tx\nmaterialize: { to: checked }\n',
};

forEachBackend('tally_view_failures rows of a view failing on every flush', (ctx) => {
  const failedRows = () =>
    ctx.engine.rows<{ at_ms: string | number; failures: string | number; error: string }>(
      `SELECT at_ms, failures, error FROM ${VIEW_FAILURES_TABLE} WHERE view = 'checks' AND kind = 'failed' ORDER BY at_ms`,
    );

  it('writes the first failure at once and the rest as one row at the stop', async () => {
    const project = loadProjectOrThrow(writeProject(FILES), { env: {} });
    const deployed = await applyDeploy(project, ctx.engine);
    expect(deployed.ok, deployed.error).toBe(true);
    await ctx.engine.command(`TRUNCATE TABLE IF EXISTS ${VIEW_FAILURES_TABLE}`);
    const ingestion = await startIngestion(project, ctx.engine, undefined, { consume: false });
    const stamps: number[] = [];
    try {
      for (let i = 0; i < 5; i++) {
        const before = Date.now();
        const r = await ingestion.append('tx', [`{"id":"bad${i}","n":13}`], { requestId: `r${i}` });
        expect(r).toMatchObject({ successful_rows: 1 });
        stamps.push(before);
      }
      const tx = () => ingestion.stats().datasources.find((d) => d.name === 'tx')!;
      expect(tx().totals.viewFailures?.checks).toMatchObject({ failures: 5 });
      // The first row is written as the failure is met; the four after it wait for the minute.
      const deadline = Date.now() + 10_000;
      while ((await failedRows()).length === 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      const first = await failedRows();
      expect(first.map((r) => Number(r.failures))).toEqual([1]);
      // This process lists all five meanwhile.
      expect(tx().viewsMissingRows.checks).toMatchObject({ failures: 5 });
    } finally {
      await ingestion.stop();
    }
    const rows = await failedRows();
    expect(rows.map((r) => Number(r.failures))).toEqual([1, 4]);
    // The second row carries the last failure's own time, not the stop's.
    expect(Number(rows[1]!.at_ms)).toBeGreaterThanOrEqual(stamps[4]!);
    expect(rows[1]!.error).toMatch(/throwIf|13/);
    const read = await readViewsMissingRows(ctx.engine);
    expect(read.get('tx')?.checks).toMatchObject({ failures: 5, firstAt: Number(rows[0]!.at_ms) });
  });

  it('after a recompute recorded elsewhere, writes the next failure within a read of the table, and lists only that', async () => {
    const project = loadProjectOrThrow(writeProject(FILES), { env: {} });
    expect((await applyDeploy(project, ctx.engine)).ok).toBe(true);
    await ctx.engine.command(`TRUNCATE TABLE IF EXISTS ${VIEW_FAILURES_TABLE}`);
    const ingestion = await startIngestion(project, ctx.engine, undefined, {
      consume: false,
      instance: 'a',
      viewFailuresReadMs: 100,
    });
    const tx = () => ingestion.stats().datasources.find((d) => d.name === 'tx')!;
    try {
      await ingestion.append('tx', ['{"id":"r0","n":13}'], { requestId: 'r0' });
      await ingestion.append('tx', ['{"id":"r1","n":13}'], { requestId: 'r1' });
      let deadline = Date.now() + 10_000;
      while ((await failedRows()).length === 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      // Another process recomputes the target (as `tally replay --apply` does): both are healed,
      // the one whose row still waits for the minute too.
      await recordViewsRecomputed(ctx.engine, ['checks'], Date.now());
      deadline = Date.now() + 10_000;
      while (tx().viewsMissingRows.checks !== undefined && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      expect(tx().viewsMissingRows).toEqual({});
      // A failure after it is written at once, not at the minute's end.
      const after = Date.now();
      await ingestion.append('tx', ['{"id":"r2","n":13}'], { requestId: 'r2' });
      deadline = Date.now() + 10_000;
      while (!(await failedRows()).some((r) => Number(r.at_ms) >= after) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      const read = await readViewsMissingRows(ctx.engine);
      expect(read.get('tx')?.checks).toMatchObject({ failures: 1 });
      expect(read.get('tx')!.checks!.lastAt).toBeGreaterThanOrEqual(after);
      expect(tx().viewsMissingRows.checks).toBeDefined();
    } finally {
      await ingestion.stop();
    }
  });

  it('adds the failures column to a table an earlier version made, its rows counting one each', async () => {
    await ctx.engine.command(`DROP TABLE IF EXISTS ${VIEW_FAILURES_TABLE}`);
    await ctx.engine.command(
      `CREATE TABLE ${VIEW_FAILURES_TABLE} (at_ms UInt64, datasource String, view String, kind String, error String, instance String) ENGINE = MergeTree ORDER BY (view, at_ms)`,
    );
    await ctx.engine.command(
      `INSERT INTO ${VIEW_FAILURES_TABLE} FORMAT JSONEachRow\n${[1000, 2000]
        .map((at) =>
          JSON.stringify({
            at_ms: at,
            datasource: 'tx',
            view: 'v',
            kind: 'failed',
            error: 'old',
            instance: 'i',
          }),
        )
        .join('\n')}`,
    );
    await ensureViewFailuresTable(ctx.engine);
    await ensureViewFailuresTable(ctx.engine); // nothing left to do
    await recordViewFailure(ctx.engine, {
      datasource: 'tx',
      view: 'v',
      at: 3000,
      error: 'new',
      instance: 'i',
      failures: 7,
    });
    expect((await readViewsMissingRows(ctx.engine)).get('tx')?.v).toEqual({
      failures: 9,
      firstAt: 1000,
      lastAt: 3000,
      error: 'new',
    });
  });
});
