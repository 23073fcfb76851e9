/**
 * Backfill: what a new view would have produced from the rows its source held when the view was
 * attached. Those rows are frozen in a snapshot that is exact as of the write hold (see
 * hold.ts): a table of the same structure in the scratch database, filled with `ALTER TABLE ...
 * REPLACE PARTITION ID ... FROM` (hard links, no copy) before the hold, and brought up to date
 * inside it (again, for the few partitions written in between). The view's own SELECT then runs
 * over the snapshot instead of the live source (through a view named like the source in the scratch
 * database, so the SELECT changes only in its database name), which makes the backfill a plain
 * INSERT ... SELECT; rows written after the hold, which the view sees as they arrive, are never
 * read twice.
 */
import { randomUUID } from 'node:crypto';
import { quoteIdent } from '../clickhouse/create-engine.ts';
import type { Engine } from '../clickhouse/engine.ts';
import { onClusterClause } from '../clickhouse/replicated-engine.ts';
import { allSettledOrThrow } from '../util/all-settled.ts';
import { type DdlContext, qualified, stringLiteral } from './ddl.ts';
import { scratchDatabaseName } from './names.ts';

export interface BackfillProgress {
  /** What is being filled, e.g. the view's name. */
  label: string;
  rowsDone: number;
  rowsTotal: number;
  elapsedMs: number;
  /** Estimated time left, once some rows are done. */
  etaMs?: number;
}

export interface Snapshot {
  /** The source table it froze. */
  source: string;
  /** `scratch`.`source__snapshot`: the frozen rows. */
  table: string;
  /** `scratch`.`source`: what the backfill's SELECT reads (a view of the snapshot). */
  readAs: string;
  rows: number;
  parts: Array<{ name: string; rows: number }>;
}

/** A snapshot filled before the hold, with the newest block of each partition it copied. */
export interface PreSnapshot {
  source: string;
  /** partition id -> max(max_block_number) of its active parts when the copy began. */
  blocks: Map<string, number>;
}

/**
 * Before the hold (so the hold stays short): the scratch database, an empty copy of each
 * source's structure, and every partition of the source hard-linked into it. Each partition's
 * newest block number is noted first: a part written afterwards has a higher one (block numbers
 * of a MergeTree only grow; a merge keeps the highest of its parts), which is how `takeSnapshot`
 * finds the partitions to refresh under the hold.
 */
export async function prepareSnapshots(
  engine: Engine,
  ctx: DdlContext,
  sources: readonly string[],
): Promise<Map<string, PreSnapshot>> {
  const scratch = scratchDatabaseName(ctx.database);
  // Statements that do not depend on each other run side by side: on a server each costs a
  // round trip and some milliseconds, the fixed cost every backfill pays (bench/backfill.ts).
  const scratchReady = engine.command(`CREATE DATABASE IF NOT EXISTS ${quoteIdent(scratch)}`);
  scratchReady.catch(() => {});
  const out = new Map<string, PreSnapshot>();
  for (const s of new Set(sources)) {
    const table = qualified({ database: scratch }, snapshotName(s));
    const readAs = qualified({ database: scratch }, s);
    // The newest blocks are read before the copy begins (earlier is as good: a partition written
    // in between is refreshed under the hold).
    const [blocks, local] = await allSettledOrThrow([
      partitionBlocks(engine, ctx.database, s),
      localEngine(engine, ctx, s),
      scratchReady.then(() =>
        allSettledOrThrow([
          engine.command(`DROP TABLE IF EXISTS ${readAs}`),
          engine.command(`DROP TABLE IF EXISTS ${table}`),
        ]),
      ),
    ] as const);
    await engine.command(`CREATE TABLE ${table} AS ${qualified(ctx, s)}${local}`);
    await allSettledOrThrow([
      // What the backfill's SELECT reads when it reads the whole snapshot at once.
      engine.command(wholeSnapshotViewSql(readAs, table)),
      (async () => {
        // The snapshot is private: no merges, so its part names stay put for chunking.
        await engine.command(`SYSTEM STOP MERGES ${table}`);
        await alterPartitions(
          engine,
          table,
          [...blocks.keys()].map((p) => `REPLACE PARTITION ID ${stringLiteral(p)} FROM ${qualified(ctx, s)}`),
        );
      })(),
    ]);
    out.set(s, { source: s, blocks });
  }
  await scratchReady;
  return out;
}

