import { type Problem, type SourceLocation, TallyError } from '../errors.ts';
import { didYouMean } from '../util/did-you-mean.ts';
import type { TemplateExpr, TemplatePart, TemplateValue } from './model.ts';
import { sqlLocator } from './sql-locator.ts';

export interface ParseTemplateOptions {
  /** Where the SQL's first character is in its file (PipeNode.sqlStart); default `<sql>:1:1`. */
  start?: SourceLocation;
  /** Problems are added here; without it, the first error is thrown as a TallyError. */
  problems?: Problem[];
}

/** A param named in a template, and where: its `{{ }}`, or the `{% if %}`/`{% elif %}` tag. */
export interface ParamUse {
  param: string;
  loc: SourceLocation;
  /** `value`: rendered by `{{ p }}`; `condition`: read by an if/elif expression. */
  kind: 'value' | 'condition';
}

const TAGS = ['if', 'elif', 'else', 'end'];
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Parses node SQL written in the template language: text, `{{ p }}`, and
 * `{% if expr %} ... {% elif expr %} ... {% else %} ... {% end %}`. Every part is located in the
 * file. All syntax problems are reported (an unclosed tag, an unknown tag, a bad expression).
 */
export function parseTemplate(sql: string, opts: ParseTemplateOptions = {}): TemplatePart[] {
  const problems: Problem[] = [];
  const locate = sqlLocator(sql, opts.start ?? { file: '<sql>', line: 1, col: 1 });
  const error = (code: string, message: string, offset: number, hint?: string) =>
    problems.push({ severity: 'error', code, message, location: locate(offset), ...(hint ? { hint } : {}) });
  const parts = new TemplateBuilder(sql, locate, error).build();
  if (opts.problems) opts.problems.push(...problems);
  else if (problems.length > 0) {
    const first = problems[0]!;
    throw new TallyError(first.code, first.message, {
      ...(first.location ? { location: first.location } : {}),
      ...(first.hint ? { hint: first.hint } : {}),
    });
  }
  return parts;
}

/** Every param a template reads, with locations, in order of appearance. */
export function templateParamUses(parts: readonly TemplatePart[]): ParamUse[] {
  const out: ParamUse[] = [];
  const walk = (ps: readonly TemplatePart[]) => {
    for (const p of ps) {
      if (p.kind === 'param') out.push({ param: p.param, loc: p.loc, kind: 'value' });
      else if (p.kind === 'if') {
        for (const b of p.branches) {
          for (const param of exprParams(b.cond)) out.push({ param, loc: b.loc ?? p.loc, kind: 'condition' });
          walk(b.body);
        }
        if (p.otherwise) walk(p.otherwise);
      }
    }
  };
  walk(parts);
  return out;
}

/** Params named in an expression, in order. */
export function exprParams(e: TemplateExpr): string[] {
  switch (e.kind) {
    case 'defined':
    case 'param':
      return [e.param];
    case 'literal':
      return [];
    case 'not':
      return exprParams(e.expr);
    case 'and':
    case 'or':
    case 'compare':
      return [...exprParams(e.left), ...exprParams(e.right)];
  }
}

// ---------------------------------------------------------------------------------------------

type ReportError = (code: string, message: string, offset: number, hint?: string) => void;

interface Branch {
  cond: TemplateExpr;
  body: TemplatePart[];
  loc: SourceLocation;
}

interface IfFrame {
  offset: number;
  loc: SourceLocation;
  branches: Branch[];
  otherwise?: TemplatePart[];
}

class TemplateBuilder {
  private readonly root: TemplatePart[] = [];
  private readonly stack: IfFrame[] = [];

  constructor(
    private readonly sql: string,
    private readonly locate: (offset: number) => SourceLocation,
    private readonly error: ReportError,
  ) {}

