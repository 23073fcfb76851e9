/**
 * Renders a node's template with a request's params: text as written, `{{ p }}` as a literal of
 * the param's type (or a server-side `{p:Type}` parameter), `{% if %}` branches evaluated.
 */
import type { Capabilities } from '../clickhouse/capabilities.ts';
import { TallyError } from '../errors.ts';
import type { Param, TemplateExpr, TemplatePart, TemplateValue } from '../project/model.ts';
import { bareNumbers, type ValueSpan } from './bare-numbers.ts';
import {
  coerceValue,
  compareDecimal,
  epochOfCanonical,
  type ParamValue,
  ValueMismatch,
} from './coerce-value.ts';
import { ParamError } from './param-error.ts';
import { type ParamType, paramType, type TypeDialect, typeLabel, typeSql } from './param-type.ts';
import { expectedOf, type ResolvedParams } from './parse-param-value.ts';
import { literalOf } from './render-literal.ts';

/**
 * How values reach the server: `literal` renders them into the SQL text (every server);
 * `params` sends them as server-side query parameters (`{name:Type}`, servers 19.11+). Both give
 * the same results; a value the client library cannot send exactly as a parameter (floats and
 * decimals inside arrays) is rendered as a literal even in `params` mode.
 */
export type ValueMode = 'literal' | 'params';

export interface RenderTemplateOptions {
  capabilities: Pick<Capabilities, 'queryParams' | 'boolType'>;
  /** Default: `params` when the server supports query parameters, else `literal`. */
  values?: ValueMode;
  /** Named in messages. */
  pipe?: string;
  node?: string;
}

export interface RenderedTemplate {
  sql: string;
  /** Query parameters for the placeholders in `sql` (empty in literal mode). */
  params: Record<string, unknown>;
  /** UTF-8 bytes the literals of each param add to `sql` (to name the culprit of an oversized query). */
  literalBytes: Map<string, number>;
}

/**
 * Renders template parts. `defined(p)` is true when the request gave p (Tinybird's meaning), not
 * when p merely has a default; `{{ p }}` renders the given value or else the default, and a
 * param with neither is a ParamError naming it. Comparisons read a literal as the compared
 * param's type (`{% if as_of >= '2024-01-01 00:00:00' %}`, `{% if limit > 100 %}`); a missing
 * value equals only null and is neither less nor greater than anything.
 */
export function renderTemplate(
  parts: readonly TemplatePart[],
  declared: ReadonlyMap<string, Param>,
  resolved: ResolvedParams,
  opts: RenderTemplateOptions,
): RenderedTemplate {
  const mode = opts.values ?? (opts.capabilities.queryParams ? 'params' : 'literal');
  if (mode === 'params' && !opts.capabilities.queryParams) {
    throw new TallyError(
      'unsupported',
      'this ClickHouse server has no query parameters; render values as literals',
      { exitCode: 2 },
    );
  }
  const r = new Renderer(declared, resolved, { boolType: opts.capabilities.boolType }, mode, opts);
  r.parts(parts);
  const { sql, replaced } = bareNumbers(r.sql, r.spans);
  // A placeholder written as a bare number needs no parameter, unless used elsewhere too.
  const params: Record<string, unknown> = {};
  r.spans.forEach((s, i) => {
    if (s.placeholder && !replaced.has(i)) params[s.name] = r.params[s.name];
  });
  return { sql, params, literalBytes: r.literalBytes };
}

const PLACEHOLDER_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

interface Operand {
  value: ParamValue | TemplateValue | undefined;
  /** Set when the operand is a param: its type reads the other side of a comparison. */
  type?: ParamType;
  param?: string;
}

class Renderer {
  sql = '';
  readonly params: Record<string, unknown> = {};
  readonly literalBytes = new Map<string, number>();
  readonly spans: Array<ValueSpan & { name: string; placeholder: boolean }> = [];

  constructor(
    private readonly declared: ReadonlyMap<string, Param>,
    private readonly resolved: ResolvedParams,
    private readonly dialect: TypeDialect,
    private readonly mode: ValueMode,
    private readonly opts: RenderTemplateOptions,
  ) {}

