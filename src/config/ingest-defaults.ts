/**
 * The defaults of tally.yaml's `ingest:` keys, chosen with bench/ingest.ts (docs/ingestion.md):
 * one place, which the ingester uses and the config reader checks the set keys against.
 */
export const INGEST_DEFAULTS = {
  flushRows: 20_000,
  flushBytes: 4 * 1024 * 1024,
  fetchBytes: 4 * 1024 * 1024,
  fetchPartitionBytes: 2 * 1024 * 1024,
  fetchMinBytes: 1,
  fetchWaitMs: 500,
  bufferBytes: 64 * 1024 * 1024,
  maxRequestBytes: 10 * 1024 * 1024,
  dedupWindowDays: 7,
} as const;
