/**
 * The identity of an event for business-level dedup: its `dedup_key` columns as one string.
 * The same string is computed twice and must agree: in TypeScript from the coerced values (to
 * look keys up before an insert) and in ClickHouse from the stored row (by the materialized view
 * that fills `tally_seen_<ds>`). Which columns may be key columns: project/dedup-key-column.ts.
 */
import { quoteIdent } from '../clickhouse/create-engine.ts';
import { type DedupKeyKind, dedupKeyColumn } from '../project/dedup-key-column.ts';
import type { DataSource } from '../project/model.ts';
import { parseDateDays } from './date-time-text.ts';

export interface DedupKey {
  columns: readonly string[];
  /** ClickHouse expression over the source table's columns giving the key string. */
  sql: string;
  /** The key from the coerced cells of the key columns (JSONEachRow text), in `columns` order. */
  fromCells(cells: readonly string[]): string;
}

/** The data source's dedup key, or undefined when it has none. Throws for unsupported key columns. */
export function dedupKeyOf(ds: DataSource): DedupKey | undefined {
  if (!ds.dedupKey || ds.dedupKey.length === 0) return undefined;
  const kinds: DedupKeyKind[] = [];
  const exprs: string[] = [];
  for (const name of ds.dedupKey) {
    const k = dedupKeyColumn(ds, name);
    kinds.push(k.kind);
    exprs.push(k.sql(quoteIdent(name)));
  }
  const single = exprs.length === 1;
  const sql = single
    ? exprs[0]!
    : `concat(${exprs.map((e) => `toString(length(${e})), ':', ${e}`).join(', ')})`;
  const part = (cell: string, kind: DedupKeyKind): string =>
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
