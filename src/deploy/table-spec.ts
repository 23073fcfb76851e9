/**
 * What a table should look like, independent of how it is written: the planner compares it with
 * the live table, the DDL module renders it. Built from a data source (or its quarantine table).
 */

import { quoteIdent } from '../clickhouse/create-engine.ts';
import { QUARANTINE_COLUMNS, quarantineTableName } from '../clickhouse/quarantine-schema.ts';
import type { DataSource, EngineType } from '../project/model.ts';

export interface ColumnSpec {
  name: string;
  /** ClickHouse type text, e.g. `Decimal(18, 2)`. */
  type: string;
  /** A ClickHouse expression (`DEFAULT <expr>`). */
  default?: string;
  comment?: string;
}

export interface EngineSpec {
  type: EngineType;
  /** ReplacingMergeTree version column. */
  version?: string;
  /** SummingMergeTree columns to sum. */
  sumColumns?: string[];
  /** Expressions (usually column names). Empty: `ORDER BY tuple()`. */
  sortingKey: string[];
  primaryKey?: string[];
  partitionKey?: string;
  ttl?: string;
  settings: Record<string, string | number>;
}

export interface TableSpec {
  name: string;
  /** The data source this table belongs to (itself, or the one whose quarantine it is). */
  datasource?: string;
  role: 'datasource' | 'quarantine' | 'bookkeeping';
  columns: ColumnSpec[];
  engine: EngineSpec;
}

/** The table of a data source, named after it. */
export function tableSpecFor(ds: DataSource): TableSpec {
  const e = ds.engine;
  return {
    name: ds.name,
    datasource: ds.name,
    role: 'datasource',
    columns: [
      ...ds.columns.map((c) => ({
        name: c.name,
        type: c.type.text,
        ...(c.default !== undefined ? { default: c.default } : {}),
        ...(c.comment ? { comment: c.comment } : {}),
      })),
      ...hiddenCoordinateColumns(ds),
    ],
    engine: {
      type: e.type,
      ...(e.type === 'ReplacingMergeTree' && e.version ? { version: e.version } : {}),
      ...(e.type === 'SummingMergeTree' && e.sumColumns && e.sumColumns.length > 0
        ? { sumColumns: [...e.sumColumns] }
        : {}),
      sortingKey: [...e.sortingKey],
      ...(e.primaryKey && e.primaryKey.length > 0 ? { primaryKey: [...e.primaryKey] } : {}),
      ...(e.partitionKey ? { partitionKey: e.partitionKey } : {}),
      ...(e.ttl ? { ttl: e.ttl } : {}),
      settings: { ...e.settings },
    },
  };
}

/**
 * How a sharded cluster spreads a data source's rows (the Distributed table's sharding key): by
 * its `engine.sharding_key` when set, else by its dedup key, so that both copies of an event meet
 * on one shard (FINAL and the seen keys then work per shard), else by its sorting key, else at
 * random.
 */
export function shardingKeyFor(ds: DataSource): string {
  const cols =
    ds.engine.shardingKey && ds.engine.shardingKey.length > 0
      ? ds.engine.shardingKey
      : ds.dedupKey && ds.dedupKey.length > 0
        ? ds.dedupKey
        : ds.engine.sortingKey;
  if (cols.length === 0) return 'rand()';
  return `cityHash64(${cols.map((c) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(c) ? quoteIdent(c) : c)).join(', ')})`;
}

/**
 * A Kafka data source without `dedup_key` is recognized on redelivery by its Kafka coordinates,
 * so its table stores them (docs/ingestion.md, "Identity"), unless the user already lists them.
 */
function hiddenCoordinateColumns(ds: DataSource): ColumnSpec[] {
  if (!ds.kafka || (ds.dedupKey && ds.dedupKey.length > 0)) return [];
  const hidden: ColumnSpec[] = [
    {
      name: '__partition',
      type: 'Int32',
      default: '-1',
      comment: 'Kafka partition, for exactly-once ingestion',
    },
    { name: '__offset', type: 'Int64', default: '-1', comment: 'Kafka offset, for exactly-once ingestion' },
  ];
  return hidden.filter((h) => !ds.columns.some((c) => c.name === h.name));
}

/** `<name>_quarantine`: the events of this data source that did not fit its schema. */
export function quarantineSpecFor(ds: DataSource): TableSpec {
  return {
    name: quarantineTableName(ds.name),
    datasource: ds.name,
    role: 'quarantine',
    columns: QUARANTINE_COLUMNS.map((c) => ({ name: c.name, type: c.type, comment: c.comment })),
    engine: {
      type: 'MergeTree',
      sortingKey: ['received_at'],
      partitionKey: 'toYYYYMM(received_at)',
      settings: {},
    },
  };
}
