import type { Problem } from '../errors.ts';
import type { PipeNode, Project } from './model.ts';
import { isKeyword, isPunct, lexSql, significantTokens, tokenName } from './sql-lexer.ts';
import { sqlLocator } from './sql-locator.ts';
import { sqlReferences } from './sql-references.ts';

type Tokens = ReturnType<typeof significantTokens>;

/** Aggregates a duplicate cannot change: the same answer with one copy of an event or two. */
const IDEMPOTENT_FUNCTIONS = new Set([
  'argmax',
  'argmaxstate',
  'argmin',
  'argminstate',
  'uniqexact',
  'uniq',
  'uniqcombined',
  'uniqcombined64',
  'uniqhll12',
  'countdistinct',
  'any',
  'anylast',
  'min',
  'max',
  'minstate',
  'maxstate',
  'groupuniqarray',
]);

/** Aggregates that count every row they see (and their -If, -State, ... forms): by name prefix. */
const COUNTING_PREFIXES = [
  'sum',
  'count',
  'avg',
  'quantile',
  'median',
  'grouparray',
  'stddev',
  'var',
  'covar',
  'corr',
  'topk',
];
/** Of those, the ones a duplicate cannot change. */
const NOT_COUNTING = new Set(['countdistinct']);

/** The MergeTree engines that take FINAL (a plain MergeTree refuses it). */
const FINAL_ENGINES = new Set([
  'ReplacingMergeTree',
  'SummingMergeTree',
  'AggregatingMergeTree',
  'CollapsingMergeTree',
  'VersionedCollapsingMergeTree',
]);

/**
 * Warns where an endpoint pipe reads a deduplicating log (a data source with `dedup_key`) in a
 * way a stored duplicate would change; an error where FINAL is asked of an engine that has none.
 * A read is safe with FINAL after the name, or `LIMIT n BY` the key, in the node or a later one;
 * else it is safe only if nothing there counts rows (sum, count, avg, ...) and something folds
 * them (argMax, uniqExact, any, ... or GROUP BY the key). Ingestion drops a duplicate before it
 * is stored when it arrives within the dedup window, so this is about duplicates that arrive
 * later than that, and about rows written by other means.
 */
export function checkDedupReads(project: Pick<Project, 'datasources' | 'pipes'>): Problem[] {
  const problems: Problem[] = [];
  for (const pipe of project.pipes.values()) {
    const nodeTokens = pipe.nodes.map((n) => significantTokens(lexSql(n.sql)));
    pipe.nodes.forEach((node, index) => {
      const toks = nodeTokens[index]!;
      // A later node that reads this one (directly or through others) may fold the duplicates away.
      const fromHere = readers(pipe.nodes, index).map((k) => nodeTokens[k]!);
      const locate = sqlLocator(node.sql, node.sqlStart);
      for (const ref of sqlReferences(node.sql)) {
        const ds = project.datasources.get(ref.name);
        if (!ds) continue;
        const at = toks.findIndex((t) => t.start === ref.token.start);
        const final = finalAfter(toks, at);
        if (final && !FINAL_ENGINES.has(ds.engine.type)) {
          problems.push({
            severity: 'error',
            code: 'final-unsupported',
            message: `node \`${node.name}\` reads \`${ds.name}\` with FINAL, but \`${ds.name}\` is a ${ds.engine.type}, which has no FINAL: ClickHouse refuses the query`,
            location: locate(ref.offset),
            hint: ds.dedupKey?.length
              ? `drop FINAL, and fold duplicates with LIMIT 1 BY ${ds.dedupKey.join(', ')}`
              : 'drop FINAL',
          });
          continue;
        }
        // A view sees each INSERT once; FINAL does not apply there.
        if (pipe.materialize || !ds.dedupKey || ds.dedupKey.length === 0) continue;
        const verdict = final ? 'safe' : readOf(fromHere);
        if (verdict === 'safe') continue;
        const keys = ds.dedupKey.join(', ');
        problems.push({
          severity: 'warning',
          code: 'dedup-read',
          message: `node \`${node.name}\` reads \`${ds.name}\` (deduplicated on ${keys}) without FINAL or LIMIT 1 BY ${keys}${verdict === 'counted' ? ', and counts its rows before folding them' : ''}: a duplicate that reached the table (later than the ingest dedup window, or written by other means) would be counted twice`,
          location: locate(ref.offset),
          hint:
            ds.engine.type === 'ReplacingMergeTree'
              ? `write \`FROM ${ds.name} FINAL\`, or add LIMIT 1 BY ${keys}`
              : `add LIMIT 1 BY ${keys} (in a subquery, before the rows are counted)`,
        });
      }
    });
  }
  return problems;
}

/** `name FINAL`, `name alias FINAL` or `name AS alias FINAL`. */
function finalAfter(toks: Tokens, at: number): boolean {
  let i = at + 1;
  if (isKeyword(toks[i], 'AS')) i++;
  if (isKeyword(toks[i], 'FINAL')) return true;
  return tokenName(toks[i]) !== undefined && isKeyword(toks[i + 1], 'FINAL');
}

/** Node `index` and the later nodes that read it, directly or through each other, in pipe order. */
function readers(nodes: readonly PipeNode[], index: number): number[] {
  const names = new Set([nodes[index]!.name]);
  const out = [index];
  for (let k = index + 1; k < nodes.length; k++) {
    if (!nodes[k]!.references.some((r) => names.has(r))) continue;
    names.add(nodes[k]!.name);
    out.push(k);
  }
  return out;
}

/**
 * What the nodes from the one reading the log on do with a duplicate (an identical row), node by
 * node: `LIMIT 1 BY` anything keeps one of two identical rows (safe whatever is counted after);
 * a counting aggregate before that counts it twice; GROUP BY, DISTINCT or an aggregate a
 * duplicate cannot change (argMax, uniqExact, any, ...) fold it away (what later nodes count are
 * folded rows).
 */
function readOf(nodes: readonly Tokens[]): 'safe' | 'counted' | 'listed' {
  for (const toks of nodes) {
    let folds = false;
    for (let i = 0; i < toks.length; i++) {
      const t = toks[i]!;
      const word = tokenName(t)?.toLowerCase();
      if (word && IDEMPOTENT_FUNCTIONS.has(word) && isPunct(toks[i + 1], '(')) folds = true;
      if (isKeyword(t, 'DISTINCT') && isKeyword(toks[i - 1], 'SELECT')) folds = true;
      if (!isKeyword(t, 'BY')) continue;
      if (isKeyword(toks[i - 2], 'LIMIT') && toks[i - 1]?.text === '1') return 'safe';
      if (isKeyword(toks[i - 1], 'GROUP')) folds = true;
    }
    // In one node, an aggregate counts the rows it reads, whatever else folds beside it.
    if (counts(toks)) return 'counted';
    if (folds) return 'safe';
  }
  return 'listed';
}

/** Whether an aggregate that counts every row (sum, count, avg, ...) is used, count(DISTINCT ...) aside. */
function counts(toks: Tokens): boolean {
  for (let i = 0; i < toks.length; i++) {
    const word = tokenName(toks[i])?.toLowerCase();
    if (!word || !isPunct(toks[i + 1], '(')) continue;
    if (NOT_COUNTING.has(word) || word.endsWith('merge')) continue;
    if (!COUNTING_PREFIXES.some((p) => word.startsWith(p))) continue;
    if (word === 'count' && isKeyword(toks[i + 2], 'DISTINCT')) continue;
    return true;
  }
  return false;
}
