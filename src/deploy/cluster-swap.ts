/**
 * rebuild-table and replace-view on a cluster. Both build a new table next to the live one and
 * swap it in; on one server a write hold makes the swap exact while writers keep going. On a
 * cluster the writers must be paused instead (cluster-quiet.ts), and the step checks it at three
 * points:
 *
 * 1. quiet: nothing writes the tables (and what feeds them) for a second; otherwise the step is
 *    refused with nothing changed;
 * 2. the new table is created ON CLUSTER (with a ZooKeeper path of its own: a replicated table
 *    keeps its path when renamed), and filled on this node from a snapshot of the rows, which the
 *    other replicas fetch; still quiet, or the new table is dropped and nothing was swapped;
 * 3. the swap, ON CLUSTER: RENAME the live table to its backup and the new one into its place
 *    (on 18.16 views bind by name, so the views reading it follow); for a recompute the old views
 *    are dropped first and the new ones created after. Still quiet, or the step fails saying what
 *    may be missing and how it is put right.
 */
import { TallyError } from '../errors.ts';
import type { ApplyContext } from './apply-context.ts';
import { validateView } from './attach.ts';
import { fillFromSnapshot, prepareSnapshots, type Snapshot, takeSnapshot } from './backfill.ts';
import { sameBlocks } from './cluster-nodes.ts';
import { awaitQuiet, clusterBusy } from './cluster-quiet.ts';
import { createTableSql, createViewSql, dropTableSql, qualified, renameSql } from './ddl.ts';
import { feedingClosure } from './hold.ts';
import { introspect, viewGraph } from './introspect.ts';
import { backupName, nextName, nextPathName } from './names.ts';
import type { Step } from './plan-types.ts';
import { copyColumns } from './rebuild.ts';
import { fill } from './view-steps.ts';

export async function clusterReplaceView(ac: ApplyContext, step: Step): Promise<void> {
  const { engine, ctx } = ac;
  const views = step.views!;
  const spec = step.targetSpec!;
  const target = spec.name;
  const next = nextName(target);
  const sources = [...new Set(views.map((v) => v.source))];
  const watched = feedingClosure(await viewGraph(engine), sources);
  const busy = clusterBusy(
    step,
    watched,
    `on a cluster ${target} is recomputed only while ${sources.join(', ')} ${sources.length === 1 ? 'is' : 'are'} not written`,
  );
  const quiet = await awaitQuiet(ac, watched, sources, busy);

  await engine.command(dropTableSql(next, ctx));
  await engine.command(createTableSql(spec, ctx, next, nextPathName(target, ac.deployId)));
  const columns = new Map(
    await Promise.all(views.map(async (v) => [v.name, await validateView(engine, v, next)] as const)),
  );
  const snapshots = await snapshotsOf(ac, sources);
  for (const v of views)
    await fill(ac, step, v, snapshots.get(v.source)!, columns.get(v.name)!, qualified(ctx, next));
  if (!(await quiet.stillQuiet()))
    throw busy(
      `${sources.join(', ')} written while ${target} was recomputed`,
      '; nothing was swapped in (the new table is dropped)',
    );

  const writers = [...(await viewGraph(engine)).tables.values()].filter(
    (t) => t.engine === 'MaterializedView' && t.viewTarget === target,
  );
  await ac.beforeClusterSwap?.();
  for (const w of writers) await engine.command(dropTableSql(w.name, ctx));
  await engine.command(
    renameSql(
      [
        [target, backupName(target, ac.deployId)],
        [next, target],
      ],
      ctx,
    ),
  );
  for (const v of views) await engine.command(createViewSql(v, ctx));
  if (!(await quiet.stillQuiet())) {
    // The step fails, so no deploy records these views complete: the next one recomputes again.
    throw busy(
      `${sources.join(', ')} written while ${target} was swapped in`,
      `; rows written between the old views' drop and the new views' creation may be missing from ${target}, so this deploy is not recorded complete and the next one recomputes ${target} again`,
    );
  }
}

export async function clusterRebuildTable(ac: ApplyContext, step: Step): Promise<void> {
  const { engine, ctx } = ac;
  const spec = step.tables![0]!;
  const table = spec.name;
  const next = nextName(table);
  const backup = backupName(table, ac.deployId);
  const live = await introspect(engine);
  const current = live.tables.get(table);
  if (!current) throw new Error(`table ${table} disappeared before its rebuild`);
  const { kept, select } = copyColumns(spec, current);
  const watched = feedingClosure(live, [table]);
  const busy = clusterBusy(step, watched, `on a cluster ${table} is rebuilt only while it is not written`);
  const quiet = await awaitQuiet(ac, watched, [table], busy);

  await engine.command(dropTableSql(next, ctx));
  await engine.command(createTableSql(spec, ctx, next, nextPathName(table, ac.deployId)));
  // A conversion that cannot work fails here, before anything is copied or swapped.
  await engine.query(`${select(qualified(ctx, table))} LIMIT 0`);
  const snapshot = (await snapshotsOf(ac, [table])).get(table)!;
  await fillFromSnapshot(
    engine,
    snapshot,
    qualified(ctx, next),
    kept.map((c) => c.name),
    select(snapshot.readAs),
    {
      label: table,
      ...(ac.chunkRows ? { chunkRows: ac.chunkRows } : {}),
      onProgress: (progress) => ac.emit({ type: 'backfill', step, progress }),
    },
  );
  if (!(await quiet.stillQuiet()))
    throw busy(
      `${table} was written while it was copied`,
      '; nothing was swapped in (the new table is dropped)',
    );

  await ac.beforeClusterSwap?.();
  await engine.command(
    renameSql(
      [
        [table, backup],
        [next, table],
      ],
      ctx,
    ),
  );
  // Writes that started before the rename went to the old table, now the backup.
  await quiet.waitInserts();
  const old = (await quiet.read([backup])).get(backup)!;
  if (!sameBlocks(old, quiet.blocks.get(table)!)) {
    const late = [...old].filter(([p, n]) => n !== quiet.blocks.get(table)!.get(p)).map(([p]) => p);
    throw new TallyError(
      'cluster-busy',
      `step ${step.n} (${step.what}): ${table} was written between the last check and the swap, so the rows of those INSERTs (partition${late.length === 1 ? '' : 's'} ${late.join(', ')}) are in ${backup} only`,
      {
        exitCode: 2,
        hint: `copy them into ${table} before the next deploy drops ${backup} (SELECT ... FROM ${qualified(ctx, backup)} WHERE _part IN the parts of those partitions with max_block_number above those in ${table}'s snapshot), and pause ingestion of ${watched.join(', ')} for deploys that rebuild`,
      },
    );
  }
}

/** Snapshots of `sources` on this node, which has fetched every part (awaitQuiet synced them). */
async function snapshotsOf(ac: ApplyContext, sources: readonly string[]): Promise<Map<string, Snapshot>> {
  const pre = await prepareSnapshots(ac.engine, ac.ctx, sources);
  const out = new Map<string, Snapshot>();
  for (const s of sources) out.set(s, await takeSnapshot(ac.engine, ac.ctx, pre.get(s)!, s));
  return out;
}