/**
 * On a cluster the snapshot is a table of this node only: the source's engine without
 * `Replicated` (a copy of a replicated table's engine would join its replicas in ZooKeeper).
 * 18.16 accepts REPLACE PARTITION from a replicated table into a plain one.
 */
async function localEngine(engine: Engine, ctx: DdlContext, source: string): Promise<string> {
  if (!ctx.cluster) return '';
  const rows = await engine.rows<{ engine_full: string }>(
    `SELECT engine_full FROM system.tables WHERE database = ${stringLiteral(ctx.database)} AND name = ${stringLiteral(source)}`,
  );
  const full = rows[0]?.engine_full ?? '';
  const plain = full.replace(/^Replicated(\w+)\(\s*'(?:[^'\\]|\\.)*'\s*,\s*'(?:[^'\\]|\\.)*'\s*,?\s*/, '$1(');
  return plain === full ? '' : ` ENGINE = ${plain}`;
}

/**
 * During the hold: brings the snapshot to exactly the rows of `heldTable` (the source under its
 * hold name): partitions written since `prepareSnapshots` (or new) are replaced, vanished ones
 * dropped. Usually one small ALTER, or none.
 */
export async function takeSnapshot(
  engine: Engine,
  ctx: DdlContext,
  pre: PreSnapshot,
  heldTable: string,
): Promise<Snapshot> {
  const source = pre.source;
  const scratch = scratchDatabaseName(ctx.database);
  const table = qualified({ database: scratch }, snapshotName(source));
  const now = await partitionBlocks(engine, ctx.database, heldTable);
  const from = qualified(ctx, heldTable);
  const commands: string[] = [];
  for (const [p, max] of now) {
    const before = pre.blocks.get(p);
    if (before !== max) commands.push(`REPLACE PARTITION ID ${stringLiteral(p)} FROM ${from}`);
  }
  for (const p of pre.blocks.keys()) if (!now.has(p)) commands.push(`DROP PARTITION ID ${stringLiteral(p)}`);
  await alterPartitions(engine, table, commands);
  const parts = (
    await engine.rows<{ name: string; rows: string | number }>(
      `SELECT name, rows FROM system.parts WHERE database = ${stringLiteral(scratch)} AND table = ${stringLiteral(snapshotName(source))} AND active ORDER BY name`,
    )
  ).map((p) => ({ name: p.name, rows: Number(p.rows) }));
  const readAs = qualified({ database: scratch }, source);
  return { source, table, readAs, rows: parts.reduce((n, p) => n + p.rows, 0), parts };
}

async function partitionBlocks(
  engine: Engine,
  database: string,
  table: string,
): Promise<Map<string, number>> {
  const rows = await engine.rows<{ partition_id: string; b: string | number }>(
    `SELECT partition_id, max(max_block_number) AS b FROM system.parts WHERE database = ${stringLiteral(database)} AND table = ${stringLiteral(table)} AND active GROUP BY partition_id`,
  );
  return new Map(rows.map((r) => [r.partition_id, Number(r.b)]));
}

/** Several partition commands per ALTER: one statement costs far more than one more partition in it. */
async function alterPartitions(engine: Engine, table: string, commands: readonly string[]): Promise<void> {
  // Partitions are cloned one after another inside an ALTER; two ALTERs side by side (each its
  // own partitions) took 25% less time on 18.16 with 54 partitions. More lanes gained nothing.
  const lanes = commands.length >= 8 ? 2 : 1;
  await allSettledOrThrow(
    Array.from({ length: lanes }, async (_, lane) => {
      const mine = commands.filter((_, i) => i % lanes === lane);
      for (let i = 0; i < mine.length; i += 200) {
        await engine.command(`ALTER TABLE ${table} ${mine.slice(i, i + 200).join(', ')}`);
      }
    }),
  );
}

function wholeSnapshotViewSql(readAs: string, table: string): string {
  return `CREATE VIEW ${readAs} AS SELECT * FROM ${table}`;
}

function snapshotName(source: string): string {
  return `${source}__snapshot`;
}

export async function dropScratchDatabase(engine: Engine, ctx: DdlContext): Promise<void> {
  await engine.command(dropScratchDatabaseSql(ctx));
}

/** Drops the scratch database; on a sharded cluster on every node (shard-snapshot.ts snapshots there). */
export function dropScratchDatabaseSql(ctx: DdlContext): string {
  const on = ctx.sharded ? onClusterClause(ctx.cluster) : '';
  return `DROP DATABASE IF EXISTS ${quoteIdent(scratchDatabaseName(ctx.database))}${on}`;
}

export interface FillOptions {
  label: string;
  /**
   * Rows per INSERT; a larger snapshot is split by parts (default 100 million). Each chunk
   * aggregates on its own, so small chunks cost throughput; progress inside a chunk comes from
   * system.processes on a server.
   */
  chunkRows?: number;
  onProgress?: (p: BackfillProgress) => void;
}

/**
 * `INSERT INTO into (columns) <select>`, where `select` reads `snapshot.readAs`: a view of the
 * snapshot, of all of it or, for a big one, of a chunk of whole parts (for progress, and to
 * bound each statement). On a server, progress inside a chunk comes from system.processes.
 */
export async function fillFromSnapshot(
  engine: Engine,
  snapshot: Snapshot,
  into: string,
  columns: readonly string[],
  select: string,
  opts: FillOptions,
): Promise<{ rows: number; ms: number }> {
  const started = performance.now();
  const chunkRows = opts.chunkRows ?? 100_000_000;
  const total = snapshot.rows;
  const report = (done: number) => {
    const elapsedMs = performance.now() - started;
    const etaMs =
      done > 0 && done < total ? (elapsedMs / done) * (total - done) : done >= total ? 0 : undefined;
    opts.onProgress?.({
      label: opts.label,
      rowsDone: Math.min(done, total),
      rowsTotal: total,
      elapsedMs,
      ...(etaMs !== undefined ? { etaMs } : {}),
    });
  };
  if (total === 0) {
    report(0);
    return { rows: 0, ms: performance.now() - started };
  }
  const chunks: Array<Array<{ name: string; rows: number }>> = [];
  if (total <= chunkRows) chunks.push(snapshot.parts);
  else {
    let cur: Array<{ name: string; rows: number }> = [];
    let n = 0;
    for (const p of snapshot.parts) {
      cur.push(p);
      n += p.rows;
      if (n >= chunkRows) {
        chunks.push(cur);
        cur = [];
        n = 0;
      }
    }
    if (cur.length > 0) chunks.push(cur);
  }
  const cols = columns.map(quoteIdent).join(', ');
  let done = 0;
  report(0);
  for (const chunk of chunks) {
    // prepareSnapshots made the view of the whole snapshot; a chunk reads its own parts.
    if (chunks.length > 1) {
      const parts = chunk.map((p) => stringLiteral(p.name)).join(', ');
      await engine.command(`DROP TABLE IF EXISTS ${snapshot.readAs}`);
      await engine.command(
        `${wholeSnapshotViewSql(snapshot.readAs, snapshot.table)} WHERE _part IN (${parts})`,
      );
    }
    const sql = `INSERT INTO ${into} (${cols}) ${select}`;
    const chunkRowsTotal = chunk.reduce((s, p) => s + p.rows, 0);
    await runWatched(engine, sql, (read) => report(done + Math.min(read, chunkRowsTotal)));
    done += chunkRowsTotal;
    report(done);
  }
  return { rows: done, ms: performance.now() - started };
}

/** Runs a statement; on a server, polls its progress (rows read) every half second. */
async function runWatched(engine: Engine, sql: string, onRead: (rows: number) => void): Promise<void> {
  if (engine.backend !== 'server') {
    await engine.command(sql);
    return;
  }
  const queryId = `tally-backfill-${randomUUID()}`;
  let finished = false;
  let wake: () => void = () => {};
  const poll = (async () => {
    while (!finished) {
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 500);
      });
      if (finished) break;
      const rows = await engine
        .rows<{ read_rows: string | number }>(
          `SELECT read_rows FROM system.processes WHERE query_id = ${stringLiteral(queryId)}`,
        )
        .catch(() => []);
      if (rows[0] && !finished) onRead(Number(rows[0].read_rows));
    }
  })();
  try {
    await engine.command(sql, { queryId });
  } finally {
    finished = true;
    wake();
    await poll;
  }
}
