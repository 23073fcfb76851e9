/**
 * Columns whose default is a ClickHouse expression (`default_expr: now()`, `toDate(ts)`).
 * ClickHouse evaluates a DEFAULT only for a column left out of the INSERT's column list; a field
 * missing from one JSONEachRow row gets the type's zero value on 18.16. So per flush:
 * - every row lacks the column: leave it out of the insert (ClickHouse evaluates it per row);
 * - some rows lack it: ask ClickHouse for the values of those rows (one query per column,
 *   feeding the referenced columns' values in), then insert them like any other value.
 * Every row of a flush is then written by one INSERT with one column list.
 * Values come back as ClickHouse writes them, which is how it reads them, except named tuples:
 * newer servers write them as objects but Tally's inserts read them as arrays (see
 * syncInsertClause), so they are turned into arrays.
 */
import type { Engine } from '../clickhouse/engine.ts';
import type { TypeNode } from '../project/model.ts';
import { quoteString } from '../sql/render-literal.ts';
import { ExactNumber, type JsonValue, parseJsonExact, stringifyJson } from '../util/exact-json.ts';
import type { InsertColumn } from './row-parser.ts';

/** Most SQL text per evaluation query (ClickHouse's max_query_size is 256 KiB by default). */
const MAX_SQL = 200_000;

/**
 * Fills the missing cells of default_expr columns where only some rows lack them, and returns
 * the indexes of the columns to leave out of the insert (all rows lack them).
 */
export async function resolveExpressionDefaults(
  engine: Engine,
  columns: readonly InsertColumn[],
  rows: (string | undefined)[][],
  /** False when other rows of the insert have every column: nothing may be left out. */
  allowOmit = true,
): Promise<Set<number>> {
  const omit = new Set<number>();
  for (let c = 0; c < columns.length; c++) {
    const col = columns[c]!;
    if (col.defaultExpr === undefined) continue;
    const missing: number[] = [];
    for (let r = 0; r < rows.length; r++) if (rows[r]![c] === undefined) missing.push(r);
    if (missing.length === 0) continue;
    if (missing.length === rows.length && allowOmit) {
      omit.add(c);
      continue;
    }
    const values = await evaluate(
      engine,
      columns,
      c,
      missing.map((r) => rows[r]!),
    );
    missing.forEach((r, i) => {
      rows[r]![c] = values[i]!;
    });
  }
  return omit;
}

/** The default of column `c` for each row, as JSONEachRow value text. */
async function evaluate(
  engine: Engine,
  columns: readonly InsertColumn[],
  c: number,
  rows: (string | undefined)[][],
): Promise<string[]> {
  const col = columns[c]!;
  const expr = col.defaultExpr!;
  const refs = referencedColumns(expr, columns).filter((i) => i !== c);
  if (refs.length === 0) {
    const sql = `SELECT CAST((${expr}) AS ${col.typeText}) AS v FROM system.numbers LIMIT ${rows.length}`;
    return values(await engine.text(sql, 'JSONEachRow'), col.type);
  }
  for (const i of refs) {
    if (rows.some((row) => row[i] === undefined)) {
      throw new Error(
        `default_expr of \`${col.name}\` reads \`${columns[i]!.name}\`, which is itself missing and computed`,
      );
    }
  }
  const out: string[] = [];
  let tuples: string[] = [];
  let size = 0;
  const flush = async () => {
    if (tuples.length === 0) return;
    const base = out.length;
    const aliases = refs
      .map((i, k) => `CAST(__x.${k + 2} AS ${columns[i]!.typeText}) AS \`${columns[i]!.name}\``)
      .join(', ');
    const sql = `SELECT __i, CAST((${expr}) AS ${col.typeText}) AS v FROM (SELECT __x.1 AS __i, ${aliases} FROM (SELECT arrayJoin([${tuples.join(', ')}]) AS __x)) ORDER BY __i`;
    out.push(...values(await engine.text(sql, 'JSONEachRow'), col.type));
    if (out.length !== base + tuples.length)
      throw new Error(`default_expr of \`${col.name}\`: ClickHouse returned too few values`);
    tuples = [];
    size = 0;
  };
  for (let r = 0; r < rows.length; r++) {
    const t = `(${r}, ${refs.map((i) => asText(rows[r]![i]!)).join(', ')})`;
    if (size + t.length > MAX_SQL) await flush();
    tuples.push(t);
    size += t.length + 2;
  }
  await flush();
  return out;
}

/** A cell (JSONEachRow value text) as a SQL literal ClickHouse can CAST to the column type. */
function asText(cell: string): string {
  if (cell === 'null') return 'NULL';
  const v = parseJsonExact(cell);
  if (typeof v === 'string') return quoteString(v);
  // Numbers keep their text; arrays and booleans are cast from their JSON text.
  return quoteString(stringifyJson(v));
}

function values(text: string, type: TypeNode | undefined): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const row = parseJsonExact(line) as { v: JsonValue };
    out.push(stringifyJson(type ? tuplesAsArrays(row.v, type) : row.v));
  }
  return out;
}

/**
 * A value ClickHouse wrote as JSON, with every named tuple in it (at any depth: in arrays, maps,
 * other tuples) as an array of its elements in order, the form Tally inserts.
 */
export function tuplesAsArrays(v: JsonValue, type: TypeNode): JsonValue {
  if (v === null || typeof v !== 'object' || v instanceof ExactNumber) return v;
  const inner = (i: number): TypeNode | undefined => {
    const a = type.args[i];
    return a?.kind === 'type' ? a.type : undefined;
  };
  switch (type.name) {
    case 'Nullable':
    case 'LowCardinality': {
      const t = inner(0);
      return t ? tuplesAsArrays(v, t) : v;
    }
    case 'Array': {
      const t = inner(0);
      return t && Array.isArray(v) ? v.map((e) => tuplesAsArrays(e, t)) : v;
    }
    case 'Map': {
      const t = inner(1);
      if (!t || Array.isArray(v)) return v;
      const out: { [k: string]: JsonValue } = {};
      for (const [k, e] of Object.entries(v)) out[k] = tuplesAsArrays(e, t);
      return out;
    }
    case 'Tuple': {
      const elements = type.args.flatMap((a) => (a.kind === 'type' ? [a] : []));
      if (Array.isArray(v)) return v.map((e, i) => (elements[i] ? tuplesAsArrays(e, elements[i].type) : e));
      return elements.map((e) => {
        const item = e.field === undefined ? undefined : v[e.field];
        return item === undefined ? null : tuplesAsArrays(item, e.type);
      });
    }
    default:
      return v;
  }
}

/** Columns named in the expression (outside string literals). */
export function referencedColumns(expr: string, columns: readonly InsertColumn[]): number[] {
  const code = expr.replace(/'(?:[^'\\]|\\.)*'/g, "''");
  const words = new Set(
    code.match(/[A-Za-z_][A-Za-z0-9_]*|`(?:[^`\\]|\\.)*`/g)?.map((w) => w.replace(/^`|`$/g, '')) ?? [],
  );
  const out: number[] = [];
  columns.forEach((col, i) => {
    if (words.has(col.name)) out.push(i);
  });
  return out;
}
