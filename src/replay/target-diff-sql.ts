/**
 * The SQL that compares two tables of the same structure (a live target and its replayed shadow)
 * per key, on finalized values. One query per question, every one on 18.16 and current servers:
 * no JOIN (18.16's FULL JOIN USING fills a right-only key with defaults), but both sides tagged
 * and grouped by the key with UNION ALL:
 *
 *   SELECT key, sum(__side = 1) AS in_live, sum(__side = 2) AS in_shadow,
 *          anyIf(v, __side = 1) AS live_v, anyIf(v, __side = 2) AS shadow_v ...
 *   FROM (SELECT key, 1 AS __side, <finalized v> FROM live GROUP BY key
 *         UNION ALL SELECT key, 2 AS __side, <finalized v> FROM shadow GROUP BY key)
 *   GROUP BY key HAVING in_live = 0 OR in_shadow = 0 OR live_v != shadow_v ...
 *
 * A value that can be NULL is compared with its NULL-ness beside it (`isNull`): `x != NULL` is
 * NULL, which HAVING drops, and 18.16's `anyIf` gives '' for a NULL. A table that keeps every
 * row compares its number of rows per key too (its values are lists, and `groupArray` skips
 * NULLs).
 */
import { quoteIdent } from '../clickhouse/create-engine.ts';
import type { ColumnSpec, EngineSpec } from '../deploy/table-spec.ts';
import { splitTopLevel } from '../util/sql-text-scan.ts';

/** What is compared: the target's columns and engine (its sorting key is the key). */
export interface DiffShape {
  columns: readonly ColumnSpec[];
  engine: Pick<EngineSpec, 'type' | 'sortingKey' | 'sumColumns'>;
}

export type DiffKind = 'added' | 'removed' | 'changed';

/**
 * The expression giving a column's finalized value per key: `<fn>Merge(col)` for an
 * AggregateFunction column, `<fn>(col)` for a SimpleAggregateFunction one, `sum` for a summed
 * column of a SummingMergeTree, `any` otherwise in a collapsing engine; for tables that keep
 * every row (MergeTree, ReplacingMergeTree), the sorted list of the key's values.
 */
export function finalizedExpr(c: ColumnSpec, shape: DiffShape): string {
  const col = quoteIdent(c.name);
  const fn = aggregateFunctionOf(c.type);
  if (fn) return `${mergeCombinator(fn.name, fn.params)}(${col})`;
  const simple = simpleAggregateOf(c.type);
  if (simple) return `${simple}(${col})`;
  if (keepsRows(shape)) return `arraySort(groupArray(${col}))`;
  if (shape.engine.type === 'SummingMergeTree') {
    const summed = shape.engine.sumColumns;
    return (summed ? summed.includes(c.name) : NUMERIC.test(c.type)) ? `sum(${col})` : `any(${col})`;
  }
  return `any(${col})`;
}

/** A column whose finalized value is the list of its values (finalizedExpr's last resort). */
function isList(c: ColumnSpec, shape: DiffShape): boolean {
  return keepsRows(shape) && !aggregateFunctionOf(c.type) && !simpleAggregateOf(c.type);
}

const NUMERIC = /^(?:U?Int\d+|Float\d+|Decimal)/;

/** `AggregateFunction(quantiles(0.5), Float64)` -> { name: 'quantiles', params: '0.5' }. */
export function aggregateFunctionOf(type: string): { name: string; params?: string } | undefined {
  const m = /^AggregateFunction\((.*)\)$/s.exec(type.trim());
  if (!m) return undefined;
  const first = splitTopLevel(m[1]!)[0]!.trim();
  const p = /^(\w+)\s*\((.*)\)$/s.exec(first);
  return p ? { name: p[1]!, params: p[2]! } : { name: first };
}

function simpleAggregateOf(type: string): string | undefined {
  const m = /^SimpleAggregateFunction\((.*)\)$/s.exec(type.trim());
  return m ? splitTopLevel(m[1]!)[0]!.trim() : undefined;
}

