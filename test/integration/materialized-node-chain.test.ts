/**
 * A materialized pipe of two nodes (a filter and a computed column, then the fold): the embedded
 * engine runs the view as the pipe means it; ClickHouse 18.16 would run the fold over the
 * inserted rows in place of the first node (the filter skipped, the column unknown), so deploy
 * refuses it there before creating anything.
 */
import { afterAll, expect, it } from 'vitest';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import { TallyError } from '../../src/errors.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { forEachBackend } from '../support/backends.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

afterAll(removeProjects);

const FILES = {
  'tally.yaml': 'name: node-chain-test\n',
  'datasources/orders.datasource.yaml': [
    'columns:',
    '  - { name: id, type: String }',
    '  - { name: status, type: String }',
    '  - { name: amount, type: Int64 }',
    'engine: { sorting_key: [id] }',
  ].join('\n'),
  'datasources/kept.datasource.yaml': [
    'columns:',
    '  - { name: id, type: String }',
    '  - { name: total, type: Int64 }',
    '  - { name: orders, type: UInt64 }',
    'engine: { type: SummingMergeTree, sorting_key: [id] }',
  ].join('\n'),
  'pipes/kept_mv.pipe.yaml': [
    'nodes:',
    '  - name: effective',
    "    sql: SELECT id, amount * 2 AS doubled FROM orders WHERE status != 'cancelled'",
    '  - name: fold',
    '    sql: SELECT id, sum(doubled) AS total, count() AS orders FROM effective GROUP BY id',
    'materialize: { to: kept }',
  ].join('\n'),
};

forEachBackend('a materialized pipe of two nodes', (ctx) => {
  it(
    ctx.backend === 'server'
      ? 'is refused by deploy on 18.16, at the pipe file, before any table exists'
      : 'runs its first node on every insert: the filter holds and the computed column is there',
    async () => {
      const project = loadProjectOrThrow(writeProject(FILES), { env: {} });
      if (ctx.backend === 'server' && !ctx.engine.capabilities.viewsReadSubqueries) {
        const refused = await applyDeploy(project, ctx.engine).then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(refused).toBeInstanceOf(TallyError);
        expect((refused as TallyError).code).toBe('unsupported-on-server');
        expect((refused as TallyError).format()).toMatch(
          /pipes\/kept_mv\.pipe\.yaml:\d+:\d+: materialized pipe kept_mv has 2 nodes/,
        );
        const tables = await ctx.engine.rows(
          `SELECT name FROM system.tables WHERE database = '${ctx.database}' AND name IN ('orders', 'kept')`,
        );
        expect(tables).toEqual([]);
        return;
      }
      const deployed = await applyDeploy(project, ctx.engine);
      expect(deployed.error).toBeUndefined();
      await ctx.engine.insert('orders', [
        { id: 'a', status: 'paid', amount: 5 },
        { id: 'a', status: 'cancelled', amount: 100 },
        { id: 'b', status: 'cancelled', amount: 7 },
        { id: 'a', status: 'paid', amount: 1 },
      ]);
      const rows = await ctx.engine.rows(
        'SELECT id, sum(total) AS total, sum(orders) AS orders FROM kept GROUP BY id ORDER BY id',
      );
      expect(rows).toEqual([{ id: 'a', total: 12, orders: 2 }]);
    },
  );
});
