import { isKeyword, isPunct, lexSql, type SqlToken, significantTokens, tokenName } from './sql-lexer.ts';

/**
 * Best-effort output column names of a query's outermost SELECT list: `expr AS x` gives `x`,
 * a bare column `a` (or `t.a`) gives `a`, `expr x` (ClickHouse's alias without AS) gives `x`.
 * Returns undefined when it cannot tell: `SELECT *`, an unnamed expression such as `count()`,
 * or a template tag deciding the shape (`{% if %}` inside the list).
 */
export function selectColumns(sql: string): string[] | undefined {
  const toks = significantTokens(lexSql(sql));
  const start = outerSelect(toks);
  if (start === undefined) return undefined;
  const items: SqlToken[][] = [[]];
  let depth = 0;
  let i = start + 1;
  if (isKeyword(toks[i], 'DISTINCT')) i++;
  for (; i < toks.length; i++) {
    const t = toks[i]!;
    if (depth === 0 && t.kind === 'word' && END_OF_LIST.has(t.text.toUpperCase())) break;
    if (isPunct(t, '(') || isPunct(t, '[')) depth++;
    else if (isPunct(t, ')') || isPunct(t, ']')) {
      if (depth === 0) break; // the list of a query inside parentheses ends here
      depth--;
    } else if (depth === 0 && isPunct(t, ',')) {
      items.push([]);
      continue;
    }
    items[items.length - 1]!.push(t);
  }
  const names: string[] = [];
  for (const item of items) {
    const name = itemName(item);
    if (name === undefined) return undefined;
    names.push(name);
  }
  return names;
}

/** Index of the first SELECT at parenthesis depth 0 (after any WITH clause). */
function outerSelect(toks: readonly SqlToken[]): number | undefined {
  let depth = 0;
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (isPunct(t, '(') || isPunct(t, '[')) depth++;
    else if (isPunct(t, ')') || isPunct(t, ']')) depth--;
    else if (depth === 0 && isKeyword(t, 'SELECT')) return i;
  }
  return undefined;
}

function itemName(item: readonly SqlToken[]): string | undefined {
  if (item.length === 0 || item.some((t) => t.kind === 'template' && t.text.startsWith('{%')))
    return undefined;
  const last = item[item.length - 1]!;
  const prev = item[item.length - 2];
  if (isPunct(last, '*')) return undefined;
  const lastName = tokenName(last);
  if (lastName === undefined) return undefined;
  if (item.length === 1)
    return last.kind === 'word' && LITERALS.has(lastName.toUpperCase()) ? undefined : lastName;
  if (isKeyword(prev, 'AS')) return lastName;
  // `t.a`: ClickHouse names the column `a`.
  if (isPunct(prev, '.') && item.length === 3 && tokenName(item[0]) !== undefined) return lastName;
  // `expr alias`: an alias follows a complete operand (a name, literal or closing bracket).
  if (last.kind === 'word' && NOT_A_NAME.has(lastName.toUpperCase())) return undefined;
  if (prev && endsOperand(prev)) return lastName;
  return undefined;
}

function endsOperand(t: SqlToken): boolean {
  if (t.kind === 'punct') return t.text === ')' || t.text === ']';
  if (t.kind === 'word') return !NOT_A_NAME.has(t.text.toUpperCase());
  return t.kind === 'string' || t.kind === 'number' || t.kind === 'quoted' || t.kind === 'template';
}

const END_OF_LIST = new Set([
  'FROM',
  'WHERE',
  'PREWHERE',
  'GROUP',
  'ORDER',
  'LIMIT',
  'HAVING',
  'UNION',
  'EXCEPT',
  'INTERSECT',
  'SETTINGS',
  'FORMAT',
  'INTO',
  'WINDOW',
  'QUALIFY',
  'ARRAY',
  'LEFT',
  'INNER',
  'JOIN',
]);

const LITERALS = new Set(['NULL', 'TRUE', 'FALSE']);

// Words that end an expression without naming it: `CASE ... END`, `x IS NULL`, `INTERVAL 1 DAY`.
const NOT_A_NAME = new Set([
  'END',
  'NULL',
  'TRUE',
  'FALSE',
  'AND',
  'OR',
  'NOT',
  'IS',
  'IN',
  'LIKE',
  'ILIKE',
  'BETWEEN',
  'CASE',
  'WHEN',
  'THEN',
  'ELSE',
  'AS',
  'DISTINCT',
  'INTERVAL',
  'SECOND',
  'MINUTE',
  'HOUR',
  'DAY',
  'WEEK',
  'MONTH',
  'QUARTER',
  'YEAR',
  'ASC',
  'DESC',
]);
