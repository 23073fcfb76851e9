/**
 * A small tokenizer for ClickHouse SQL. It knows just enough to find names safely: strings and
 * quoted identifiers are single tokens (so a table name inside a string is not a name), and
 * comments are kept as tokens so text can be rebuilt exactly by joining every token's `text`.
 */

export type SqlTokenKind =
  | 'whitespace'
  | 'comment'
  /** '...' with backslash and '' escapes; `value` is the unescaped content. */
  | 'string'
  /** "..." or `...`; `value` is the unescaped identifier. */
  | 'quoted'
  | 'number'
  /** A bare word: keyword, identifier or function name. */
  | 'word'
  | 'punct'
  /** A template tag `{{ ... }}` or `{% ... %}`, left whole. */
  | 'template';

export interface SqlToken {
  kind: SqlTokenKind;
  text: string;
  /** Offset of the first character in the input. */
  start: number;
  /** Offset just after the last character. */
  end: number;
  value?: string;
  /** A string, quoted name, comment or tag that reached the end of the input unclosed. */
  unterminated?: true;
}

const WORD = /[A-Za-z_][A-Za-z0-9_$]*/y;
const NUMBER = /(?:0[xX][0-9a-fA-F]+|0[bB][01]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)/y;
const WHITESPACE = /\s+/y;
const OPERATORS = ['::', '->', '<=', '>=', '!=', '<>', '==', '||'];

/** Splits `sql` into tokens; never throws (unclosed strings and comments run to the end). */
export function lexSql(sql: string): SqlToken[] {
  const out: SqlToken[] = [];
  let i = 0;
  const push = (kind: SqlTokenKind, end: number, extra: Partial<SqlToken> = {}) => {
    out.push({ kind, text: sql.slice(i, end), start: i, end, ...extra });
    i = end;
  };
  while (i < sql.length) {
    const c = sql[i]!;
    const two = sql.slice(i, i + 2);
    if (match(WHITESPACE, sql, i)) {
      push('whitespace', WHITESPACE.lastIndex);
    } else if (two === '--' || c === '#') {
      const nl = sql.indexOf('\n', i);
      push('comment', nl === -1 ? sql.length : nl);
    } else if (two === '/*') {
      const close = sql.indexOf('*/', i + 2);
      if (close === -1) push('comment', sql.length, { unterminated: true });
      else push('comment', close + 2);
    } else if (two === '{{' || two === '{%') {
      const closer = two === '{{' ? '}}' : '%}';
      const close = sql.indexOf(closer, i + 2);
      if (close === -1) push('template', sql.length, { unterminated: true });
      else push('template', close + 2);
    } else if (c === "'" || c === '"' || c === '`') {
      const { end, value, closed } = readQuoted(sql, i, c);
      push(c === "'" ? 'string' : 'quoted', end, closed ? { value } : { value, unterminated: true });
    } else if (match(WORD, sql, i)) {
      push('word', WORD.lastIndex);
    } else if (/[0-9.]/.test(c) && match(NUMBER, sql, i)) {
      push('number', NUMBER.lastIndex);
    } else {
      push('punct', i + (OPERATORS.includes(two) ? 2 : 1));
    }
  }
  return out;
}

/** Tokens that carry meaning: no whitespace and no comments. */
export function significantTokens(tokens: readonly SqlToken[]): SqlToken[] {
  return tokens.filter((t) => t.kind !== 'whitespace' && t.kind !== 'comment');
}

/** The name a word or quoted-identifier token stands for; undefined for other tokens. */
export function tokenName(t: SqlToken | undefined): string | undefined {
  if (!t) return undefined;
  if (t.kind === 'word') return t.text;
  if (t.kind === 'quoted') return t.value;
  return undefined;
}

/** Whether `t` is the keyword `kw` (case-insensitive; quoted identifiers never are). */
export function isKeyword(t: SqlToken | undefined, kw: string): boolean {
  // The length first: most words are not the keyword, and upper-casing each one allocates.
  return t !== undefined && t.kind === 'word' && t.text.length === kw.length && t.text.toUpperCase() === kw;
}

export function isPunct(t: SqlToken | undefined, p: string): boolean {
  return t !== undefined && t.kind === 'punct' && t.text === p;
}

function match(re: RegExp, s: string, at: number): boolean {
  re.lastIndex = at;
  return re.test(s);
}

function readQuoted(sql: string, start: number, q: string): { end: number; value: string; closed: boolean } {
  let value = '';
  let j = start + 1;
  while (j < sql.length) {
    const ch = sql[j]!;
    if (ch === '\\' && j + 1 < sql.length) {
      value += unescapeChar(sql[j + 1]!);
      j += 2;
    } else if (ch === q && sql[j + 1] === q) {
      value += q;
      j += 2;
    } else if (ch === q) {
      return { end: j + 1, value, closed: true };
    } else {
      value += ch;
      j++;
    }
  }
  return { end: sql.length, value, closed: false };
}

const ESCAPES: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r', '0': '\0', b: '\b', f: '\f' };

function unescapeChar(c: string): string {
  return ESCAPES[c] ?? c;
}
