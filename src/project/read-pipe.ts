import { isMap, isScalar, isSeq, type Node } from 'yaml';
import type { Problem, SourceLocation } from '../errors.ts';
import { didYouMean } from '../util/did-you-mean.ts';
import type { YamlFile } from '../yaml/yaml-file.ts';
import { YamlReader } from '../yaml/yaml-reader.ts';
import { checkValue } from './check-value.ts';
import type { Materialize, Param, Pipe, PipeNode, TypeNode } from './model.ts';
import { parseTemplate } from './parse-template.ts';
import { isNumericType, parseType } from './parse-type.ts';
import { readCopy } from './read-copy.ts';
import { reportTypeError } from './read-datasource.ts';
import { lexSql, type SqlToken, type SqlTokenKind } from './sql-lexer.ts';
import { sqlLocator } from './sql-locator.ts';
import { referencedNames } from './sql-references.ts';
import { fileLoc, IDENTIFIER } from './yaml-values.ts';

const TOP_KEYS = ['description', 'params', 'nodes', 'materialize', 'copy'];
const PARAM_KEYS = ['type', 'required', 'default', 'description', 'enum', 'min', 'max', 'requires'];
const NODE_KEYS = ['name', 'description', 'sql'];
const MATERIALIZE_KEYS = ['to'];

/** Types a param may have; `Array(T)` of any of them is allowed too. */
export const PARAM_TYPES: readonly string[] = [
  'String',
  'Int8',
  'Int16',
  'Int32',
  'Int64',
  'UInt8',
  'UInt16',
  'UInt32',
  'UInt64',
  'Float32',
  'Float64',
  'Decimal',
  'Bool',
  'Date',
  'DateTime',
];

/** Whether `t` is a type a param may have. */
export function isParamType(t: TypeNode): boolean {
  if (t.name === 'Array' && t.args[0]?.kind === 'type') return PARAM_TYPES.includes(t.args[0].type.name);
  return PARAM_TYPES.includes(t.name);
}

/**
 * Reads one `pipes/<name>.pipe.yaml`: params, nodes (with their templates parsed and the names
 * they read), and `materialize`. Cross-file rules (references, materialize columns, param use)
 * are checked by validateProject.
 */
export function readPipe(yf: YamlFile, name: string, problems: Problem[]): Pipe | undefined {
  const r = new YamlReader(yf, problems);
  const top = r.map(yf.root, `pipe \`${name}\``, TOP_KEYS);
  if (!top) return undefined;
  const pipe: Pipe = {
    kind: 'pipe',
    name,
    file: yf.file,
    loc: fileLoc(yf.file),
    params: new Map(),
    nodes: [],
  };
  if (top.has('description')) {
    const d = r.string(top.get('description'), 'description');
    if (d !== undefined) pipe.description = d;
  }
  if (top.has('params')) {
    pipe.params = readParams(r, top.get('params'));
    if (!isMap(top.get('params'))) pipe.paramsUnreadable = true;
  }
  const nodesNode = top.require('nodes');
  if (nodesNode !== undefined) pipe.nodes = readNodes(r, nodesNode);
  if (top.has('materialize')) {
    const m = r.map(top.get('materialize'), '`materialize`', MATERIALIZE_KEYS);
    const toNode = m?.require('to');
    const to = toNode === undefined ? undefined : r.string(toNode, 'materialize.to (a data source name)');
    if (to !== undefined) {
      const mat: Materialize = { to, loc: r.loc(toNode) };
      pipe.materialize = mat;
      if (pipe.params.size > 0) {
        r.error(
          top.keyNode('params'),
          'materialize-params',
          'a materialized pipe cannot have params: it runs on every insert, with no request to take values from',
          'remove params, or read this pipe from an endpoint instead of materializing it',
        );
      }
    }
  }
  if (top.has('copy')) {
    if (top.has('materialize')) {
      r.error(
        top.keyNode('copy'),
        'copy-and-materialize',
        'a pipe either materializes (on every insert) or copies (on a schedule), not both',
        'split it into two pipes',
      );
    }
    if (pipe.params.size > 0) {
      r.error(
        top.keyNode('params'),
        'copy-params',
        'a copy pipe cannot declare params: Tally gives it `snapshot_at` and `settled_before`, and nothing else',
        'remove params; use {{ snapshot_at }} and {{ settled_before }} in the SQL',
      );
    }
    // Declared even when `copy` has a problem, so their uses are not reported as undeclared too.
    pipe.params = copyParams(r.loc(top.keyNode('copy')));
    const { copy, to } = readCopy(r, top.get('copy'));
    if (copy) pipe.copy = copy;
    else if (to !== undefined) pipe.refusedCopyTo = to;
  }
  return pipe;
}

