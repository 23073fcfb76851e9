/**
 * Which columns can make a `dedup_key`, and how each becomes key text (ingest/dedup-key.ts
 * builds the key from them; `tally check` refuses the others as the file is read). Only types
 * whose text form is the same on every ClickHouse version are allowed (Decimal and Float are
 * not: `toString` of a Decimal differs across versions).
 */
import { TallyError } from '../errors.ts';
import type { DataSource, TypeNode } from './model.ts';

/** How a key column's cell (JSONEachRow text) becomes key text. */
export type DedupKeyKind = 'string' | 'text' | 'date';

export interface DedupKeyColumn {
  kind: DedupKeyKind;
  /** The same text in ClickHouse, from the quoted column. */
  sql: (column: string) => string;
}

/** The key column `name` of `ds`; throws a located TallyError for one that cannot be a key. */
export function dedupKeyColumn(ds: DataSource, name: string): DedupKeyColumn {
  const col = ds.columns.find((c) => c.name === name);
  if (!col)
    throw new TallyError('invalid-dedup-key', `dedup_key of \`${ds.name}\` names unknown column \`${name}\``);
  if (col.default !== undefined && col.defaultValue === undefined) {
    throw new TallyError(
      'invalid-dedup-key',
      `dedup_key column \`${name}\` of \`${ds.name}\` is computed by default_expr; the key must come from the event`,
      { location: col.loc },
    );
  }
  const k = keyKind(col.type);
  if (!k) {
    throw new TallyError(
      'invalid-dedup-key',
      `dedup_key column \`${name}\` of \`${ds.name}\` has type ${col.type.text}; a dedup key column must be String, an integer, Date, DateTime, UUID or Enum (not Nullable)`,
      { location: col.loc },
    );
  }
  return k;
}

function keyKind(t: TypeNode): DedupKeyColumn | undefined {
  if (t.name === 'LowCardinality' && t.args[0]?.kind === 'type') {
    const inner = keyKind(t.args[0].type);
    return inner && { kind: inner.kind, sql: (c) => inner.sql(`toString(${c})`) };
  }
  if (t.name === 'String') return { kind: 'string', sql: (c) => c };
  if (t.name === 'UUID' || t.name === 'Enum8' || t.name === 'Enum16') {
    return { kind: 'string', sql: (c) => `toString(${c})` };
  }
  // Days since 1970: 18.16 writes the Date 1970-01-01 as 0000-00-00.
  if (t.name === 'Date') return { kind: 'date', sql: (c) => `toString(toUInt16(${c}))` };
  if (/^U?Int(8|16|32|64|128|256)$/.test(t.name)) return { kind: 'text', sql: (c) => `toString(${c})` };
  if (t.name === 'DateTime') return { kind: 'text', sql: (c) => `toString(toUnixTimestamp(${c}))` };
  return undefined;
}

/**
 * Kafka metadata columns that every row not read from Kafka (the events API with wait=true or
 * without Kafka, `tally append`, fixtures) gets the same value in: a key made with one would
 * make all such rows one key, and all but the first be dropped as duplicates.
 */
const KAFKA_ONLY = new Set(['__topic', '__partition', '__offset', '__key', '__headers']);

/** The `dedup_key` columns of `ds` that only Kafka fills. */
export function kafkaOnlyKeyColumns(ds: DataSource): string[] {
  return (ds.dedupKey ?? []).filter((name) => KAFKA_ONLY.has(name));
}
