/**
 * create-view on a cluster. The single-server protocol holds the source by renaming it, which
 * would have to happen on every node at once; a cluster deploy uses an optimistic boundary
 * instead, exact by check rather than by hold:
 *
 * 1. this node fetches every part the other replicas have (SYSTEM SYNC REPLICA), and the highest
 *    block number per partition is read from every node;
 * 2. the source's partitions are hard-linked into a snapshot on this node (backfill.ts);
 * 3. CREATE MATERIALIZED VIEW ... ON CLUSTER: every node has the view when it returns;
 * 4. INSERTs that were running on any node are waited for;
 * 5. the block numbers are read again. Unchanged: nothing was written from 1 to 5, so the snapshot
 *    is exactly the rows no view saw, and every later INSERT fires the view. Changed: the view
 *    is dropped again, the target (still empty of anything else) emptied, and it is tried again;
 *    after a few tries the step fails, saying to pause ingestion of the source.
 */
import { onClusterClause } from '../clickhouse/replicated-engine.ts';
import { TallyError } from '../errors.ts';
import type { ApplyContext } from './apply-context.ts';
import { columnsOf, validateView } from './attach.ts';
import { prepareSnapshots, takeSnapshot } from './backfill.ts';
import { clusterBlocks, sameBlocks, waitClusterInserts } from './cluster-nodes.ts';
import { createViewSql, dropTableSql, qualified } from './ddl.ts';
import { viewGraph } from './introspect.ts';
import type { Step } from './plan-types.ts';

const ATTEMPTS = 5;

export async function clusterCreateView(ac: ApplyContext, step: Step): Promise<void> {
  const view = step.view!;
  const { engine, ctx } = ac;
  const cluster = ctx.cluster!;
  const columns = await validateView(engine, view, await columnsOf(engine, ctx.database, view.target));
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    await engine.command(`SYSTEM SYNC REPLICA ${qualified(ctx, view.source)}`);
    const before = await clusterBlocks(engine, cluster, ctx.database, view.source);
    const pre = (await prepareSnapshots(engine, ctx, [view.source])).get(view.source)!;
    const targetRows = await rowCount(ac, view.target);
    await engine.command(createViewSql(view, ctx));
    await waitClusterInserts(engine, cluster, qualified(ctx, view.source), ac.holdTimeoutMs ?? 120_000);
    const after = await clusterBlocks(engine, cluster, ctx.database, view.source);
    if (sameBlocks(before, after) && sameBlocks(pre.blocks, before)) {
      const snapshot = await takeSnapshot(engine, ctx, pre, view.source);
      ac.pending.set(view.name, { snapshot, columns });
      return;
    }
    // Written meanwhile: some of those rows may have fired the view, some not.
    await engine.command(dropTableSql(view.name, ctx));
    if (targetRows !== 0 || (await otherWriters(ac, view.target, view.name))) {
      throw new TallyError(
        'cluster-busy',
        `step ${step.n} (${step.what}): ${view.source} was written on the cluster while the view was created, and ${view.target} ${targetRows !== 0 ? 'already held rows' : 'has other writers'}, so the rows the view wrote meanwhile cannot be taken out again; the view was dropped`,
        {
          exitCode: 2,
          hint: `pause ingestion of ${view.source} (stop its tally serve instances), then deploy again; check ${view.target} for rows counted twice`,
        },
      );
    }
    await engine.command(`TRUNCATE TABLE ${qualified(ctx, view.target)}${onClusterClause(cluster)}`);
    await new Promise((r) => setTimeout(r, 200 * attempt));
  }
  throw new TallyError(
    'cluster-busy',
    `step ${step.n} (${step.what}): ${view.source} was written on the cluster during each of ${ATTEMPTS} tries to create the view at an exact boundary; nothing was changed`,
    {
      exitCode: 2,
      hint: `a cluster has no write hold yet: pause ingestion of ${view.source} (stop its tally serve instances) for the deploy, then start them again`,
    },
  );
}

async function rowCount(ac: ApplyContext, table: string): Promise<number> {
  const rows = await ac.engine.rows<{ n: string | number }>(
    `SELECT count() AS n FROM ${qualified(ac.ctx, table)}`,
  );
  return Number(rows[0]?.n ?? 0);
}

/** Whether a view other than `view` writes into `target`. */
async function otherWriters(ac: ApplyContext, target: string, view: string): Promise<boolean> {
  const live = await viewGraph(ac.engine);
  return [...live.tables.values()].some(
    (t) => t.engine === 'MaterializedView' && t.viewTarget === target && t.name !== view,
  );
}
