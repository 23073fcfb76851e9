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
import { logicalName, shardTableName } from '../clickhouse/replicated-engine.ts';
import { TallyError } from '../errors.ts';
import type { ApplyContext } from './apply-context.ts';
import { validateView } from './attach.ts';
import {
  type BackfillProgress,
  fillFromSnapshot,
  prepareSnapshots,
  type Snapshot,
  takeSnapshot,
} from './backfill.ts';
import { sameBlocks } from './cluster-nodes.ts';
import { awaitQuiet, clusterBusy } from './cluster-quiet.ts';
import {
  createDistributedSql,
  createTableSql,
  createViewSql,
  type DdlContext,
  dropTableSql,
  qualified,
  redistributeSql,
  renameSql,
  storageName,
} from './ddl.ts';
import { feedingClosure } from './hold.ts';
import { introspect, viewGraph } from './introspect.ts';
import { backupName, nextName, nextPathName } from './names.ts';
import type { Step } from './plan-types.ts';
import { copyColumns } from './rebuild.ts';
import { fillFromShards, shardSnapshot, snapshotShards, viewOverShards } from './shard-snapshot.ts';
import type { TableSpec } from './table-spec.ts';
import { fillingView } from './view-query-error.ts';
import { fill } from './view-steps.ts';

export async function clusterReplaceView(ac: ApplyContext, step: Step): Promise<void> {
  const { engine, ctx } = ac;
  const views = step.views!;
  const spec = step.targetSpec!;
  const target = spec.name;
  const next = nextName(target);
  const sources = [...new Set(views.map((v) => v.source))];
  const sharded = ctx.sharded === true;
  const store = (t: string) => storageName(t, ctx);
  const graph = await viewGraph(engine);
  const watched = feedingClosure(graph, sources.map(store)).map(logicalName);
  const busy = clusterBusy(
    watched,
    `on a cluster ${target} is recomputed only while ${sources.join(', ')} ${sources.length === 1 ? 'is' : 'are'} not written`,
  );
  const quiet = await awaitQuiet(ac, quietTables(watched, ctx), sharded ? [] : sources, busy);

  await createNext(ac, spec, step);
  const columns = new Map(
    await Promise.all(views.map(async (v) => [v.name, await validateView(engine, v, next)] as const)),
  );
  if (sharded) {
    for (const s of sources) await snapshotShards(ac, s);
    for (const v of views) {
      const cols = columns.get(v.name)!.map((c) => c.name);
      const query = viewOverShards(ctx, v);
      await fillingView(
        v,
        fillFromShards(ac, { label: v.name, source: v.source, into: next, columns: cols, query }, (p) =>
          ac.emit({ type: 'backfill', step, progress: p }),
        ),
      );
    }
  } else {
    const snapshots = await snapshotsOf(ac, sources);
    for (const v of views)
      await fill(ac, step, v, snapshots.get(v.source)!, columns.get(v.name)!, qualified(ctx, next));
  }
  if (!(await quiet.stillQuiet()))
    throw busy(
      `${sources.join(', ')} written while ${target} was recomputed`,
      '; nothing was swapped in (the new table is dropped)',
    );

  // Quiet since the graph was read: no deploy or writer has changed the views meanwhile.
  const writers = [...graph.tables.values()].filter(
    (t) => t.engine === 'MaterializedView' && t.viewTarget === store(target),
  );
  await ac.beforeClusterSwap?.();
  for (const w of writers) await engine.command(dropTableSql(w.name, ctx));
  await swapNext(ac, target, step);
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
  const backup = backupName(storageName(table, ctx), ac.deployId);
  const live = await introspect(engine);
  const current = live.tables.get(table);
  if (!current) throw new Error(`table ${table} disappeared before its rebuild`);
  const { kept, select } = copyColumns(spec, current);
  const sharded = ctx.sharded === true;
  const store = (t: string) => storageName(t, ctx);
  const watched = feedingClosure(await viewGraph(engine), [store(table)]).map(logicalName);
  const busy = clusterBusy(watched, `on a cluster ${table} is rebuilt only while it is not written`);
  const quiet = await awaitQuiet(ac, quietTables(watched, ctx), sharded ? [] : [table], busy);

  await createNext(ac, spec, step);
  // A conversion that cannot work fails here, before anything is copied or swapped.
  await engine.query(`${select(qualified(ctx, table))} LIMIT 0`);
  const progress = (p: BackfillProgress) => ac.emit({ type: 'backfill', step, progress: p });
  if (sharded) {
    await snapshotShards(ac, table);
    const query = select(shardSnapshot(ctx, table));
    const columns = kept.map((c) => c.name);
    await fillFromShards(ac, { label: table, source: table, into: next, columns, query }, progress);
  } else {
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
        onProgress: progress,
      },
    );
  }
  if (!(await quiet.stillQuiet()))
    throw busy(
      `${table} was written while it was copied`,
      '; nothing was swapped in (the new table is dropped)',
    );

  await ac.beforeClusterSwap?.();
  const backupStore = await swapNext(ac, table, step);
  // Writes that started before the rename went to the old table, now the backup.
  await quiet.waitInserts();
  const before = quiet.blocks.get(store(table))!;
  const old = (await quiet.read([backupStore])).get(backupStore)!;
  if (!sameBlocks(old, before)) {
    const late = [...old].filter(([p, n]) => n !== before.get(p)).map(([p]) => p);
    throw new TallyError(
      'cluster-busy',
      `${table} was written between the last check and the swap, so the rows of those INSERTs (partition${late.length === 1 ? '' : 's'} ${late.join(', ')}) are in ${backup} only`,
      {
        exitCode: 2,
        hint: `copy them into ${table} before the next deploy drops ${backup} (SELECT ... FROM ${qualified(ctx, backup)} WHERE _part IN the parts of those partitions with max_block_number above those in ${table}'s snapshot${ctx.sharded ? `, on each shard: a partition shown as <shard>:<id> is that shard's` : ''}), and pause ingestion of ${watched.join(', ')} for deploys that rebuild`,
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

/**
 * `<t>__tally_next` as the project wants `t`, with a ZooKeeper path of its own; on a sharded
 * cluster its table per shard and a Distributed table over them (what the fill writes into).
 */
async function createNext(ac: ApplyContext, spec: TableSpec, step: Step): Promise<void> {
  const { engine, ctx } = ac;
  const next = nextName(spec.name);
  await engine.command(dropTableSql(next, ctx));
  if (ctx.sharded) await engine.command(dropTableSql(shardTableName(next), ctx));
  await engine.command(createTableSql(spec, ctx, next, nextPathName(spec.name, ac.deployId)));
  if (ctx.sharded) await engine.command(createDistributedSql(next, ctx, step.shardingKey ?? 'rand()'));
}

/**
 * The swap, ON CLUSTER: `t` becomes its backup and the next table takes its name. On a sharded
 * cluster the shards' tables are swapped, then `t`'s Distributed table is made again over them
 * (its columns may have changed). Returns the name the old rows are under now.
 */
async function swapNext(ac: ApplyContext, table: string, step: Step): Promise<string> {
  const { engine, ctx } = ac;
  const store = storageName(table, ctx);
  const backup = backupName(store, ac.deployId);
  if (ctx.sharded) await engine.command(dropTableSql(nextName(table), ctx));
  await engine.command(
    renameSql(
      [
        [store, backup],
        [storageName(nextName(table), ctx), store],
      ],
      ctx,
    ),
  );
  if (ctx.sharded)
    for (const sql of redistributeSql(table, ctx, step.shardingKey ?? 'rand()')) await engine.command(sql);
  return backup;
}

/** What the quiet check watches: on a sharded cluster, where rows are (the shards' tables) and what INSERTs name. */
function quietTables(tables: readonly string[], ctx: DdlContext): string[] {
  return ctx.sharded ? [...tables.map((t) => shardTableName(t)), ...tables] : [...tables];
}
