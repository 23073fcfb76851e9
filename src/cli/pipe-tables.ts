/**
 * `tally sql` reads pipe nodes as tables: `SELECT * FROM balance.movements` runs the node
 * `movements` of the pipe `balance`, compiled with the given params, as a subquery; a bare pipe
 * name (`FROM balance`) is its last node. Data sources keep their names: a pipe that shares its
 * name with a data source (a materialized pipe's namesake) is only reachable as `pipe.node`.
 */

import type { Capabilities } from '../clickhouse/capabilities.ts';
import { TallyError } from '../errors.ts';
import type { Pipe, Project } from '../project/model.ts';
import {
  isKeyword,
  isPunct,
  lexSql,
  type SqlToken,
  significantTokens,
  tokenName,
} from '../project/sql-lexer.ts';
import {
  compilePipe,
  isParamError,
  type ParamValue,
  parseParamValue,
  type ResolvedParams,
  sampleParams,
} from '../sql/index.ts';
import { NOT_ALIAS } from '../sql/not-alias.ts';
import { didYouMean } from '../util/did-you-mean.ts';

export interface PipeTableUse {
  pipe: string;
  node: string;
  /** Required params not given, compiled with a sample value of their type. */
  sampled: string[];
}

export interface ExpandedQuery {
  sql: string;
  uses: PipeTableUse[];
}

export interface ExpandOptions {
  capabilities: Capabilities;
  database: string;
  /** `--param k=v` (every pipe that declares k) and `--param pipe.k=v` (that pipe only). */
  params: ReadonlyArray<readonly [key: string, value: string]>;
}

/** Clauses that end a FROM list (a comma after them separates columns or expressions, not tables). */
const ENDS_FROM_LIST = new Set([
  'SELECT',
  'WHERE',
  'PREWHERE',
  'GROUP',
  'ORDER',
  'HAVING',
  'LIMIT',
  'UNION',
  'SETTINGS',
  'FORMAT',
  'ON',
  'USING',
  'WITH',
  'ARRAY',
]);

/**
 * For each token, whether it stands in a FROM list at its own depth of parentheses: there a comma
 * separates tables (`FROM a, b`); anywhere else (`SELECT x, balance`) it separates expressions.
 */
function tableListPositions(toks: readonly SqlToken[]): boolean[] {
  const depth: boolean[] = [false];
  return toks.map((t) => {
    if (isPunct(t, '(')) depth.push(false);
    else if (isPunct(t, ')')) {
      if (depth.length > 1) depth.pop();
    } else if (isKeyword(t, 'FROM') || isKeyword(t, 'JOIN')) depth[depth.length - 1] = true;
    else if (t.kind === 'word' && ENDS_FROM_LIST.has(t.text.toUpperCase())) depth[depth.length - 1] = false;
    return depth[depth.length - 1]!;
  });
}

export function expandPipeTables(query: string, project: Project, opts: ExpandOptions): ExpandedQuery {
  const toks = significantTokens(lexSql(query));
  const refs: Array<{ from: SqlToken; to: SqlToken; pipe: Pipe; node: string; alias: boolean }> = [];
  const inFromList = tableListPositions(toks);
  for (let i = 1; i < toks.length; i++) {
    const before = toks[i - 1]!;
    if (
      !(
        isKeyword(before, 'FROM') ||
        isKeyword(before, 'JOIN') ||
        isKeyword(before, 'IN') ||
        (isPunct(before, ',') && inFromList[i - 1])
      )
    ) {
      continue;
    }
    const first = tokenName(toks[i]);
    if (first === undefined) continue;
    const dotted = isPunct(toks[i + 1], '.') ? tokenName(toks[i + 2]) : undefined;
    const pipe = project.pipes.get(first);
    if (dotted !== undefined) {
      if (!pipe) continue; // `db.table`
      if (!pipe.nodes.some((n) => n.name === dotted)) {
        throw new TallyError(
          'unknown-node',
          `pipe \`${pipe.name}\` has no node \`${dotted}\`${didYouMean(
            dotted,
            pipe.nodes.map((n) => n.name),
          )}`,
          { hint: `its nodes: ${pipe.nodes.map((n) => n.name).join(', ')}` },
        );
      }
      refs.push({
        from: toks[i]!,
        to: toks[i + 2]!,
        pipe,
        node: dotted,
        alias: !isKeyword(before, 'IN') && needsAlias(toks, i + 3),
      });
      i += 2;
    } else if (pipe && !project.datasources.has(first) && !isPunct(toks[i + 1], '(')) {
      refs.push({
        from: toks[i]!,
        to: toks[i]!,
        pipe,
        node: pipe.nodes[pipe.nodes.length - 1]!.name,
        alias: !isKeyword(before, 'IN') && needsAlias(toks, i + 1),
      });
    }
  }
  if (refs.length === 0) {
    if (opts.params.length > 0) {
      throw new TallyError(
        'unused-param',
        '--param is for pipe nodes used as tables, and the query reads none',
        {
          hint: 'read a node as `FROM <pipe>.<node>`, e.g. SELECT * FROM balance.movements',
        },
      );
    }
    return { sql: query, uses: [] };
  }
  checkParamKeys(
    opts.params,
    refs.map((r) => r.pipe),
  );
  const uses: PipeTableUse[] = [];
  let sql = '';
  let pos = 0;
  for (const ref of refs) {
    const { resolved, sampled } = paramsFor(ref.pipe, opts.params);
    const compiled = compilePipe(project, ref.pipe.name, resolved, {
      capabilities: opts.capabilities,
      database: opts.database,
      node: ref.node,
      chain: 'subquery',
      values: 'literal',
    });
    sql += `${query.slice(pos, ref.from.start)}(${compiled.sql})${ref.alias ? ` AS ${ident(ref.node)}` : ''}`;
    pos = ref.to.end;
    uses.push({ pipe: ref.pipe.name, node: ref.node, sampled });
  }
  return { sql: sql + query.slice(pos), uses };
}

