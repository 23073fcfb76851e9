/**
 * Node chaining: a pipe's nodes become one query. A node reads earlier nodes by name in
 * FROM/JOIN/IN; the compiler puts each earlier node's compiled SQL in its place, as a nested
 * subquery (every server) or as a common table expression (servers with CTEs), and qualifies
 * data source names with the project's database.
 */

import type { Capabilities } from '../clickhouse/capabilities.ts';
import { quoteIdent } from '../clickhouse/create-engine.ts';
import { TallyError } from '../errors.ts';
import type { Param, Pipe, Project } from '../project/model.ts';
import { isKeyword, isPunct, lexSql, type SqlToken, significantTokens } from '../project/sql-lexer.ts';
import { sqlReferences } from '../project/sql-references.ts';
import { closest } from '../util/did-you-mean.ts';
import { canonicalDecimal, formatEpoch, type ParamValue } from './coerce-value.ts';
import { NOT_ALIAS } from './not-alias.ts';
import { ParamError } from './param-error.ts';
import { MAX_DATE, MIN_DATE, paramType } from './param-type.ts';
import {
  expectedOf,
  isResolvedParams,
  parseDefault,
  parseParamValue,
  type ResolvedParams,
  resolveParams,
} from './parse-param-value.ts';
import { renderTemplate, type ValueMode } from './render-template.ts';

/** What the compiler reads of a project. */
export type CompilableProject = Pick<Project, 'pipes' | 'datasources'>;

export interface CompileOptions {
  capabilities: Capabilities;
  /** The project's database: data source names are qualified with it. */
  database: string;
  /** Compile up to this node (its SQL, with the nodes it reads); default the last node. */
  node?: string;
  /** `subquery` (every server) or `cte` (needs capabilities.cte); default `cte` where supported. */
  chain?: 'subquery' | 'cte';
  /** Values as literals or server-side parameters; default from capabilities.queryParams. */
  values?: ValueMode;
  /** ClickHouse's max_query_size (default 262144 bytes): a longer query is refused before it is sent. */
  maxQuerySize?: number;
}

/** A query ready for the engine: `sql` with `params` as its server-side query parameters. */
export interface CompiledQuery {
  readonly sql: string;
  readonly params: Readonly<Record<string, unknown>>;
}

export const DEFAULT_MAX_QUERY_SIZE = 262_144;

/**
 * Compiles a pipe (or one of its nodes) with a request's params: either what resolveParams
 * returned, or a record of the values the caller gave (validated and defaulted here). The result
 * is frozen.
 */
export function compilePipe(
  project: CompilableProject,
  pipeName: string,
  params: ResolvedParams | Readonly<Record<string, ParamValue>>,
  opts: CompileOptions,
): CompiledQuery {
  const pipe = findPipe(project, pipeName);
  const resolved = isResolvedParams(params) ? params : resolveParams(pipe, params);
  return new Compiler(project, pipe, resolved, opts).compile();
}

/**
 * Compiles one node for `tally check` with sample params: defaults where declared, and for
 * required params without one a sample of their type (the first enum value, '' for String, 0
 * within min/max for numbers, false, today / now for Date / DateTime, [] and null).
 */
export function compileNodeForCheck(
  project: CompilableProject,
  pipeName: string,
  nodeName: string,
  opts: Omit<CompileOptions, 'node'> & { now?: Date },
): CompiledQuery {
  const pipe = findPipe(project, pipeName);
  return new Compiler(project, pipe, sampleParams(pipe, opts.now), { ...opts, node: nodeName }).compile();
}

/**
 * Every node of a pipe compiled to the SQL compileNodeForCheck gives it, with one compiler: a node
 * is rendered once, not again for each later node that reads it (its `params` then hold those of
 * every node compiled before it, a superset: for checking, not for running). A node that does
 * not compile has its error; the nodes reading it fail with the same error, as they would alone.
 */
export function compileNodesForCheck(
  project: CompilableProject,
  pipeName: string,
  opts: Omit<CompileOptions, 'node'> & { now?: Date },
): Array<{ node: string; compiled?: CompiledQuery; error?: unknown }> {
  const pipe = findPipe(project, pipeName);
  let params: ResolvedParams;
  try {
    params = sampleParams(pipe, opts.now);
  } catch (error) {
    // A default the loader took but the compiler refuses: every node's problem, not a stop.
    return pipe.nodes.map((n) => ({ node: n.name, error }));
  }
  const compiler = new Compiler(project, pipe, params, opts);
  return pipe.nodes.map((n) => {
    try {
      return { node: n.name, compiled: compiler.compile(n.name) };
    } catch (error) {
      return { node: n.name, error };
    }
  });
}

