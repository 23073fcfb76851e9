/**
 * On a cluster, Tally instances connected to different replicas take over each other's Kafka
 * partitions. The new owner decides what is already stored from its own replica (the watermarks
 * in `tally_ingest_offsets`, the keys in `tally_seen_<ds>`), so its replica must first hold
 * every part any replica had acknowledged: an INSERT on replica B is acknowledged once its part
 * is in ZooKeeper's replication log, and replica A copies it shortly after, or, when B went down
 * first, only once B is back. This waits (bounded) until this node has pulled every log entry
 * written before the wait began and fetched every part those entries name; otherwise the flush
 * fails and is retried, so the partitions stall rather than store a batch twice. Entries written
 * after the wait began are not waited for: another instance ingesting its own partitions all the
 * time must not keep this one waiting.
 *
 * Not SYSTEM SYNC REPLICA: on 18.16 it blocks for as long as the replica holding the part is
 * down, with no timeout (measured), and holds a server thread meanwhile.
 */
import type { Engine } from '../clickhouse/engine.ts';
import { TallyError } from '../errors.ts';
import { quoteString } from '../sql/render-literal.ts';

export interface ReplicaLag {
  table: string;
  /** Log entries not pulled yet, plus parts to fetch, that predate the wait. */
  behind: number;
}

/** Where a table's replication log stood when the wait began. */
interface Mark {
  /** The last log entry written (log_max_index). */
  last: number;
  /** The server's clock then (seconds): queue entries created up to then are waited for. */
  at: number;
}

/** Waits until this node holds every insert into `tables` acknowledged before now; at most `timeoutMs`. */
export async function waitCaughtUp(
  engine: Engine,
  tables: readonly string[],
  timeoutMs = 10_000,
): Promise<void> {
  if (tables.length === 0) return;
  const where = `database = ${quoteString(engine.database)} AND table IN (${tables.map(quoteString).join(', ')})`;
  const start = await engine.rows<{ table: string; last: string | number; at: string | number }>(
    `SELECT table, log_max_index AS last, toUInt32(now()) AS at FROM system.replicas WHERE ${where}`,
  );
  const marks = new Map<string, Mark>(
    start.map((r) => [r.table, { last: Number(r.last), at: Number(r.at) }]),
  );
  if (marks.size === 0) return;
  const at = Math.max(...[...marks.values()].map((m) => m.at));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [pointers, queued] = await Promise.all([
      engine.rows<{ table: string; pointer: string | number }>(
        `SELECT table, log_pointer AS pointer FROM system.replicas WHERE ${where}`,
      ),
      engine.rows<{ table: string; n: string | number }>(
        `SELECT table, count() AS n FROM system.replication_queue WHERE ${where} AND type = 'GET_PART' AND create_time <= toDateTime(${at}) GROUP BY table`,
      ),
    ]);
    const fetches = new Map(queued.map((q) => [q.table, Number(q.n)]));
    const lag: ReplicaLag[] = [];
    for (const p of pointers) {
      const mark = marks.get(p.table);
      if (!mark) continue;
      const behind = entriesBehind(Number(p.pointer), mark.last, fetches.get(p.table) ?? 0);
      if (behind > 0) lag.push({ table: p.table, behind });
    }
    if (lag.length === 0) return;
    if (Date.now() >= deadline) {
      throw new TallyError(
        'replica-behind',
        `this ClickHouse replica has not fetched every insert into ${lag.map((l) => `${l.table} (${l.behind} behind)`).join(', ')} after ${Math.round(timeoutMs / 1000)} s; ingestion waits rather than guess what is stored (another replica holding them may be down)`,
        { exitCode: 2, hint: 'bring the other replicas back; ingestion resumes by itself' },
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * How far this node is from a log position: entries up to `lastIndex` not pulled yet
 * (`logPointer` is the next entry to pull; an empty log has both at 0, which cannot be told
 * from one entry not pulled yet: the first insert ever into a table is pulled within
 * milliseconds by ZooKeeper's watch) plus parts to fetch.
 */
export function entriesBehind(logPointer: number, lastIndex: number, fetches: number): number {
  const unpulled = logPointer === 0 && lastIndex === 0 ? 0 : Math.max(0, lastIndex + 1 - logPointer);
  return unpulled + fetches;
}
