/**
 * The identity of an event for business-level dedup: its `dedup_key` columns as one string.
 * The same string is computed twice and must agree: in TypeScript from the coerced values (to
 * look keys up before an insert) and in ClickHouse from the stored row (by the materialized view
 * that fills `tally_seen_<ds>`). Only types whose text form is the same on every ClickHouse
 * version are allowed (Decimal and Float are not: `toString` of a Decimal differs across versions).
 */
import { quoteIdent } from '../clickhouse/create-engine.ts';
import { TallyError } from '../errors.ts';
import type { DataSource, TypeNode } from '../project/model.ts';
import { parseDateDays } from './date-time-text.ts';

export interface DedupKey {
  columns: readonly string[];
  /** ClickHouse expression over the source table's columns giving the key string. */
  sql: string;
  /** The key from the coerced cells of the key columns (JSONEachRow text), in `columns` order. */
  fromCells(cells: readonly string[]): string;
}

/** How a key column's cell (JSONEachRow text) becomes key text. */
type Kind = 'string' | 'text' | 'date';

/** The data source's dedup key, or undefined when it has none. Throws for unsupported key columns. */
export function dedupKeyOf(ds: DataSource): DedupKey | undefined {
  if (!ds.dedupKey || ds.dedupKey.length === 0) return undefined;
  const kinds: Kind[] = [];
  const exprs: string[] = [];
  for (const name of ds.dedupKey) {
    const col = ds.columns.find((c) => c.name === name);
    if (!col)
      throw new TallyError(
        'invalid-dedup-key',
        `dedup_key of \`${ds.name}\` names unknown column \`${name}\``,
      );
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
    kinds.push(k.kind);
    exprs.push(k.sql(quoteIdent(name)));
  }
  const single = exprs.length === 1;
  const sql = single
    ? exprs[0]!
    : `concat(${exprs.map((e) => `toString(length(${e})), ':', ${e}`).join(', ')})`;
  const part = (cell: string, kind: Kind): string =>
    kind === 'string'
      ? (JSON.parse(cell) as string)
      : kind === 'date'
        ? String(parseDateDays(JSON.parse(cell) as string))
        : cell;
  const fromCells = single
    ? (cells: readonly string[]) => part(cells[0]!, kinds[0]!)
    : (cells: readonly string[]) => {
        let out = '';
        for (let i = 0; i < cells.length; i++) {
          const p = part(cells[i]!, kinds[i]!);
          out += `${Buffer.byteLength(p)}:${p}`;
        }
        return out;
      };
  return { columns: [...ds.dedupKey], sql, fromCells };
}

/** How a key column's cell becomes key text, and the same in ClickHouse. */
function keyKind(t: TypeNode): { kind: Kind; sql: (c: string) => string } | undefined {
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