/** The params `tally check` compiles with (see compileNodeForCheck); required ones count as given. */
export function sampleParams(pipe: Pick<Pipe, 'name' | 'params'>, now: Date = new Date()): ResolvedParams {
  const values: Record<string, ParamValue> = {};
  const given = new Set<string>();
  for (const [name, param] of pipe.params) {
    if (param.default !== undefined) values[name] = parseDefault(pipe.name, param);
    else if (param.required) {
      values[name] = parseParamValue(sampleOf(param, now), param);
      given.add(name);
    }
  }
  return Object.freeze({ values: Object.freeze(values), given, unknown: Object.freeze([]) });
}

// ---------------------------------------------------------------------------------------------

interface Rendered {
  sql: string;
  tokens: SqlToken[];
  refs: Array<{ token: SqlToken; name: string; node?: number; table?: true }>;
}

class Compiler {
  private readonly rendered = new Map<number, Rendered>();
  private readonly compiled = new Map<number, string>();
  private readonly params: Record<string, unknown> = {};
  private readonly literalBytes = new Map<string, number>();

  constructor(
    private readonly project: CompilableProject,
    private readonly pipe: Pipe,
    private readonly resolved: ResolvedParams,
    private readonly opts: CompileOptions,
  ) {}

  /** The query up to `node` (default: the options' node, else the last one). */
  compile(node = this.opts.node): CompiledQuery {
    const target = this.targetIndex(node);
    const chain = this.opts.chain ?? (this.opts.capabilities.cte ? 'cte' : 'subquery');
    if (chain === 'cte' && !this.opts.capabilities.cte) {
      throw new TallyError(
        'unsupported',
        `ClickHouse ${this.opts.capabilities.version} has no common table expressions; compile node chains as subqueries`,
        {
          exitCode: 2,
        },
      );
    }
    const sql = chain === 'cte' ? this.withCtes(target) : this.subqueries(target);
    this.checkSize(sql);
    return Object.freeze({ sql, params: Object.freeze({ ...this.params }) });
  }

  private targetIndex(node: string | undefined): number {
    const nodes = this.pipe.nodes;
    if (nodes.length === 0)
      throw new TallyError('empty-pipe', `pipe ${this.pipe.name} has no nodes`, { location: this.pipe.loc });
    if (node === undefined) return nodes.length - 1;
    const i = nodes.findIndex((n) => n.name === node);
    if (i === -1) {
      const near = closest(
        node,
        nodes.map((n) => n.name),
      );
      throw new TallyError(
        'unknown-node',
        `pipe ${this.pipe.name} has no node "${node}"${near ? `; did you mean "${near}"?` : ''}`,
        {
          location: this.pipe.loc,
        },
      );
    }
    return i;
  }

  /** A node's SQL with its references replaced by subqueries and qualified table names. */
  private subqueries(i: number): string {
    const done = this.compiled.get(i);
    if (done !== undefined) return done;
    const r = this.render(i);
    let out = '';
    let pos = 0;
    for (const ref of r.refs) {
      out += r.sql.slice(pos, ref.token.start);
      if (ref.node !== undefined) {
        const alias = needsAlias(r.tokens, ref.token) ? ` AS ${ident(ref.name)}` : '';
        out += `(${this.subqueries(ref.node)})${alias}`;
      } else out += this.table(ref.name);
      pos = ref.token.end;
    }
    out += r.sql.slice(pos);
    this.compiled.set(i, out);
    return out;
  }

  /** `WITH a AS (...), b AS (...) <node>`: the nodes the target reads, in pipe order. */
  private withCtes(target: number): string {
    const needed = new Set<number>();
    const visit = (i: number) => {
      for (const ref of this.render(i).refs) {
        if (ref.node !== undefined && !needed.has(ref.node)) {
          needed.add(ref.node);
          visit(ref.node);
        }
      }
    };
    visit(target);
    const body = (i: number) => {
      const r = this.render(i);
      let out = '';
      let pos = 0;
      for (const ref of r.refs) {
        if (!ref.table) continue;
        out += r.sql.slice(pos, ref.token.start) + this.table(ref.name);
        pos = ref.token.end;
      }
      return out + r.sql.slice(pos);
    };
    const final = body(target);
    if (needed.size === 0) return final;
    const ctes = [...needed]
      .sort((a, b) => a - b)
      .map((i) => `${ident(this.pipe.nodes[i]!.name)} AS (${body(i)})`)
      .join(', ');
    // A node that starts with its own WITH list gets the node CTEs prepended to that list.
    const first = significantTokens(lexSql(final))[0];
    if (isKeyword(first, 'WITH')) return `WITH ${ctes}, ${final.slice(first!.end).trimStart()}`;
    return `WITH ${ctes}\n${final}`;
  }