/** The two values Tally supplies to a copy pipe, declared for the template checks and the compiler. */
function copyParams(loc: SourceLocation): Map<string, Param> {
  const dateTime: TypeNode = { name: 'DateTime', args: [], text: 'DateTime' };
  const supplied = (name: string, description: string): Param => ({
    name,
    type: dateTime,
    required: true,
    supplied: true,
    description,
    loc,
  });
  return new Map([
    ['snapshot_at', supplied('snapshot_at', 'The tick this snapshot is of (UTC)')],
    [
      'settled_before',
      supplied('settled_before', "The server's clock when the copy started, minus `settle` seconds"),
    ],
  ]);
}

function readParams(r: YamlReader, node: Node | null | undefined): Map<string, Param> {
  const params = new Map<string, Param>();
  /** Where each param's `requires:` is written, for its problems. */
  const requiresAt = new Map<string, Node>();
  for (const { name, keyNode, value } of r.namedMap(node, '`params`')) {
    if (!IDENTIFIER.test(name)) {
      r.error(
        keyNode,
        'invalid-name',
        `param name \`${name}\` must be letters, digits and underscores, not starting with a digit`,
      );
      continue;
    }
    if (name === 'token' || name.startsWith('_')) {
      // A request's `token` is its access token, and `_` names are ignored (cache busters).
      r.error(
        keyNode,
        'invalid-name',
        `param name \`${name}\` is reserved: ${name === 'token' ? '`token` in a request is its access token' : 'params starting with `_` are ignored in requests'}`,
        'choose another name',
      );
      continue;
    }
    const p = readParam(r, name, keyNode, value);
    if (p) params.set(name, p);
    if (p?.requires) requiresAt.set(name, isMap(value) ? (value.get('requires', true) as Node) : keyNode);
  }
  checkRequires(r, requiresAt, params);
  return params;
}

/** `requires:` names other params of the pipe; a param given needs them given too. */
function checkRequires(r: YamlReader, at: Map<string, Node>, params: Map<string, Param>): void {
  for (const p of params.values()) {
    const node = at.get(p.name);
    for (const other of p.requires ?? []) {
      if (other === p.name) {
        r.error(node, 'invalid-param-value', `param \`${p.name}\` requires itself`, 'name another param');
      } else if (!params.has(other)) {
        r.error(
          node,
          'unknown-param',
          `param \`${p.name}\` requires \`${other}\`, which the pipe does not declare${didYouMean(other, [...params.keys()])}`,
        );
      }
    }
  }
}

