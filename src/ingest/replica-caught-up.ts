/**
 * On a cluster, Tally instances connected to different replicas take over each other's Kafka
 * partitions. The new owner decides what is already stored from its own replica (the watermarks
 * in `tally_ingest_offsets`, the keys in `tally_seen_<ds>`), so its replica must first hold
 * every part any replica acknowledged: an INSERT on replica B is acknowledged once its part is
 * in ZooKeeper's replication log, and replica A copies it shortly after, or, when B went down
 * first, only once B is back. This waits (bounded) until this node has pulled and fetched every
 * INSERT of the replication log of `tables`; otherwise the flush fails and is retried, so the
 * partitions stall rather than store a batch twice.
 *
 * Not SYSTEM SYNC REPLICA: on 18.16 it blocks for as long as the replica holding the part is
 * down, with no timeout (measured), and holds a server thread meanwhile.
 */
import type { Engine } from '../clickhouse/engine.ts';
import { TallyError } from '../errors.ts';
import { quoteString } from '../sql/render-literal.ts';

export interface ReplicaLag {
  table: string;
  /** Replication log entries not yet pulled into this node's queue, plus INSERTs still to fetch. */
  behind: number;
}

/** The replicated tables among `tables` that this node has not caught up on. */
export async function replicasBehind(engine: Engine, tables: readonly string[]): Promise<ReplicaLag[]> {
  if (tables.length === 0) return [];
  const rows = await engine.rows<{
    table: string;
    log_max_index: string | number;
    log_pointer: string | number;
    inserts_in_queue: string | number;
  }>(
    `SELECT table, log_max_index, log_pointer, inserts_in_queue FROM system.replicas WHERE database = ${quoteString(engine.database)} AND table IN (${tables.map(quoteString).join(', ')})`,
  );
  const out: ReplicaLag[] = [];
  for (const r of rows) {
    const behind = entriesBehind(Number(r.log_pointer), Number(r.log_max_index), Number(r.inserts_in_queue));
    if (behind > 0) out.push({ table: r.table, behind });
  }
  return out;
}

/**
 * From a row of system.replicas: log entries not yet pulled (`log_pointer` is the next one to
 * pull, `log_max_index` the last one written; an empty log has both at 0) plus INSERTs pulled
 * but not fetched yet.
 */
export function entriesBehind(logPointer: number, logMaxIndex: number, insertsInQueue: number): number {
  const unpulled = logPointer === 0 && logMaxIndex === 0 ? 0 : Math.max(0, logMaxIndex + 1 - logPointer);
  return unpulled + insertsInQueue;
}

/** Waits until this node holds every acknowledged INSERT into `tables`, at most `timeoutMs`. */
export async function waitCaughtUp(
  engine: Engine,
  tables: readonly string[],
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lag = await replicasBehind(engine, tables);
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
