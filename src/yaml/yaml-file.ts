import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, type Scalar } from 'yaml';
import type { Problem, SourceLocation } from '../errors.ts';

/**
 * A parsed YAML file that remembers where each node came from, so every problem found later can
 * name its file, line and column.
 */
export class YamlFile {
  readonly root: Node | null;
  private readonly lines: LineCounter;

  private constructor(
    readonly file: string,
    readonly text: string,
    root: Node | null,
    lines: LineCounter,
  ) {
    this.root = root;
    this.lines = lines;
  }

  /** Parses `text`; syntax errors are added to `problems` (the file is still returned). */
  static parse(file: string, text: string, problems: Problem[]): YamlFile {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    // After a syntax error the rest of the document is guesswork: report the first error only,
    // and give no tree, so nobody reports noise about a half-parsed file.
    const err = doc.errors[0];
    const yf = new YamlFile(file, text, err ? null : ((doc.contents as Node | null) ?? null), lines);
    if (err) {
      const errorAt = yf.at(err.pos[0]);
      const line = text.split('\n')[errorAt.line - 1] ?? '';
      const { message, hint, at } = explain(err.code, err.message, text, err.pos[0], errorAt.line, line);
      const location = at === undefined ? errorAt : yf.at(at);
      problems.push({
        severity: 'error',
        code: err.code === 'DUPLICATE_KEY' ? 'duplicate-key' : 'yaml-syntax',
        message,
        location,
        ...(hint ? { hint } : {}),
      });
    }
    return yf;
  }

  /** Location of a byte offset in the file. */
  at(offset: number): SourceLocation {
    const { line, col } = this.lines.linePos(offset);
    return { file: this.file, line, col };
  }

  /** Location of a node (its first character), or of the file start when unknown. */
  loc(node: Node | null | undefined): SourceLocation {
    const start = node?.range?.[0];
    return start === undefined ? { file: this.file, line: 1, col: 1 } : this.at(start);
  }

  /**
   * Where the *content* of a string scalar starts: for a block scalar (`sql: |`) that is the line
   * after the indicator at the block's indentation; for a quoted one, one column after the quote.
   * Used to map a line inside SQL text back to the file.
   */
  contentStart(node: Node): SourceLocation {
    const start = this.loc(node);
    if (isScalar(node) && (node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED')) {
      const lineStart = this.lines.lineStarts[start.line] ?? this.text.length;
      const rest = this.text.slice(lineStart);
      const indent = /^[ \t]*/.exec(rest)?.[0].length ?? 0;
      return { file: this.file, line: start.line + 1, col: indent + 1 };
    }
    if (isScalar(node) && (node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE')) {
      return { ...start, col: start.col + 1 };
    }
    return start;
  }
}

/**
 * The YAML library's message in the file's terms: it speaks to its caller (`please use
 * YAML.parseAllDocuments()`), and its duplicate-key message names neither key nor line.
 */
function explain(
  code: string,
  libraryMessage: string,
  text: string,
  at: number,
  lineNo: number,
  line: string,
): { message: string; hint?: string; at?: number } {
  if (/call stack/i.test(libraryMessage)) return { message: 'YAML: nested too deeply to read' };
  // The library meets an unclosed `{` or `[` only where the next entry starts, a line or more
  // later: point at the bracket left open.
  const flowKind = /^Flow (map|sequence)\b.*end with a [}\]]/.exec(libraryMessage)?.[1];
  if (flowKind) {
    const [open, close] = flowKind === 'map' ? ['{', '}'] : ['[', ']'];
    const opened = unclosedBracket(text, at, open, close);
    if (opened !== undefined && opened.line < lineNo) {
      return {
        message: `YAML: this \`${open}\` is not closed: a \`${open} ... ${close}\` ${flowKind === 'map' ? 'mapping' : 'list'} ends with \`${close}\` (the library noticed on line ${lineNo})`,
        hint: `add the \`${close}\` at the end of the ${flowKind === 'map' ? 'mapping' : 'list'}`,
        at: opened.offset,
      };
    }
  }
  if (code === 'MULTIPLE_DOCS') {
    return {
      message:
        'YAML: the file holds a second document (a `---` line starts one); a Tally file is one document',
      hint: 'remove the `---` line, or move what follows it to a file of its own',
    };
  }
  if (code === 'DUPLICATE_KEY') {
    const key = /^("[^"]*"|'[^']*'|[^:,{}\n]+?)\s*:/.exec(text.slice(at))?.[1];
    if (key !== undefined) {
      const indent = line.length - line.trimStart().length;
      const lines = text.split('\n');
      let first: number | undefined;
      for (let i = lineNo - 2; i >= 0 && first === undefined; i--) {
        const l = lines[i]!;
        const own = l.length - l.trimStart().length;
        if (l.trim() !== '' && !l.trimStart().startsWith('#') && own < indent) break;
        if (own === indent && l.trimStart().startsWith(`${key}:`)) first = i + 1;
      }
      return {
        message: `YAML: key \`${key}\` is written twice in this mapping${first ? ` (first on line ${first})` : ''}`,
        hint: 'keep one of them',
      };
    }
  }
  // Unquoted brackets or quotes in a `{ ... }` value end the value early.
  const flow = line.includes('{') && (code === 'UNEXPECTED_TOKEN' || code === 'MISSING_CHAR');
  const hint = /\{[^}]*\$\{/.test(line)
    ? 'a `${VAR}` inside a `{ ... }` mapping must be quoted: "${VAR}"'
    : flow
      ? 'inside a `{ ... }` mapping, quote a value that holds [ ] { } , or quotes: json: "$.items[0].id"'
      : undefined;
  return { message: `YAML: ${firstLine(libraryMessage)}`, ...(hint ? { hint } : {}) };
}

/**
 * The last `open` left unclosed in the few lines before offset `at` (quoted text and comments
 * skipped), with its line number; undefined when none is found there.
 */
function unclosedBracket(
  text: string,
  at: number,
  open: string,
  close: string,
): { offset: number; line: number } | undefined {
  const lines = text.slice(0, at).split('\n');
  let lineStart = at - (lines[lines.length - 1]?.length ?? 0);
  for (let i = lines.length - 1; i >= 0 && i >= lines.length - 10; i--) {
    if (i < lines.length - 1) lineStart -= lines[i]!.length + 1;
    const l = lines[i]!;
    const openAt: number[] = [];
    let quote: string | undefined;
    for (let c = 0; c < l.length; c++) {
      const ch = l[c]!;
      if (quote) {
        if (ch === quote) quote = undefined;
      } else if (ch === '"' || ch === "'") quote = ch;
      else if (ch === '#' && (c === 0 || /\s/.test(l[c - 1]!))) break;
      else if (ch === open) openAt.push(c);
      else if (ch === close) openAt.pop();
    }
    const last = openAt.pop();
    if (last !== undefined) return { offset: lineStart + last, line: i + 1 };
  }
  return undefined;
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}

export type { Node, Scalar };
export { isMap, isScalar, isSeq };
