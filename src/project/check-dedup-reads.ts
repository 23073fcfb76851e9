import type { Problem } from '../errors.ts';
import type { DataSource, Project } from './model.ts';
import { isKeyword, isPunct, lexSql, significantTokens, tokenName } from './sql-lexer.ts';
import { sqlLocator } from './sql-locator.ts';
import { sqlReferences } from './sql-references.ts';

/** Functions and clauses that make a read immune to a stored duplicate of the same event. */
const DEDUP_FUNCTIONS = new Set([
  'argmax',
  'argmaxstate',
  'argmin',
  'argminstate',
  'uniqexact',
  'uniq',
  'any',
  'anylast',
]);

/**
 * Warns where an endpoint pipe reads a deduplicating log (a data source with `dedup_key`) in a
 * way a duplicate would change: no `FINAL` after the name, and no argMax / LIMIT n BY / GROUP BY
 * on the dedup key in the node. Ingestion drops a duplicate before it is stored when it arrives
 * within the dedup window, so this is about duplicates that arrive later than that, and about rows
 * written by other means.
 */
export function checkDedupReads(project: Pick<Project, 'datasources' | 'pipes'>): Problem[] {
  const problems: Problem[] = [];
  for (const pipe of project.pipes.values()) {
    if (pipe.materialize) continue; // a view sees each INSERT once; FINAL does not apply there
    const nodeTokens = pipe.nodes.map((n) => significantTokens(lexSql(n.sql)));
    pipe.nodes.forEach((node, index) => {
      const toks = nodeTokens[index]!;
      // A later node may fold the duplicates away (argMax, GROUP BY the key): look downstream too.
      const downstream = nodeTokens.slice(index).flat();
      const locate = sqlLocator(node.sql, node.sqlStart);
      for (const ref of sqlReferences(node.sql)) {
        const ds = project.datasources.get(ref.name);
        if (!ds?.dedupKey || ds.dedupKey.length === 0) continue;
        const at = toks.findIndex((t) => t.start === ref.token.start);
        if (finalAfter(toks, at)) continue;
        if (dedupSafe(downstream, ds)) continue;
        problems.push({
          severity: 'warning',
          code: 'dedup-read',
          message: `node \`${node.name}\` reads \`${ds.name}\` (deduplicated on ${ds.dedupKey.join(', ')}) without FINAL, argMax or LIMIT 1 BY ${ds.dedupKey.join(', ')}: a duplicate that reached the table (later than the ingest dedup window, or written by other means) would be counted twice`,
          location: locate(ref.offset),
          hint:
            ds.engine.type === 'ReplacingMergeTree'
              ? `write \`FROM ${ds.name} FINAL\``
              : `use argMax(..., timestamp) or LIMIT 1 BY ${ds.dedupKey.join(', ')}`,
        });
      }
    });
  }
  return problems;
}

/** `name FINAL`, `name alias FINAL` or `name AS alias FINAL`. */
function finalAfter(toks: ReturnType<typeof significantTokens>, at: number): boolean {
  let i = at + 1;
  if (isKeyword(toks[i], 'AS')) i++;
  if (isKeyword(toks[i], 'FINAL')) return true;
  return tokenName(toks[i]) !== undefined && isKeyword(toks[i + 1], 'FINAL');
}

function dedupSafe(toks: ReturnType<typeof significantTokens>, ds: DataSource): boolean {
  const keys = new Set(ds.dedupKey!.map((k) => k.toLowerCase()));
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    const word = tokenName(t)?.toLowerCase();
    if (word && DEDUP_FUNCTIONS.has(word) && isPunct(toks[i + 1], '(')) return true;
    // LIMIT n BY <key> / GROUP BY <key>
    if (isKeyword(t, 'BY')) {
      const next = tokenName(toks[i + 1])?.toLowerCase();
      const prev2 = toks[i - 2];
      const limitBy = isKeyword(prev2, 'LIMIT');
      const groupBy = isKeyword(toks[i - 1], 'GROUP');
      if ((limitBy || groupBy) && next && keys.has(next)) return true;
    }
  }
  return false;
}