/** `k=v` pairs from `--param` flags; a flag without `=` is an error naming it (with `hint`). */
export function parseParamFlags(
  flags: readonly string[],
  hint = 'e.g. --param account_id=6ad87cf1, or --param balance.account_id=6ad87cf1 for one pipe',
): Array<readonly [string, string]> {
  return flags.map((f) => {
    const i = f.indexOf('=');
    if (i <= 0) {
      throw new TallyError('bad-flag', `--param takes name=value (got \`${f}\`)`, { hint });
    }
    return [f.slice(0, i), f.slice(i + 1)] as const;
  });
}

function checkParamKeys(params: ExpandOptions['params'], pipes: readonly Pipe[]): void {
  for (const [key] of params) {
    const dot = key.indexOf('.');
    const pipeName = dot > 0 ? key.slice(0, dot) : undefined;
    const name = dot > 0 ? key.slice(dot + 1) : key;
    const candidates = pipes.filter((p) => pipeName === undefined || p.name === pipeName);
    if (pipeName !== undefined && candidates.length === 0) {
      throw new TallyError(
        'unknown-param',
        `--param ${key}: the query reads no pipe \`${pipeName}\`${didYouMean(
          pipeName,
          pipes.map((p) => p.name),
        )}`,
      );
    }
    if (!candidates.some((p) => p.params.has(name))) {
      const declared = [...new Set(candidates.flatMap((p) => [...p.params.keys()]))];
      throw new TallyError(
        'unknown-param',
        `--param ${key}: no pipe the query reads declares \`${name}\`${didYouMean(name, declared)}`,
        declared.length > 0 ? { hint: `declared: ${declared.join(', ')}` } : {},
      );
    }
  }
}

/** Defaults and samples first, then the given values (a pipe-qualified one wins). */
function paramsFor(
  pipe: Pipe,
  params: ExpandOptions['params'],
): { resolved: ResolvedParams; sampled: string[] } {
  const base = sampleParams(pipe);
  const values: Record<string, ParamValue> = { ...base.values };
  const given = new Set(base.given);
  const sampled = new Set(
    [...pipe.params.values()].filter((p) => p.required && p.default === undefined).map((p) => p.name),
  );
  const apply = (name: string, raw: string) => {
    const param = pipe.params.get(name);
    if (!param) return;
    try {
      values[name] = parseParamValue(raw, param);
    } catch (err) {
      if (isParamError(err)) throw new TallyError('invalid-param', `--param ${name}: ${err.message}`);
      throw err;
    }
    given.add(name);
    sampled.delete(name);
  };
  for (const [key, raw] of params) if (!key.includes('.')) apply(key, raw);
  for (const [key, raw] of params)
    if (key.startsWith(`${pipe.name}.`)) apply(key.slice(pipe.name.length + 1), raw);
  return {
    resolved: Object.freeze({ values: Object.freeze(values), given, unknown: Object.freeze([]) }),
    sampled: [...sampled],
  };
}

function needsAlias(toks: readonly SqlToken[], next: number): boolean {
  const t = toks[next];
  if (!t) return true;
  if (isKeyword(t, 'AS') || t.kind === 'quoted') return false;
  return !(t.kind === 'word' && !NOT_ALIAS.has(t.text.toUpperCase()));
}

function ident(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : `\`${name.replace(/`/g, '\\`')}\``;
}