  private render(i: number): Rendered {
    const done = this.rendered.get(i);
    if (done) return done;
    const node = this.pipe.nodes[i]!;
    const out = renderTemplate(node.template, this.pipe.params, this.resolved, {
      capabilities: this.opts.capabilities,
      ...(this.opts.values ? { values: this.opts.values } : {}),
      pipe: this.pipe.name,
      node: node.name,
    });
    Object.assign(this.params, out.params);
    for (const [p, n] of out.literalBytes) this.literalBytes.set(p, (this.literalBytes.get(p) ?? 0) + n);
    const sql = statementOf(out.sql, node.name, node.loc);
    const tokens = significantTokens(lexSql(sql));
    const earlier = new Map(this.pipe.nodes.slice(0, i).map((n, j) => [n.name, j] as const));
    const refs: Rendered['refs'] = [];
    for (const ref of sqlReferences(sql)) {
      const j = earlier.get(ref.name);
      if (j !== undefined) refs.push({ token: ref.token, name: ref.name, node: j });
      else if (this.project.datasources.has(ref.name))
        refs.push({ token: ref.token, name: ref.name, table: true });
    }
    refs.sort((a, b) => a.token.start - b.token.start);
    const r = { sql, tokens, refs };
    this.rendered.set(i, r);
    return r;
  }

  private table(name: string): string {
    return `${quoteIdent(this.opts.database)}.${quoteIdent(name)}`;
  }

  /** An oversized query fails on the server; with values in it, that is the request's fault. */
  private checkSize(sql: string): void {
    const max = this.opts.maxQuerySize ?? DEFAULT_MAX_QUERY_SIZE;
    const bytes = Buffer.byteLength(sql, 'utf8');
    if (bytes <= max) return;
    const [culprit] = [...this.literalBytes].sort((a, b) => b[1] - a[1])[0] ?? [];
    const param = culprit === undefined ? undefined : this.pipe.params.get(culprit);
    const message = `the compiled query of pipe ${this.pipe.name} is ${bytes} bytes, over ClickHouse's max_query_size of ${max} bytes`;
    if (param) {
      throw new ParamError(
        'invalid-param',
        param.name,
        expectedOf(param),
        `param "${param.name}" is too long: ${message}; send a shorter value`,
      );
    }
    throw new TallyError('query-too-large', message, { location: this.pipe.loc });
  }
}

function findPipe(project: CompilableProject, name: string): Pipe {
  const pipe = project.pipes.get(name);
  if (!pipe) {
    const near = closest(name, project.pipes.keys());
    throw new TallyError('unknown-pipe', `no pipe named "${name}"${near ? `; did you mean "${near}"?` : ''}`);
  }
  return pipe;
}

/** The statement without trailing `;`, comments and whitespace (a trailing `-- note` would swallow a closing parenthesis). */
function statementOf(sql: string, node: string, loc: Pipe['loc']): string {
  const tokens = significantTokens(lexSql(sql));
  let end = tokens.length;
  while (end > 0 && isPunct(tokens[end - 1], ';')) end--;
  if (tokens.slice(0, end).some((t) => isPunct(t, ';'))) {
    throw new TallyError(
      'multiple-statements',
      `node ${node} holds more than one SQL statement; a node is one SELECT`,
      { location: loc },
    );
  }
  return end === 0 ? '' : sql.slice(0, tokens[end - 1]!.end).replace(/^\s+/, '');
}

/** A node in FROM/JOIN needs `AS name` unless the query aliases it already (or reads it with IN). */
function needsAlias(tokens: readonly SqlToken[], at: SqlToken): boolean {
  const i = tokens.findIndex((t) => t.start === at.start);
  if (isKeyword(tokens[i - 1], 'IN')) return false;
  const next = tokens[i + 1];
  if (!next) return true;
  if (isKeyword(next, 'AS')) return false;
  if (next.kind === 'quoted') return false;
  return !(next.kind === 'word' && !NOT_ALIAS.has(next.text.toUpperCase()));
}

function ident(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : quoteIdent(name);
}

function sampleOf(param: Param, now: Date): unknown {
  if (param.enum && param.enum.length > 0) return param.enum[0];
  const t = paramType(param.type);
  if (t.kind === 'nullable') return null;
  if (t.kind === 'array') return [];
  const clamp = (x: number) => {
    if (param.min !== undefined && x < param.min) return param.min;
    return param.max !== undefined && x > param.max ? param.max : x;
  };
  switch (t.kind) {
    case 'string':
      return '';
    case 'int': {
      const x = clamp(0);
      return String(x < 0 ? Math.floor(x) : Math.ceil(x));
    }
    case 'float':
      return clamp(0);
    case 'decimal':
      return canonicalDecimal(clamp(0));
    case 'bool':
      return false;
    case 'date': {
      // Today, kept within the supported range: the middle of the three sorted.
      return [MIN_DATE, now.toISOString().slice(0, 10), MAX_DATE].sort()[1];
    }
    case 'datetime':
      return formatEpoch(Math.floor(now.getTime() / 1000));
  }
}