function mergeCombinator(name: string, params?: string): string {
  return params !== undefined ? `${name}Merge(${params})` : `${name}Merge`;
}

/** A table that keeps every row (its values per key are lists): its rows per key are counted. */
function keepsRows(shape: DiffShape): boolean {
  return shape.engine.type !== 'AggregatingMergeTree' && shape.engine.type !== 'SummingMergeTree';
}

/** The finalized value can be NULL (a Nullable column, or a state of Nullable arguments; a list never is). */
function mayBeNull(c: ColumnSpec, shape: DiffShape): boolean {
  return !isList(c, shape) && /Nullable/.test(c.type);
}

/** The key expressions (the sorting key; a constant when there is none) and the value columns. */
export function keyAndValues(shape: DiffShape): { keys: string[]; values: ColumnSpec[] } {
  const keys = shape.engine.sortingKey.length > 0 ? [...shape.engine.sortingKey] : [];
  const keyNames = new Set(keys);
  return { keys, values: shape.columns.filter((c) => !keyNames.has(c.name)) };
}

/**
 * `__k<i>`, `__v<i>` and `__side`: aliases that cannot shadow a column of the table (ClickHouse
 * resolves an alias before a column of the same name, even inside another expression).
 */
function keyAlias(i: number): string {
  return `__k${i}`;
}

function valueAlias(i: number): string {
  return `__v${i}`;
}

function nullAlias(i: number): string {
  return `__n${i}`;
}

/** The row count of a key (tables that keep every row), and how it is shown beside its columns. */
const ROWS_ALIAS = '__rows';
const ROWS_SHOWN = '(rows)';

function sideSelect(table: string, side: 1 | 2, shape: DiffShape, final: boolean): string {
  const { keys, values } = keyAndValues(shape);
  const keyCols = keys.length > 0 ? keys.map((k, i) => `${keyExpr(k)} AS ${keyAlias(i)}`) : ['0 AS __k0'];
  const vals = values.flatMap((c, i) => [
    `${finalizedExpr(c, shape)} AS ${valueAlias(i)}`,
    ...(mayBeNull(c, shape) ? [`isNull(${valueAlias(i)}) AS ${nullAlias(i)}`] : []),
  ]);
  const rows = keepsRows(shape) ? [`count() AS ${ROWS_ALIAS}`] : [];
  const group = keys.length > 0 ? keys.map((_, i) => keyAlias(i)).join(', ') : '__k0';
  return `SELECT ${[...keyCols, `${side} AS __side`, ...vals, ...rows].join(', ')} FROM ${table}${final ? ' FINAL' : ''} GROUP BY ${group}`;
}

/** A sorting-key entry is a column name or an expression; a name is quoted. */
function keyExpr(k: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? quoteIdent(k) : k;
}

/** The per-key comparison of `live` and `shadow` (qualified names): one row per differing key. */
export function diffQuery(live: string, shadow: string, shape: DiffShape): string {
  const { keys, values } = keyAndValues(shape);
  const final = shape.engine.type === 'ReplacingMergeTree';
  const nk = Math.max(keys.length, 1);
  const keyList = Array.from({ length: nk }, (_, i) => keyAlias(i)).join(', ');
  const both = (alias: string) =>
    `anyIf(${alias}, __side = 1) AS live_${alias}, anyIf(${alias}, __side = 2) AS shadow_${alias}`;
  const pairs = values.flatMap((c, i) => [
    both(valueAlias(i)),
    ...(mayBeNull(c, shape) ? [both(nullAlias(i))] : []),
  ]);
  const differs = values.map((c, i) => {
    const v = valueAlias(i);
    if (!mayBeNull(c, shape)) return `live_${v} != shadow_${v}`;
    const n = nullAlias(i);
    return `(live_${n} != shadow_${n} OR ifNull(live_${v} != shadow_${v}, 0))`;
  });
  if (keepsRows(shape)) {
    pairs.push(both(ROWS_ALIAS));
    differs.push(`live_${ROWS_ALIAS} != shadow_${ROWS_ALIAS}`);
  }
  return [
    `SELECT ${keyList}, sum(__side = 1) AS in_live, sum(__side = 2) AS in_shadow${pairs.length > 0 ? `, ${pairs.join(', ')}` : ''}`,
    `FROM (${sideSelect(live, 1, shape, final)} UNION ALL ${sideSelect(shadow, 2, shape, final)})`,
    `GROUP BY ${keyList}`,
    `HAVING in_live = 0 OR in_shadow = 0${differs.length > 0 ? ` OR ${differs.join(' OR ')}` : ''}`,
  ].join('\n');
}

