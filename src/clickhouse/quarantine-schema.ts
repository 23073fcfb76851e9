/**
 * The layout of `<data source>_quarantine`, shared by deploy (which creates it) and ingestion
 * (which writes it): the raw event, why it was refused, and where it came from.
 */
export const QUARANTINE_SUFFIX = '_quarantine';

export const QUARANTINE_COLUMNS = [
  { name: 'received_at', type: 'DateTime', comment: 'when Tally refused the event (UTC)' },
  { name: 'raw', type: 'String', comment: 'the event exactly as received' },
  { name: 'reason', type: 'String', comment: 'every problem found, one per line' },
  { name: 'columns', type: 'Array(String)', comment: 'the columns that failed' },
  { name: 'source', type: 'String', comment: "'kafka', 'http' or 'append'" },
  { name: 'topic', type: 'String', comment: 'Kafka topic (empty for http)' },
  { name: 'partition', type: 'Int32', comment: 'Kafka partition (-1 for http)' },
  { name: 'offset', type: 'Int64', comment: 'Kafka offset (-1 for http)' },
  { name: 'request_id', type: 'String', comment: 'HTTP request id or append run id (empty for kafka)' },
] as const;

export interface QuarantineRow {
  received_at: string;
  raw: string;
  reason: string;
  columns: string[];
  source: 'kafka' | 'http' | 'append';
  topic: string;
  partition: number;
  offset: number;
  request_id: string;
}

export function quarantineTableName(datasource: string): string {
  return `${datasource}${QUARANTINE_SUFFIX}`;
}
