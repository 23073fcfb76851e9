/** Ingestion: what the server, the CLI and deploy use. */

export { ensureIngestTables, pruneSeen, resetOffsets } from './ingest-tables.ts';
export type {
  AppendResult,
  DatasourceIngestStats,
  Ingestion,
  IngestionOptions,
  IngestStats,
} from './ingestion.ts';
export { DEFAULT_HTTP_BATCH, DEFAULT_KAFKA_BATCH, startIngestion } from './ingestion.ts';
export type { KafkaIngesterStats, PartitionStats } from './kafka-ingester.ts';
export type { EventMeta, ParsedRow, RowProblem } from './row-parser.ts';
export { compileRowParser } from './row-parser.ts';