  build(): TemplatePart[] {
    const sql = this.sql;
    let pos = 0;
    for (;;) {
      const open = nextTag(sql, pos);
      if (open === -1) {
        this.text(pos, sql.length);
        break;
      }
      this.text(pos, open);
      const isValue = sql.startsWith('{{', open);
      const close = sql.indexOf(isValue ? '}}' : '%}', open + 2);
      if (close === -1) {
        this.error(
          'template-unclosed',
          `\`${isValue ? '{{' : '{%'}\` is never closed`,
          open,
          `close it with \`${isValue ? '}}' : '%}'}\``,
        );
        break;
      }
      const lineEnd = sql.indexOf('\n', open);
      if (isValue && lineEnd !== -1 && lineEnd < close) {
        // `{{ p }` and a newline: the next `}}` lines below would swallow SQL into the tag.
        pos = this.unclosedValue(open, lineEnd);
        continue;
      }
      if (isValue) this.valueTag(open, close);
      else this.blockTag(open, close);
      pos = close + 2;
    }
    for (const frame of this.stack) {
      this.error(
        'template-unclosed',
        '`{% if %}` is never closed',
        frame.offset,
        'add `{% end %}` after its body',
      );
    }
    while (this.stack.length > 0) this.closeIf();
    return this.root;
  }

  private current(): TemplatePart[] {
    const top = this.stack[this.stack.length - 1];
    if (!top) return this.root;
    return top.otherwise ?? top.branches[top.branches.length - 1]!.body;
  }

  private text(from: number, to: number): void {
    if (to > from)
      this.current().push({ kind: 'text', text: this.sql.slice(from, to), loc: this.locate(from) });
  }

  /** A `{{` not closed on its line: reported at it, its name kept as a param; returns where to go on. */
  private unclosedValue(open: number, lineEnd: number): number {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)?\s*\}?/.exec(this.sql.slice(open + 2, lineEnd))!;
    const name = m[1];
    this.error(
      'template-unclosed',
      `\`{{${name ? ` ${name}` : ''}\` is not closed on its line`,
      open,
      `close it with \`}}\`${name ? `: {{ ${name} }}` : ''}`,
    );
    if (name) this.current().push({ kind: 'param', param: name, loc: this.locate(open) });
    return open + 2 + m[0].length;
  }

  private valueTag(open: number, close: number): void {
    const raw = this.sql.slice(open + 2, close);
    const name = raw.trim();
    const at = open + 2 + (raw.length - raw.trimStart().length);
    if (IDENT.test(name)) {
      this.current().push({ kind: 'param', param: name, loc: this.locate(open) });
    } else if (name === '') {
      this.error('template-syntax', 'empty `{{ }}`: put a param name inside, e.g. {{ account_id }}', open);
    } else {
      this.error(
        'template-syntax',
        `only a param name can go inside \`{{ }}\`, found \`${name}\``,
        at,
        'write the SQL around the param instead, e.g. toDate({{ day }})',
      );
    }
  }

  private blockTag(open: number, close: number): void {
    const raw = this.sql.slice(open + 2, close);
    const m = /^(\s*)([A-Za-z_]*)/.exec(raw)!;
    const tag = m[2]!;
    const tagAt = open + 2 + m[1]!.length;
    const restAt = tagAt + tag.length;
    const rest = this.sql.slice(restAt, close);
    const top = this.stack[this.stack.length - 1];
    const noRest = () => {
      if (rest.trim() !== '') {
        this.error(
          'template-syntax',
          `\`{% ${tag} %}\` takes nothing after \`${tag}\``,
          restAt + (rest.length - rest.trimStart().length),
        );
      }
    };
    switch (tag) {
      case 'if': {
        const cond = this.condition(rest, restAt, open);
        this.stack.push({
          offset: open,
          loc: this.locate(open),
          branches: [{ cond, body: [], loc: this.locate(open) }],
        });
        return;
      }
      case 'elif': {
        const cond = this.condition(rest, restAt, open);
        if (!top) this.error('template-syntax', '`{% elif %}` without an open `{% if %}`', open);
        else if (top.otherwise)
          this.error(
            'template-syntax',
            '`{% elif %}` after `{% else %}`',
            open,
            'put elif branches before else',
          );
        else top.branches.push({ cond, body: [], loc: this.locate(open) });
        return;
      }
      case 'else':
        noRest();
        if (!top) this.error('template-syntax', '`{% else %}` without an open `{% if %}`', open);
        else if (top.otherwise)
          this.error('template-syntax', 'a second `{% else %}` in the same `{% if %}`', open);
        else top.otherwise = [];
        return;
      case 'end':
        noRest();
        if (!top) this.error('template-syntax', '`{% end %}` without an open `{% if %}`', open);
        else this.closeIf();
        return;
      case '':
        this.error('template-syntax', 'empty `{% %}`: expected if, elif, else or end', open);
        return;
      default:
        // `{% endif %}` still closes the if, so the rest of the template is read as meant.
        if ((tag === 'endif' || tag === 'fi') && top) this.closeIf();
        this.error(
          'template-unknown-tag',
          `unknown tag \`{% ${tag} %}\`${didYouMean(tag, TAGS)}`,
          tagAt,
          tag === 'endif' || tag === 'fi'
            ? 'close an if with `{% end %}`'
            : 'the tags are {% if expr %}, {% elif expr %}, {% else %} and {% end %}',
        );
    }
  }

  private closeIf(): void {
    const frame = this.stack.pop()!;
    const part: TemplatePart = {
      kind: 'if',
      branches: frame.branches,
      ...(frame.otherwise ? { otherwise: frame.otherwise } : {}),
      loc: frame.loc,
    };
    this.current().push(part);
  }

  private condition(text: string, offset: number, tagOffset: number): TemplateExpr {
    if (text.trim() === '') {
      this.error('template-syntax', 'expected a condition, e.g. {% if defined(p) %}', tagOffset);
      return { kind: 'literal', value: false };
    }
    try {
      return new ExprParser(text, offset).parse();
    } catch (e) {
      if (!(e instanceof ExprError)) throw e;
      this.error('template-syntax', e.message, e.offset, e.hint);
      return { kind: 'literal', value: false };
    }
  }
}

