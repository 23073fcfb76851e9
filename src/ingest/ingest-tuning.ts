/**
 * tally.yaml's `ingest:` as ingestion options: what is set replaces the default of the same knob
 * (DEFAULT_KAFKA_BATCH, kafka-client.ts), what is not keeps it.
 */
import type { IngestConfig } from '../config/config.ts';
import type { BatcherOptions } from './batcher.ts';
import type { ConsumerTuning } from './kafka-ingester.ts';

export function ingestTuning(cfg: IngestConfig): {
  batch: Partial<BatcherOptions>;
  consumer: ConsumerTuning;
  dedupWindowDays?: number;
} {
  const batch: Partial<BatcherOptions> = {};
  if (cfg.flushRows !== undefined) batch.maxRows = cfg.flushRows;
  if (cfg.flushBytes !== undefined) batch.maxBytes = cfg.flushBytes;
  if (cfg.bufferBytes !== undefined) batch.maxBufferedBytes = cfg.bufferBytes;
  const consumer: ConsumerTuning = {};
  if (cfg.fetchBytes !== undefined) consumer.maxBytes = cfg.fetchBytes;
  if (cfg.fetchPartitionBytes !== undefined) consumer.maxBytesPerPartition = cfg.fetchPartitionBytes;
  if (cfg.fetchMinBytes !== undefined) consumer.minBytes = cfg.fetchMinBytes;
  if (cfg.fetchWaitMs !== undefined) consumer.maxWaitMs = cfg.fetchWaitMs;
  return {
    batch,
    consumer,
    ...(cfg.dedupWindowDays !== undefined ? { dedupWindowDays: cfg.dedupWindowDays } : {}),
  };
}