function readParam(r: YamlReader, name: string, keyNode: Node, value: Node | null): Param | undefined {
  // Shorthand: `day: Date` is `day: { type: Date }`.
  const shorthand = value && isScalar(value) && typeof value.value === 'string';
  const m = shorthand ? undefined : r.map(value ?? keyNode, `param \`${name}\``, PARAM_KEYS);
  if (!m && !shorthand) return undefined;
  const typeNode = m ? m.require('type') : value;
  const typeText = typeNode === undefined ? undefined : r.string(typeNode, `type of param \`${name}\``);
  let type: TypeNode | undefined;
  if (typeText !== undefined && typeNode) {
    const parsed = parseType(typeText);
    if (!parsed.ok) reportTypeError(r, typeNode, parsed);
    else if (!isParamType(parsed.type)) {
      r.error(
        typeNode,
        'unsupported-param-type',
        `param \`${name}\` cannot be ${parsed.type.text}`,
        `param types: ${PARAM_TYPES.join(', ')}, or Array(T) of them`,
      );
    } else type = parsed.type;
  }
  // With a wrong type the param is still declared (its problem is reported), so uses of it
  // are not reported again as undeclared; String stands in and the project is not built.
  const param: Param = {
    name,
    type: type ?? { name: 'String', args: [], text: 'String' },
    required: false,
    loc: r.loc(keyNode),
  };
  if (!m) return param;
  if (m.has('required'))
    param.required = r.boolean(m.get('required'), `required of param \`${name}\``) ?? false;
  if (m.has('description')) {
    const d = r.string(m.get('description'), 'description');
    if (d !== undefined) param.description = d;
  }
  if (m.has('requires')) {
    const names = r.stringList(m.get('requires'), `requires of param \`${name}\``);
    if (names && names.length > 0) param.requires = names;
  }
  if (!type) return param;

  const check = (node: Node | null | undefined, what: string): { ok: boolean; value?: unknown } => {
    const c = checkValue(type, r.plain(node));
    if (!c.ok) {
      r.error(node, 'invalid-param-value', `${what} of param \`${name}\`: ${c.message}`);
      return { ok: false };
    }
    return { ok: true, value: c.value };
  };
  const numeric = isNumericType(type);
  for (const key of ['min', 'max'] as const) {
    if (!m.has(key)) continue;
    if (!numeric) {
      r.error(
        m.keyNode(key),
        'invalid-param-value',
        `${key} applies only to numeric params; \`${name}\` is ${type.text}`,
      );
      continue;
    }
    const n = r.number(m.get(key), `${key} of param \`${name}\``);
    if (n !== undefined && check(m.get(key), key).ok) param[key] = n;
  }
  if (param.min !== undefined && param.max !== undefined && param.min > param.max) {
    r.error(
      m.get('max'),
      'invalid-param-value',
      `max of param \`${name}\` (${param.max}) is below its min (${param.min})`,
    );
  }
  const inRange = (v: unknown, node: Node | null | undefined, what: string) => {
    if (typeof v !== 'number' && typeof v !== 'string') return;
    const n = Number(v);
    if ((param.min !== undefined && n < param.min) || (param.max !== undefined && n > param.max)) {
      r.error(
        node,
        'invalid-param-value',
        `${what} of param \`${name}\` (${v}) is outside min..max (${param.min ?? '-inf'}..${param.max ?? 'inf'})`,
      );
    }
  };
  if (m.has('enum')) {
    const enumNode = m.get('enum');
    if (!enumNode || !isSeq(enumNode) || enumNode.items.length === 0) {
      r.error(
        enumNode,
        'expected-list',
        `enum of param \`${name}\` must be a non-empty list of allowed values`,
      );
    } else {
      const values: unknown[] = [];
      for (const item of enumNode.items as Node[]) {
        const c = check(item, 'an enum value');
        if (c.ok && values.some((v) => JSON.stringify(v) === JSON.stringify(c.value))) {
          r.error(item, 'invalid-value', `enum of param \`${name}\` lists ${JSON.stringify(c.value)} twice`);
        } else if (c.ok) {
          inRange(c.value, item, 'an enum value');
          values.push(c.value);
        }
      }
      param.enum = values;
    }
  }
  if (m.has('default')) {
    const node = m.get('default');
    const c = check(node, 'default');
    if (c.ok) {
      inRange(c.value, node, 'default');
      if (param.enum && !param.enum.some((e) => sameValue(e, c.value))) {
        const allowed = param.enum.map((e) => String(e));
        r.error(
          node,
          'invalid-param-value',
          `default of param \`${name}\` (${String(c.value)}) is not one of its enum values${didYouMean(String(c.value), allowed)}`,
          `enum: ${allowed.join(', ')}`,
        );
      }
      param.default = c.value;
      if (param.required) {
        r.warn(
          m.keyNode('required'),
          'required-with-default',
          `param \`${name}\` is required, so its default is never used`,
          'remove required or the default',
        );
      }
    }
  }
  return param;
}