function nextTag(sql: string, from: number): number {
  const a = sql.indexOf('{{', from);
  const b = sql.indexOf('{%', from);
  if (a === -1) return b;
  if (b === -1) return a;
  return Math.min(a, b);
}

// ---------------------------------------------------------------------------------------------
// Condition expressions: or > and > not > comparison > primary.

class ExprError extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly hint?: string,
  ) {
    super(message);
  }
}

interface ExprToken {
  kind: 'ident' | 'string' | 'number' | 'op' | '(' | ')' | 'end';
  text: string;
  start: number;
  value?: TemplateValue;
}

const COMPARE_OPS = ['==', '!=', '<=', '>=', '<', '>'] as const;
type CompareOp = (typeof COMPARE_OPS)[number];

function tokenizeExpr(text: string, base: number): ExprToken[] {
  const out: ExprToken[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const start = base + i;
    if (/\s/.test(c)) {
      i++;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i))![0];
      out.push({ kind: 'ident', text: m, start });
      i += m.length;
    } else if (/[0-9]/.test(c) || (c === '-' && /[0-9]/.test(text[i + 1] ?? ''))) {
      const m = /^-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?/.exec(text.slice(i))![0];
      out.push({ kind: 'number', text: m, start, value: Number(m) });
      i += m.length;
    } else if (c === "'" || c === '"') {
      let value = '';
      let j = i + 1;
      for (;;) {
        if (j >= text.length) throw new ExprError('unterminated string', start, `close it with ${c}`);
        const ch = text[j]!;
        if (ch === '\\' && j + 1 < text.length) {
          value += text[j + 1];
          j += 2;
        } else if (ch === c) {
          j++;
          break;
        } else {
          value += ch;
          j++;
        }
      }
      out.push({ kind: 'string', text: text.slice(i, j), start, value });
      i = j;
    } else if (c === '(' || c === ')') {
      out.push({ kind: c, text: c, start });
      i++;
    } else {
      const op = COMPARE_OPS.find((o) => text.startsWith(o, i));
      if (op) {
        out.push({ kind: 'op', text: op, start });
        i += op.length;
      } else if (c === '=') {
        throw new ExprError('use `==` to compare', start);
      } else if (text.startsWith('&&', i) || text.startsWith('||', i)) {
        throw new ExprError(`use \`${c === '&' ? 'and' : 'or'}\` instead of \`${c}${c}\``, start);
      } else if (c === '!') {
        throw new ExprError('use `not` instead of `!`', start);
      } else {
        throw new ExprError(`unexpected \`${c}\` in a condition`, start);
      }
    }
  }
  out.push({ kind: 'end', text: '', start: base + text.length });
  return out;
}

const LITERAL_WORDS: Readonly<Record<string, TemplateValue>> = {
  true: true,
  True: true,
  false: false,
  False: false,
  null: null,
  None: null,
};
const KEYWORDS = new Set(['and', 'or', 'not', 'defined']);

/** `not`s and parentheses a condition may nest: far beyond any real one, well within the stack. */
const MAX_EXPR_DEPTH = 64;

class ExprParser {
  private readonly tokens: ExprToken[];
  private pos = 0;
  private depth = 0;

