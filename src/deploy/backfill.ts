/**
 * Backfill: what a new view would have produced from the rows its source held when the view was
 * attached. Those rows are frozen in a snapshot taken during the write hold (see hold.ts): a
 * table of the same structure in the scratch database, filled with `ALTER TABLE ... ATTACH
 * PARTITION ID ... FROM` (hard links, no copy). The view's own SELECT then runs over the
 * snapshot instead of the live source (through a view named like the source in the scratch
 * database, so the SELECT changes only in its database name), which makes the backfill a plain
 * INSERT ... SELECT; rows written after the hold, which the view sees as they arrive, are never
 * read twice.
 */
import { randomUUID } from 'node:crypto';
import { quoteIdent } from '../clickhouse/create-engine.ts';
import type { Engine } from '../clickhouse/engine.ts';
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

/** The scratch database and an empty copy of each source's structure, made before the hold so the hold stays short. */
export async function prepareSnapshots(
  engine: Engine,
  ctx: DdlContext,
  sources: readonly string[],
): Promise<void> {
  const scratch = scratchDatabaseName(ctx.database);
  await engine.command(`CREATE DATABASE IF NOT EXISTS ${quoteIdent(scratch)}`);
  for (const s of new Set(sources)) {
    await engine.command(`DROP TABLE IF EXISTS ${qualified({ database: scratch }, s)}`);
    await engine.command(`DROP TABLE IF EXISTS ${qualified({ database: scratch }, snapshotName(s))}`);
    await engine.command(
      `CREATE TABLE ${qualified({ database: scratch }, snapshotName(s))} AS ${qualified(ctx, s)}`,
    );
  }
}

/**
 * Freezes the rows of `heldTable` (a source under its hold name) into the prepared snapshot of
 * `source`: one hard-link ATTACH per partition. Call during the hold.
 */
export async function takeSnapshot(
  engine: Engine,
  ctx: DdlContext,
  source: string,
  heldTable: string,
): Promise<Snapshot> {
  const scratch = scratchDatabaseName(ctx.database);
  const table = qualified({ database: scratch }, snapshotName(source));
  const partitions = await engine.rows<{ partition_id: string }>(
    `SELECT DISTINCT partition_id FROM system.parts WHERE database = ${stringLiteral(ctx.database)} AND table = ${stringLiteral(heldTable)} AND active`,
  );
  // Several partitions per ALTER: one statement costs far more than one more partition in it.
  for (let i = 0; i < partitions.length; i += 200) {
    const commands = partitions
      .slice(i, i + 200)
      .map((p) => `ATTACH PARTITION ID ${stringLiteral(p.partition_id)} FROM ${qualified(ctx, heldTable)}`);
    await engine.command(`ALTER TABLE ${table} ${commands.join(', ')}`);
  }
  // The snapshot is private: stop its merges so its part names stay put for chunking.
  await engine.command(`SYSTEM STOP MERGES ${table}`);
  const parts = (
    await engine.rows<{ name: string; rows: string | number }>(
      `SELECT name, rows FROM system.parts WHERE database = ${stringLiteral(scratch)} AND table = ${stringLiteral(snapshotName(source))} AND active ORDER BY name`,
    )
  ).map((p) => ({ name: p.name, rows: Number(p.rows) }));
  const readAs = qualified({ database: scratch }, source);
  return { source, table, readAs, rows: parts.reduce((n, p) => n + p.rows, 0), parts };
}

export async function dropSnapshot(engine: Engine, ctx: DdlContext, source: string): Promise<void> {
  const scratch = { database: scratchDatabaseName(ctx.database) };
  await engine.command(`DROP TABLE IF EXISTS ${qualified(scratch, source)}`);
  await engine.command(`DROP TABLE IF EXISTS ${qualified(scratch, snapshotName(source))}`);
}

function snapshotName(source: string): string {
  return `${source}__snapshot`;
}

export async function dropScratchDatabase(engine: Engine, ctx: DdlContext): Promise<void> {
  await engine.command(`DROP DATABASE IF EXISTS ${quoteIdent(scratchDatabaseName(ctx.database))}`);
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
    const filter =
      chunks.length === 1 ? '' : ` WHERE _part IN (${chunk.map((p) => stringLiteral(p.name)).join(', ')})`;
    await engine.command(`DROP TABLE IF EXISTS ${snapshot.readAs}`);
    await engine.command(`CREATE VIEW ${snapshot.readAs} AS SELECT * FROM ${snapshot.table}${filter}`);
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