/** The condition on a diffQuery row for each kind. */
export const KIND_CONDITION: Record<DiffKind, string> = {
  added: 'in_live = 0',
  removed: 'in_shadow = 0',
  changed: 'in_live > 0 AND in_shadow > 0',
};

/** Counts per kind, and the number of keys in each table. */
export function diffCountsQuery(live: string, shadow: string, shape: DiffShape): string {
  return `SELECT countIf(${KIND_CONDITION.added}) AS added, countIf(${KIND_CONDITION.removed}) AS removed, countIf(${KIND_CONDITION.changed}) AS changed FROM (${diffQuery(live, shadow, shape)})`;
}

/** Up to `limit` differing keys of one kind, in key order. */
export function diffSampleQuery(
  live: string,
  shadow: string,
  shape: DiffShape,
  kind: DiffKind,
  limit: number,
): string {
  const nk = Math.max(keyAndValues(shape).keys.length, 1);
  const order = Array.from({ length: nk }, (_, i) => keyAlias(i)).join(', ');
  return `SELECT * FROM (${diffQuery(live, shadow, shape)}) WHERE ${KIND_CONDITION[kind]} ORDER BY ${order} LIMIT ${Math.max(0, Math.floor(limit))}`;
}

/** Keys in a table, as the diff counts them. */
export function keyCountQuery(table: string, shape: DiffShape): string {
  const { keys } = keyAndValues(shape);
  if (keys.length === 0) return `SELECT count() > 0 AS n FROM ${table}`;
  const final = shape.engine.type === 'ReplacingMergeTree' ? ' FINAL' : '';
  return `SELECT count() AS n FROM (SELECT ${keys.map((k, i) => `${keyExpr(k)} AS ${keyAlias(i)}`).join(', ')} FROM ${table}${final} GROUP BY ${keys.map((_, i) => keyAlias(i)).join(', ')})`;
}

/** Turns a diffQuery row into names the user knows: key and value columns by their names. */
export function readDiffRow(
  row: Record<string, unknown>,
  shape: DiffShape,
): { key: Record<string, unknown>; live?: Record<string, unknown>; shadow?: Record<string, unknown> } {
  const { keys, values } = keyAndValues(shape);
  const key: Record<string, unknown> = {};
  keys.forEach((k, i) => {
    key[k] = row[keyAlias(i)];
  });
  const side = (prefix: string) => {
    const o: Record<string, unknown> = {};
    values.forEach((c, i) => {
      const isNull = mayBeNull(c, shape) && Number(row[`${prefix}_${nullAlias(i)}`]) === 1;
      o[c.name] = isNull ? null : row[`${prefix}_${valueAlias(i)}`];
    });
    if (keepsRows(shape)) o[ROWS_SHOWN] = Number(row[`${prefix}_${ROWS_ALIAS}`]);
    return o;
  };
  return {
    key,
    ...(Number(row.in_live) > 0 ? { live: side('live') } : {}),
    ...(Number(row.in_shadow) > 0 ? { shadow: side('shadow') } : {}),
  };
}