  constructor(text: string, base: number) {
    this.tokens = tokenizeExpr(text, base);
  }

  parse(): TemplateExpr {
    const e = this.or();
    const t = this.peek();
    if (t.kind !== 'end')
      throw new ExprError(
        `unexpected \`${t.text}\` in a condition`,
        t.start,
        'join conditions with and / or',
      );
    return e;
  }

  private or(): TemplateExpr {
    let left = this.and();
    while (this.isWord('or')) {
      this.pos++;
      left = { kind: 'or', left, right: this.and() };
    }
    return left;
  }

  private and(): TemplateExpr {
    let left = this.not();
    while (this.isWord('and')) {
      this.pos++;
      left = { kind: 'and', left, right: this.not() };
    }
    return left;
  }

  private not(): TemplateExpr {
    if (this.isWord('not')) {
      const at = this.peek().start;
      this.pos++;
      return { kind: 'not', expr: this.nested(at, () => this.not()) };
    }
    return this.compare();
  }

  /** Parses a level deeper; past MAX_EXPR_DEPTH the condition is refused, not the stack overflowed. */
  private nested(at: number, parse: () => TemplateExpr): TemplateExpr {
    if (++this.depth > MAX_EXPR_DEPTH) {
      throw new ExprError(
        `the condition nests \`not\` and parentheses more than ${MAX_EXPR_DEPTH} deep`,
        at,
        'write it flatter: not not x is x',
      );
    }
    try {
      return parse();
    } finally {
      this.depth--;
    }
  }

  private compare(): TemplateExpr {
    const leftTok = this.peek();
    const left = this.primary();
    const opTok = this.peek();
    if (opTok.kind !== 'op') return left;
    this.pos++;
    const rightTok = this.peek();
    const right = this.primary();
    for (const [side, tok] of [
      [left, leftTok],
      [right, rightTok],
    ] as const) {
      if (side.kind !== 'param' && side.kind !== 'literal') {
        throw new ExprError(
          `\`${opTok.text}\` compares a param with a literal`,
          tok.start,
          "e.g. {% if status == 'active' %}",
        );
      }
    }
    if (left.kind !== 'param' && right.kind !== 'param') {
      throw new ExprError(`\`${opTok.text}\` needs a param on one side`, leftTok.start);
    }
    const next = this.peek();
    if (next.kind === 'op')
      throw new ExprError('comparisons cannot be chained: join them with and', next.start);
    return { kind: 'compare', op: opTok.text as CompareOp, left, right };
  }

  private primary(): TemplateExpr {
    const t = this.next();
    switch (t.kind) {
      case '(': {
        const e = this.nested(t.start, () => this.or());
        const close = this.next();
        if (close.kind !== ')') throw new ExprError('expected `)` to close the `(`', close.start);
        return e;
      }
      case 'string':
      case 'number':
        return { kind: 'literal', value: t.value! };
      case 'ident': {
        if (t.text in LITERAL_WORDS) return { kind: 'literal', value: LITERAL_WORDS[t.text]! };
        if (t.text === 'defined') {
          const open = this.next();
          if (open.kind !== '(')
            throw new ExprError('expected `(` after defined, e.g. defined(p)', open.start);
          const name = this.next();
          if (name.kind !== 'ident' || KEYWORDS.has(name.text)) {
            throw new ExprError('defined() takes a param name, e.g. defined(as_of)', name.start);
          }
          const close = this.next();
          if (close.kind !== ')') throw new ExprError('expected `)` after the param name', close.start);
          return { kind: 'defined', param: name.text };
        }
        if (KEYWORDS.has(t.text))
          throw new ExprError(`unexpected \`${t.text}\`: expected a param or a literal`, t.start);
        return { kind: 'param', param: t.text };
      }
      case 'end':
        throw new ExprError('the condition ends too early: expected a param, a literal or `(`', t.start);
      default:
        throw new ExprError(`unexpected \`${t.text}\`: expected a param, a literal or \`(\``, t.start);
    }
  }

  private isWord(w: string): boolean {
    const t = this.peek();
    return t.kind === 'ident' && t.text === w;
  }

  private peek(): ExprToken {
    return this.tokens[this.pos]!;
  }

  private next(): ExprToken {
    const t = this.tokens[this.pos]!;
    if (t.kind !== 'end') this.pos++;
    return t;
  }
}
