/**
 * A materialized pipe of several nodes compiles to a view whose FROM is a subquery (the nodes
 * before the last, nested). ClickHouse 18.16 runs such a view over the inserted rows in place of
 * the whole subquery, not of the table inside it: a column the inner node computes is an unknown
 * identifier at every insert, and a filter or a LIMIT BY of the inner node is skipped without a
 * word (both measured here; ClickHouse issues 3238 and 5562). The embedded engine and newer
 * servers substitute the innermost table, as the pipe means. Refused there, with where.
 */
import type { Capabilities } from '../clickhouse/capabilities.ts';
import { TallyError } from '../errors.ts';
import type { Project } from '../project/model.ts';
import { lexSql, significantTokens } from '../project/sql-lexer.ts';
import type { ViewSpec } from './ddl.ts';

export function checkViewSubquerySources(
  project: Pick<Project, 'pipes'>,
  views: readonly ViewSpec[],
  capabilities: Capabilities,
): void {
  if (capabilities.viewsReadSubqueries) return;
  for (const v of views) {
    if (!readsSubquery(v.query)) continue;
    const pipe = project.pipes.get(v.pipe);
    const nodes = pipe?.nodes.length ?? 1;
    const what =
      nodes > 1
        ? `has ${nodes} nodes, so its view reads the earlier ones as a subquery`
        : 'reads a subquery in its FROM';
    throw new TallyError(
      'unsupported-on-server',
      `materialized pipe ${v.pipe} ${what}: ClickHouse ${capabilities.version} runs a view over the inserted rows in place of that subquery, so what the subquery computes or filters would be lost at every insert (an unknown column, or rows it should have dropped counted)`,
      {
        ...(pipe?.materialize ? { location: pipe.materialize.loc } : pipe ? { location: pipe.loc } : {}),
        hint: `write ${v.pipe} as one node that reads ${v.source} directly (name its output columns apart from ${v.source}'s: this server resolves a column name to the output alias first), or use ClickHouse 19 or newer, or the embedded engine`,
      },
    );
  }
}

/** Whether a FROM of the outermost SELECT (any branch of a UNION) is followed by `(`. */
export function readsSubquery(sql: string): boolean {
  const toks = significantTokens(lexSql(sql));
  let depth = 0;
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (t.kind === 'punct' && t.text === '(') depth++;
    else if (t.kind === 'punct' && t.text === ')') depth--;
    else if (depth === 0 && t.kind === 'word' && t.text.toUpperCase() === 'FROM') {
      const next = toks[i + 1];
      if (next?.kind === 'punct' && next.text === '(') return true;
    }
  }
  return false;
}
