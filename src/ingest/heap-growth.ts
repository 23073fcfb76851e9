/**
 * Kafka ingestion keeps V8's heap close to what it holds. Between two full collections V8 lets a
 * busy process's heap grow up to about four times what survived the last one; an ingester's rows
 * are few at a time but churn fast (each lives from its fetch until its flush is stored), so its
 * RSS followed that factor rather than the rows held: 332 - 367 MB at the peak of the 1M-event
 * ingest benchmark. With the growth capped at 100% per collection it is 248 - 266 MB, for about
 * 12% more CPU (bench/ingest.ts, 500k events, alternating runs; see docs/ingestion.md).
 *
 * Set when the first Kafka ingester starts, not for every `tally` process: a process that only
 * serves endpoints keeps V8's default, whose cached answers were ~8% faster without the cap. The
 * flag only feeds V8's heap-limit heuristic at each collection, so setting it at run time takes
 * effect from the next collection (checked: the same RSS as with the flag on node's command line).
 */
import { setFlagsFromString } from 'node:v8';

let limited = false;

export function limitHeapGrowth(): void {
  if (limited) return;
  limited = true;
  setFlagsFromString('--heap-growing-percent=100');
}
