/**
 * Tables for ingestion tests, created the way deploy creates them (deploy is tested on its own):
 * the data source table with its declared columns and DEFAULTs, and `<ds>_quarantine`.
 */
import { quoteIdent } from '../../src/clickhouse/create-engine.ts';
import type { Engine } from '../../src/clickhouse/engine.ts';
import { QUARANTINE_COLUMNS, quarantineTableName } from '../../src/clickhouse/quarantine-schema.ts';
import type { DataSource } from '../../src/project/model.ts';

export interface CreateOptions {
  /** Extra columns deploy adds for exactly-once without a dedup_key. */
  coordinates?: boolean;
  /** Column types that differ from the model (to make ClickHouse refuse values). */
  override?: Record<string, string>;
}

export async function createDatasourceTables(
  engine: Engine,
  ds: DataSource,
  opts: CreateOptions = {},
): Promise<void> {
  const cols = ds.columns.map((c) => {
    const type = opts.override?.[c.name] ?? c.type.text;
    return `${quoteIdent(c.name)} ${type}${c.default !== undefined ? ` DEFAULT ${c.default}` : ''}`;
  });
  const names = new Set(ds.columns.map((c) => c.name));
  if (opts.coordinates) {
    if (!names.has('__partition')) cols.push('`__partition` Int32 DEFAULT -1');
    if (!names.has('__offset')) cols.push('`__offset` Int64 DEFAULT -1');
  }
  const e = ds.engine;
  const order = e.sortingKey.length > 0 ? `(${e.sortingKey.map(quoteIdent).join(', ')})` : 'tuple()';
  await engine.command(
    `CREATE TABLE ${quoteIdent(engine.database)}.${quoteIdent(ds.name)} (${cols.join(', ')}) ENGINE = ${e.type}${e.partitionKey ? ` PARTITION BY ${e.partitionKey}` : ''} ORDER BY ${order}`,
  );
  await engine.command(
    `CREATE TABLE ${quoteIdent(engine.database)}.${quoteIdent(quarantineTableName(ds.name))} (${QUARANTINE_COLUMNS.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(', ')}) ENGINE = MergeTree PARTITION BY toYYYYMM(received_at) ORDER BY received_at`,
  );
}
