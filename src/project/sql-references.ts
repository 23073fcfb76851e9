import { isKeyword, isPunct, lexSql, type SqlToken, significantTokens, tokenName } from './sql-lexer.ts';

/** A table name read by a query, with where it is in the SQL text. */
export interface SqlReference {
  name: string;
  /** Offset of the name's first character in the SQL. */
  offset: number;
  /** The token, so callers can replace it. */
  token: SqlToken;
}

/**
 * The table names a query reads in FROM, JOIN and `IN table`: the names a node may use for
 * earlier nodes and data sources. Skipped on purpose: subqueries (their own FROMs are found),
 * CTE names defined by `WITH name AS (SELECT ...)`, table functions such as `numbers(10)`,
 * `ARRAY JOIN` (it reads a column), `FROM` inside functions (`extract(DAY FROM d)`), and
 * database-qualified names `db.t` (outside tables, left alone). Comma joins are not followed.
 */
export function sqlReferences(sql: string): SqlReference[] {
  const toks = significantTokens(lexSql(sql));
  const ctes = cteNames(toks);
  const out: SqlReference[] = [];
  // What each open parenthesis holds: a query (subquery) or an expression (function call, tuple).
  const parens: Array<'query' | 'expr'> = [];
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (isPunct(t, '(')) {
      parens.push(isKeyword(toks[i + 1], 'SELECT') || isKeyword(toks[i + 1], 'WITH') ? 'query' : 'expr');
      continue;
    }
    if (isPunct(t, ')')) {
      parens.pop();
      continue;
    }
    const inExpr = parens[parens.length - 1] === 'expr';
    const isFrom = isKeyword(t, 'FROM') && !inExpr;
    const isJoin = isKeyword(t, 'JOIN') && !isKeyword(toks[i - 1], 'ARRAY');
    const isIn = isKeyword(t, 'IN');
    if (!isFrom && !isJoin && !isIn) continue;
    const nameTok = toks[i + 1];
    const name = tokenName(nameTok);
    if (name === undefined || nameTok === undefined) continue;
    const after = toks[i + 2];
    if (isPunct(after, '.') || isPunct(after, '(')) continue; // db.table or a table function
    if (nameTok.kind === 'word' && RESERVED.has(name.toUpperCase())) continue;
    if (ctes.has(name)) continue;
    out.push({ name, offset: nameTok.start, token: nameTok });
  }
  return out;
}

/** The distinct names of `sqlReferences`, in order of first appearance. */
export function referencedNames(sql: string): string[] {
  return [...new Set(sqlReferences(sql).map((r) => r.name))];
}

/** Names defined as `name AS (SELECT ...)` (common table expressions). */
function cteNames(toks: readonly SqlToken[]): Set<string> {
  const names = new Set<string>();
  for (let i = 0; i + 3 < toks.length; i++) {
    const name = tokenName(toks[i]);
    if (
      name !== undefined &&
      isKeyword(toks[i + 1], 'AS') &&
      isPunct(toks[i + 2], '(') &&
      (isKeyword(toks[i + 3], 'SELECT') || isKeyword(toks[i + 3], 'WITH'))
    ) {
      names.add(name);
    }
  }
  return names;
}

// Words that can follow FROM/JOIN/IN without being a table name.
const RESERVED = new Set(['SELECT', 'WITH', 'FINAL', 'LATERAL', 'NULL', 'GLOBAL', 'ANY', 'ALL']);