function readNodes(r: YamlReader, node: Node | null): PipeNode[] {
  const items = r.list(node, '`nodes`');
  if (!items) return [];
  if (items.length === 0) r.error(node, 'invalid-value', 'a pipe needs at least one node');
  const out: PipeNode[] = [];
  const seen = new Map<string, number>();
  for (const item of items) {
    const m = r.map(item, 'node', NODE_KEYS);
    if (!m) continue;
    const nameNode = m.require('name');
    const name = nameNode === undefined ? undefined : r.string(nameNode, 'node `name`');
    if (name !== undefined && !IDENTIFIER.test(name)) {
      r.error(
        nameNode,
        'invalid-name',
        `node name \`${name}\` must be letters, digits and underscores, not starting with a digit`,
      );
    } else if (name !== undefined && seen.has(name)) {
      r.error(
        nameNode,
        'duplicate-node',
        `node \`${name}\` is defined twice in this pipe (first on line ${seen.get(name)})`,
      );
    } else if (name !== undefined) {
      seen.set(name, r.loc(nameNode).line);
    }
    const sqlNode = m.require('sql');
    const sql = sqlNode === undefined ? undefined : r.string(sqlNode, `sql of node \`${name ?? '?'}\``);
    if (sql !== undefined && sql.trim() === '')
      r.error(sqlNode, 'invalid-value', `sql of node \`${name ?? '?'}\` is empty`);
    if (name === undefined || sql === undefined || !sqlNode) continue;
    const sqlStart = r.file.contentStart(sqlNode);
    checkSqlText(sql, sqlStart, name, r.problems);
    const pn: PipeNode = {
      name,
      sql,
      template: parseTemplate(sql, { start: sqlStart, problems: r.problems }),
      sqlStart,
      references: referencedNames(sql),
      loc: r.loc(item),
    };
    if (m.has('description')) {
      const d = r.string(m.get('description'), 'description');
      if (d !== undefined) pn.description = d;
    }
    if (IDENTIFIER.test(name) && !out.some((n) => n.name === name)) out.push(pn);
  }
  return out;
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

const UNCLOSED: Partial<Record<SqlTokenKind, string>> = {
  string: 'string',
  quoted: 'quoted name',
  comment: 'comment',
};

/** Lexical checks of a node's SQL (one lexing for both). */
function checkSqlText(sql: string, start: SourceLocation, node: string, problems: Problem[]): void {
  const tokens = lexSql(sql);
  const locate = sqlLocator(sql, start);
  checkParamPlacement(tokens, locate, node, problems);
  checkUnclosed(tokens, locate, node, problems);
}

/**
 * A `{{ p }}` inside quotes is an error: the value is rendered as a literal with its own quotes,
 * so `'{{ p }}'` closes the string and runs the rest of the value as SQL (or, as a query
 * parameter, is the constant text `{p:String}`). So is one inside a block comment.
 */
function checkParamPlacement(
  tokens: readonly SqlToken[],
  locate: (offset: number) => SourceLocation,
  node: string,
  problems: Problem[],
): void {
  for (const t of tokens) {
    // A `--` comment is safe: a value's line breaks are escaped, so it cannot end the line.
    const block = t.kind === 'comment' && t.text.startsWith('/*');
    if ((t.kind !== 'string' && t.kind !== 'quoted' && !block) || t.unterminated) continue;
    const at = t.text.indexOf('{{');
    if (at < 0) continue;
    const close = t.text.indexOf('}}', at);
    const tag = close < 0 ? '{{ }}' : t.text.slice(at, close + 2);
    const name = /^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$/.exec(tag)?.[1] ?? 'p';
    if (block) {
      // Rendered there too: a value starting with `*/` would end the comment and run as SQL.
      problems.push({
        severity: 'error',
        code: 'param-in-comment',
        message: `node \`${node}\`: \`${tag}\` is inside a /* */ comment; Tally still writes the value there, where a value holding */ would end the comment and run as SQL`,
        location: locate(t.start + at),
        hint: 'move it out of the comment, or write the param name without braces (a -- comment is safe)',
      });
      continue;
    }
    problems.push({
      severity: 'error',
      code: 'param-in-quotes',
      message: `node \`${node}\`: \`${tag}\` is inside ${t.kind === 'string' ? 'a quoted string' : 'a quoted name'}; Tally writes a param as a literal with its own quotes, so inside quotes its value would run as SQL`,
      location: locate(t.start + at),
      hint:
        t.kind === 'string'
          ? `write it bare: = {{ ${name} }}; to build text, use concat('%', {{ ${name} }}, '%')`
          : 'params never name tables or columns: use {% if %} to choose between fixed names',
    });
  }
}

/**
 * A string, quoted name or block comment left open runs to the end of the SQL: ClickHouse would
 * refuse the query at every request, so it is an error here (unclosed template tags are the
 * template parser's).
 */
function checkUnclosed(
  tokens: readonly SqlToken[],
  locate: (offset: number) => SourceLocation,
  node: string,
  problems: Problem[],
): void {
  const open = tokens.find((t) => t.unterminated && UNCLOSED[t.kind]);
  if (!open) return;
  problems.push({
    severity: 'error',
    code: 'sql-syntax',
    message: `node \`${node}\`: this ${UNCLOSED[open.kind]} is never closed, so it runs to the end of the SQL`,
    location: locate(open.start),
    hint: open.kind === 'comment' ? 'close it with */' : `close it with ${open.text[0]}`,
  });
}