  parts(parts: readonly TemplatePart[]): void {
    for (const part of parts) {
      if (part.kind === 'text') this.sql += part.text;
      else if (part.kind === 'param') this.value(part.param, part);
      else {
        const branch = part.branches.find((b) => truthy(this.evaluate(b.cond, part).value));
        const body = branch ? branch.body : part.otherwise;
        if (body) this.parts(body);
      }
    }
  }

  private value(name: string, part: TemplatePart): void {
    const param = this.param(name, part);
    const v = this.resolved.values[name];
    if (v === undefined) {
      const where = this.opts.node ? `node ${this.opts.node}` : 'the SQL';
      throw new ParamError(
        'missing-param',
        name,
        expectedOf(param),
        `param "${name}" has no value, and ${where} uses {{ ${name} }} outside {% if defined(${name}) %}; expected ${expectedOf(param)}`,
      );
    }
    const t = paramType(param.type);
    const start = this.sql.length;
    const bare = t.kind === 'int' || t.kind === 'float' ? String(v) : undefined;
    if (this.mode === 'params' && PLACEHOLDER_NAME.test(name)) {
      const sent = placeholderValue(v, t, false);
      if (sent !== CANNOT) {
        this.params[name] = sent;
        this.sql += `{${name}:${typeSql(t, this.dialect)}}`;
        this.spans.push({ start, end: this.sql.length, name, placeholder: true, ...(bare ? { bare } : {}) });
        return;
      }
    }
    const lit =
      t.kind === 'array' && t.element.kind !== 'array' && AFTER_IN.test(this.sql)
        ? setLiteral(v as readonly ParamValue[], t.element, this.dialect)
        : literalOf(v, t, this.dialect);
    this.literalBytes.set(name, (this.literalBytes.get(name) ?? 0) + Buffer.byteLength(lit, 'utf8'));
    this.sql += lit;
    this.spans.push({ start, end: this.sql.length, name, placeholder: false, ...(bare ? { bare } : {}) });
  }

  private param(name: string, part: TemplatePart): Param {
    const param = this.declared.get(name);
    if (!param) {
      throw new TallyError(
        'undeclared-param',
        `the template uses param "${name}", which the pipe does not declare`,
        {
          location: part.loc,
        },
      );
    }
    return param;
  }

  private evaluate(e: TemplateExpr, part: TemplatePart): Operand {
    switch (e.kind) {
      case 'defined':
        this.param(e.param, part);
        return { value: this.resolved.given.has(e.param) };
      case 'param': {
        const param = this.param(e.param, part);
        return { value: this.resolved.values[e.param], type: paramType(param.type), param: e.param };
      }
      case 'literal':
        return { value: e.value };
      case 'not':
        return { value: !truthy(this.evaluate(e.expr, part).value) };
      case 'and':
        return {
          value: truthy(this.evaluate(e.left, part).value) && truthy(this.evaluate(e.right, part).value),
        };
      case 'or':
        return {
          value: truthy(this.evaluate(e.left, part).value) || truthy(this.evaluate(e.right, part).value),
        };
      case 'compare': {
        const c = compare(this.evaluate(e.left, part), this.evaluate(e.right, part), part);
        const ops: Record<typeof e.op, (n: number) => boolean> = {
          '==': (n) => n === 0,
          '!=': (n) => n !== 0,
          '<': (n) => n < 0,
          '<=': (n) => n <= 0,
          '>': (n) => n > 0,
          '>=': (n) => n >= 0,
        };
        // Unordered (a missing value against a value): only != holds.
        return { value: c === undefined ? e.op === '!=' : ops[e.op](c) };
      }
    }
  }
}

const CANNOT = Symbol('cannot');

/** The text before a value ends with the `IN` operator (`x IN {{ ids }}`, `NOT IN`, `GLOBAL IN`). */
const AFTER_IN = /(?:^|[^A-Za-z0-9_$])IN\s*$/i;

/**
 * An Array param's values as the set of an `IN`: `('a', 'b')`. ClickHouse 18.16 refuses an
 * array there (`Type mismatch in IN or VALUES section`); a list works on every version. The
 * empty set is `(NULL)`: no value is IN it (and every value is NOT IN it), and `()` does not parse.
 */
