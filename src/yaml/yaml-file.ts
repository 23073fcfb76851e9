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
      const location = yf.at(err.pos[0]);
      const line = text.split('\n')[location.line - 1] ?? '';
      const hint = /\{[^}]*\$\{/.test(line)
        ? 'a `${VAR}` inside a `{ ... }` mapping must be quoted: "${VAR}"'
        : undefined;
      problems.push({
        severity: 'error',
        code: err.code === 'DUPLICATE_KEY' ? 'duplicate-key' : 'yaml-syntax',
        message: /call stack/i.test(err.message)
          ? 'YAML: nested too deeply to read'
          : `YAML: ${firstLine(err.message)}`,
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

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}

export type { Node, Scalar };
export { isMap, isScalar, isSeq };
