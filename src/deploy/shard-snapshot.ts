/**
 * The backfill boundary on a sharded cluster. 18.16 runs no ALTER ... REPLACE PARTITION ON
 * CLUSTER, so the hard-linked snapshot of one node (backfill.ts) cannot reach the other shards;
 * `CREATE TABLE ... ON CLUSTER ... AS SELECT` can: every node copies the rows of its own shard
 * into a snapshot table of the scratch database, and a Distributed table named like the source
 * reads them all. The view's own SELECT then runs over that (the database name is all that
 * changes) into the target's Distributed table, which spreads the result over the shards.
 * Taken while the source is quiet (cluster-quiet.ts): the copy is exactly the rows no view saw.
 */
import { quoteIdent } from '../clickhouse/create-engine.ts';
import { onClusterClause, shardTableName } from '../clickhouse/replicated-engine.ts';
import type { ApplyContext } from './apply-context.ts';
import type { BackfillProgress } from './backfill.ts';
import { qualified, type ViewSpec } from './ddl.ts';
import { scratchDatabaseName } from './names.ts';
import { querySourceSwapped } from './view-spec.ts';

/** What the snapshot needs of a deploy (or a replay): the engine and the DDL context. */
type Where = Pick<ApplyContext, 'engine' | 'ctx'>;

/** Copies every shard's rows of `source` into the scratch database, on each node. */
export async function snapshotShards(ac: Where, source: string): Promise<void> {
  const { engine, ctx } = ac;
  const on = onClusterClause(ctx.cluster);
  const scratch = { database: scratchDatabaseName(ctx.database) };
  const copy = qualified(scratch, `${source}__snapshot`);
  await engine.command(`CREATE DATABASE IF NOT EXISTS ${quoteIdent(scratch.database)}${on}`);
  await engine.command(`DROP TABLE IF EXISTS ${qualified(scratch, source)}${on}`);
  await engine.command(`DROP TABLE IF EXISTS ${copy}${on}`);
  await engine.command(
    `CREATE TABLE ${copy}${on} ENGINE = MergeTree ORDER BY tuple() AS SELECT * FROM ${qualified(ctx, shardTableName(source))}`,
  );
  await engine.command(
    `CREATE TABLE ${qualified(scratch, source)}${on} AS ${copy} ENGINE = Distributed(${quoteIdent(ctx.cluster!)}, ${quoteIdent(scratch.database)}, ${quoteIdent(`${source}__snapshot`)}, rand())`,
  );
}

/** `scratch`.`source`: the Distributed table over the shards' copies of `source`. */
export function shardSnapshot(ctx: { database: string }, source: string): string {
  return qualified({ database: scratchDatabaseName(ctx.database) }, source);
}

/** The view's SELECT over the shards' snapshot of its source. */
export function viewOverShards(ctx: { database: string }, view: ViewSpec): string {
  return querySourceSwapped(view, ctx.database, scratchDatabaseName(ctx.database));
}

/**
 * A backfill or a copy from the shards' snapshot of `source`: `query` (which reads it) into the
 * Distributed table `into`, which spreads the rows over the shards (or a replay's shadow, a table
 * of this node). Returns the rows of the snapshot.
 */
export async function fillFromShards(
  ac: Where,
  fill: { label: string; source: string; into: string; columns: readonly string[]; query: string },
  onProgress: (p: BackfillProgress) => void,
): Promise<number> {
  const { engine, ctx } = ac;
  const started = performance.now();
  const [r] = await engine.rows<{ n: string | number }>(
    `SELECT count() AS n FROM ${shardSnapshot(ctx, fill.source)}`,
  );
  const total = Number(r?.n ?? 0);
  const progress = (done: number) =>
    onProgress({
      label: fill.label,
      rowsDone: done,
      rowsTotal: total,
      elapsedMs: performance.now() - started,
    });
  progress(0);
  await engine.command(
    `INSERT INTO ${qualified(ctx, fill.into)} (${fill.columns.map(quoteIdent).join(', ')}) ${fill.query}`,
  );
  progress(total);
  return total;
}
