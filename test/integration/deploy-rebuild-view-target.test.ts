/**
 * A materialized pipe's target whose table must be rebuilt (here its partition key changes),
 * while its source takes inserts: every row inserted during the deploy is counted once in the
 * new target. On ClickHouse 18.16 a rebuild's copy view does not fire on rows a view writes, so
 * the plan recomputes the target from its source instead (before, the rows written during the
 * copy were lost from the target).
 */
import { afterAll, expect, it } from 'vitest';
import { applyDeploy, planDeploy } from '../../src/deploy/deploy.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { forEachBackend } from '../support/backends.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

afterAll(removeProjects);

const files = (partition: string) => ({
  'tally.yaml': 'name: rebuild-target-test\n',
  'datasources/tx.datasource.yaml':
    'columns:\n  - { name: id, type: String }\n  - { name: account, type: String }\n  - { name: n, type: Int64 }\nengine: { sorting_key: [account, id] }\n',
  'datasources/totals.datasource.yaml': `columns:\n  - { name: account, type: String }\n  - { name: total, type: "AggregateFunction(sum, Int64)" }\nengine: { type: AggregatingMergeTree, sorting_key: [account]${partition} }\n`,
  'pipes/totals_mv.pipe.yaml':
    'nodes:\n  - name: q\n    sql: SELECT account, sumState(n) AS total FROM tx GROUP BY account\nmaterialize: { to: totals }\n',
});

forEachBackend('rebuilding the target of a view while its source takes inserts', (ctx) => {
  it('counts every row inserted during the deploy once', async () => {
    const before = loadProjectOrThrow(writeProject(files('')), { env: {} });
    expect((await applyDeploy(before, ctx.engine)).error).toBeUndefined();
    const batch = (k: number) =>
      Array.from({ length: 20 }, (_, i) => ({ id: `${k}-${i}`, account: `a${i % 5}`, n: 1 }));
    await ctx.engine.insert('tx', batch(0));

    const after = loadProjectOrThrow(writeProject(files(', partition_key: "substring(account, 1, 1)"')), {
      env: {},
    });
    const plan = await planDeploy(after, ctx.engine);
    const step = plan.steps.find((s) => s.resource === 'totals')!;
    if (!ctx.engine.capabilities.viewsFireOnViewWrites) {
      expect(step.kind).toBe('replace-view');
      expect(step.why).toMatch(/would not copy the rows totals_mv writes during a copy/);
    } else {
      expect(step.kind).toBe('rebuild-table');
    }

    let stop = false;
    let sent = 20;
    const writer = (async () => {
      for (let k = 1; !stop; k++) {
        // A hold refuses an insert (its table is renamed away) without writing it: sent again.
        for (;;) {
          try {
            await ctx.engine.insert('tx', batch(k));
            sent += 20;
            break;
          } catch {
            await new Promise((r) => setTimeout(r, 5));
          }
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const deployed = await applyDeploy(after, ctx.engine, { chunkRows: 10 });
    await new Promise((r) => setTimeout(r, 50));
    stop = true;
    await writer;
    expect(deployed.error).toBeUndefined();

    const [src] = await ctx.engine.rows<{ c: string | number }>('SELECT count() AS c FROM tx');
    expect(Number(src!.c)).toBe(sent);
    const [t] = await ctx.engine.rows<{ s: string | number }>(
      'SELECT sum(s) AS s FROM (SELECT sumMerge(total) AS s FROM totals GROUP BY account)',
    );
    expect(Number(t!.s)).toBe(sent);
  });
});