function setLiteral(items: readonly ParamValue[], element: ParamType, dialect: TypeDialect): string {
  if (items.length === 0) return '(NULL)';
  return `(${items.map((item) => literalOf(item, element, dialect)).join(', ')})`;
}

/**
 * The value @clickhouse/client sends for a `{p:Type}` placeholder so that the server reads back
 * exactly `v`, or CANNOT. The client writes top-level strings unquoted and array items quoted;
 * numbers beyond 2^53 it refuses, so floats go as text, and floats/decimals inside arrays (which
 * would be quoted, and a quoted number does not parse) are rendered as literals instead.
 */
function placeholderValue(v: ParamValue, t: ParamType, inArray: boolean): unknown {
  switch (t.kind) {
    case 'string':
    case 'int':
    case 'date':
      return v;
    case 'float':
      return inArray ? CANNOT : String(v);
    case 'decimal':
      return inArray ? CANNOT : v;
    case 'bool':
      return v;
    case 'datetime': {
      // The server reads a number as epoch seconds, whatever its time zone (top level: 10 digits).
      const epoch = epochOfCanonical(v as string);
      return inArray ? epoch : String(epoch).padStart(10, '0');
    }
    case 'nullable':
      return v === null ? null : placeholderValue(v, t.inner, inArray);
    case 'array': {
      const out: unknown[] = [];
      for (const item of v as readonly ParamValue[]) {
        const sent = placeholderValue(item, t.element, true);
        if (sent === CANNOT) return CANNOT;
        out.push(sent);
      }
      return out;
    }
  }
}

function truthy(v: ParamValue | TemplateValue | undefined): boolean {
  if (Array.isArray(v)) return v.length > 0;
  return v !== undefined && v !== null && v !== false && v !== 0 && v !== 0n && v !== '';
}

/** Negative, zero or positive; undefined when the two cannot be ordered (a missing value). */
function compare(a: Operand, b: Operand, part: TemplatePart): number | undefined {
  // Read a literal as the type of the param it is compared with.
  const type = a.type ?? b.type;
  let x = a.value;
  let y = b.value;
  if (x === undefined || x === null || y === undefined || y === null) {
    const xNull = x === undefined || x === null;
    const yNull = y === undefined || y === null;
    return xNull && yNull ? 0 : undefined;
  }
  if (type) {
    const label = typeLabel(type);
    const read = (o: Operand) => {
      if (o.type) return o.value as ParamValue;
      try {
        return coerceValue(o.value, type);
      } catch (e) {
        if (!(e instanceof ValueMismatch)) throw e;
        throw new TallyError(
          'template-compare',
          `cannot compare param "${a.param ?? b.param}" (${label}) with ${JSON.stringify(o.value)}: it is not a ${label}`,
          { location: part.loc },
        );
      }
    };
    x = read(a);
    y = read(b);
    if (type.kind === 'decimal' && typeof x === 'string' && typeof y === 'string')
      return compareDecimal(x, y);
  }
  return compareValues(x, y, part);
}

function compareValues(
  x: ParamValue | TemplateValue,
  y: ParamValue | TemplateValue,
  part: TemplatePart,
): number {
  if ((typeof x === 'number' || typeof x === 'bigint') && (typeof y === 'number' || typeof y === 'bigint')) {
    if (typeof x === 'bigint' || typeof y === 'bigint') {
      if (Number.isInteger(Number(x)) && Number.isInteger(Number(y))) {
        const bx = BigInt(x);
        const by = BigInt(y);
        return bx < by ? -1 : bx > by ? 1 : 0;
      }
    }
    return Number(x) < Number(y) ? -1 : Number(x) > Number(y) ? 1 : 0;
  }
  if (typeof x === 'string' && typeof y === 'string') return x < y ? -1 : x > y ? 1 : 0;
  if (typeof x === 'boolean' && typeof y === 'boolean') return Number(x) - Number(y);
  if (Array.isArray(x) && Array.isArray(y)) return JSON.stringify(x, big) === JSON.stringify(y, big) ? 0 : 1;
  throw new TallyError(
    'template-compare',
    `cannot compare ${JSON.stringify(x, big)} with ${JSON.stringify(y, big)}`,
    {
      location: part.loc,
    },
  );
}

function big(_key: string, v: unknown): unknown {
  return typeof v === 'bigint' ? String(v) : v;
}
