/**
 * create-view on a cluster. The single-server protocol holds the source by renaming it, which
 * would have to happen on every node at once; a cluster deploy needs the source's writers paused
 * instead, checks that they are, and checks the boundary it got:
 *
 * 1. quiet: no INSERT into the source runs on any node, and its block numbers (read from every
 *    node; those of a replicated table come from ZooKeeper and only grow) do not move for a
 *    second; otherwise the step is refused and nothing is created;
 * 2. this node fetches every part the other replicas have (SYSTEM SYNC REPLICA) and hard-links
 *    the source's partitions into a snapshot (backfill.ts);
 * 3. CREATE MATERIALIZED VIEW ... ON CLUSTER: every node has the view when it returns;
 * 4. INSERTs running on any node are waited for and the block numbers read again. Unchanged:
 *    nothing was written from 1 to 4, so the snapshot is exactly the rows no view saw, and every
 *    later INSERT fires the view. Changed (a writer resumed within that second): once no INSERT
 *    runs, the view is dropped again, its target emptied if nothing else writes it, and the step
 *    fails asking to pause ingestion.
 *
 * Not retried: dropping a view under a running INSERT fails that INSERT after it has written its
 * source (18.16 pushes to views after the table), and its writer would retry it.
 */
import { onClusterClause } from '../clickhouse/replicated-engine.ts';
import type { ApplyContext } from './apply-context.ts';
import { validateView } from './attach.ts';
import { prepareSnapshots, takeSnapshot } from './backfill.ts';
import { sameBlocks } from './cluster-nodes.ts';
import { awaitQuiet, clusterBusy } from './cluster-quiet.ts';
import { createViewSql, dropTableSql, qualified, storageName, stringLiteral } from './ddl.ts';
import { viewGraph } from './introspect.ts';
import type { Step } from './plan-types.ts';
import { fillFromShards, snapshotShards, viewOverShards } from './shard-snapshot.ts';
import { fillingView } from './view-query-error.ts';

export async function clusterCreateView(ac: ApplyContext, step: Step): Promise<void> {
  const view = step.view!;
  const { engine, ctx } = ac;
  // On a sharded cluster rows and block numbers are in the shards' tables (shard-snapshot.ts).
  const sharded = ctx.sharded === true;
  const source = storageName(view.source, ctx);
  const target = storageName(view.target, ctx);
  const columns = await validateView(engine, view, view.target);
  const busy = clusterBusy(
    [view.source],
    'on a cluster a view is created only while its source is not written',
  );
  const quiet = sharded
    ? await awaitQuiet(ac, [source, view.source], [], busy)
    : await awaitQuiet(ac, [source], [source], busy);
  const pre = sharded ? undefined : (await prepareSnapshots(engine, ctx, [view.source])).get(view.source)!;
  if (sharded) await snapshotShards(ac, view.source);
  const targetRows = await rowCount(ac, view.target);
  await engine.command(createViewSql(view, ctx));
  await ac.afterClusterViewCreated?.();
  if ((await quiet.stillQuiet()) && (!pre || sameBlocks(pre.blocks, quiet.blocks.get(source)!))) {
    if (pre) {
      ac.pending.set(view.name, { snapshot: await takeSnapshot(engine, ctx, pre, view.source), columns });
    } else {
      ac.pending.set(view.name, {
        columns,
        fill: async () => {
          await fillingView(
            view,
            fillFromShards(
              ac,
              {
                label: view.name,
                source: view.source,
                into: view.target,
                columns: columns.map((c) => c.name),
                query: viewOverShards(ctx, view),
              },
              (progress) => ac.emit({ type: 'backfill', step, progress }),
            ),
          );
        },
      });
    }
    return;
  }
  // Written meanwhile: some of those rows may have fired the view, some not.
  const written = `${view.source} was written while the view was created`;
  await quiet.waitInserts();
  await engine.command(dropTableSql(view.name, ctx));
  if (targetRows !== 0 || (await otherWriters(ac, target, view.name))) {
    throw busy(
      written,
      `; the view was dropped again, but ${view.target} ${targetRows !== 0 ? 'already held rows' : 'has other writers'}, so what the view wrote meanwhile stays there: check it for rows counted twice`,
    );
  }
  await recreateEmpty(ac, target);
  throw busy(written, '; the view was dropped again and its target emptied');
}

/**
 * Empties a replicated table on every node by dropping it and creating it again from its own
 * definition. Not TRUNCATE: on 18.16 that leaves the parts on disk for minutes, and a replica
 * killed meanwhile refuses to start (docs/reliability.md, finding 11); DROP removes the files
 * at once, and the last replica's drop frees the table's ZooKeeper path for the new one. A
 * table other views read is truncated still: dropping it could unbind them.
 */
async function recreateEmpty(ac: ApplyContext, table: string): Promise<void> {
  const { engine, ctx } = ac;
  const cluster = onClusterClause(ctx.cluster!);
  const rows = await engine.rows<{ q: string; readers: string[] }>(
    `SELECT create_table_query AS q, dependencies_table AS readers FROM system.tables WHERE database = ${stringLiteral(ctx.database)} AND name = ${stringLiteral(table)}`,
  );
  const create = rows[0]?.q;
  if (!create) return;
  const onCluster = create.replace(
    /^(CREATE TABLE\s+(?:`(?:[^`\\]|\\.)*`|[\w.]+)(?:\.(?:`(?:[^`\\]|\\.)*`|\w+))?)/,
    `$1${cluster}`,
  );
  if (onCluster === create || (rows[0]?.readers ?? []).length > 0) {
    await engine.command(`TRUNCATE TABLE ${qualified(ctx, table)}${cluster}`);
    return;
  }
  await engine.command(`DROP TABLE ${qualified(ctx, table)}${cluster}`);
  await engine.command(onCluster);
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
