import { engineMessage } from '../clickhouse/engine-error.ts';
import type { SourceLocation } from '../errors.ts';
import type { PipeNode } from '../project/model.ts';

/**
 * The name ClickHouse could not resolve, as it words it:
 * 18.16: "Unknown identifier: x", "Missing columns: 'x'", "Unknown function f";
 * 26.x: "Unknown expression identifier `x`", "Unknown expression or function identifier `x`"
 * (a name in WHERE, HAVING or a function's arguments), "Identifier 'e.x' cannot be resolved",
 * "Function with name `f` does not exist".
 */
const UNRESOLVED =
  /(?:Missing columns:|Unknown (?:expression or function |expression |table expression )?identifier:?|Unknown function|Function with name|Identifier|column)\s*['`]?([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)/;

/**
 * Where in the project a ClickHouse refusal of compiled SQL points: ClickHouse names the
 * identifier it could not resolve, and its first use in the nodes' SQL is the place; else the
 * first line of the last node's SQL.
 */
export function locateEngineError(nodes: readonly PipeNode[], err: unknown): SourceLocation | undefined {
  const message = String((err as Error)?.message ?? err);
  const name = UNRESOLVED.exec(message)?.[1];
  if (name) {
    // `e.x` as written, else its last part: a table ClickHouse names with the database the
    // compiler put before it (`db.evv`) is written `evv` in the node.
    const last = name.slice(name.lastIndexOf('.') + 1);
    for (const text of name === last ? [name] : [name, last]) {
      const at = firstUse(nodes, text);
      if (at) return at;
    }
  }
  return nodes[nodes.length - 1]?.sqlStart;
}

function firstUse(nodes: readonly PipeNode[], text: string): SourceLocation | undefined {
  const word = new RegExp(`(?<!\\w)${text.replaceAll('.', '\\.')}(?!\\w)`);
  for (const node of nodes) {
    const lines = node.sql.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const col = lines[i]!.search(word);
      if (col >= 0) {
        return { file: node.sqlStart.file, line: node.sqlStart.line + i, col: node.sqlStart.col + col };
      }
    }
  }
  return undefined;
}

/**
 * engineMessage, short enough for one message: ClickHouse 26.x quotes the whole query it
 * analysed (`... in scope SELECT ...`), which is the compiled SQL rather than the node as written
 * and pushed its suggestion (`Maybe you meant: ['country']`) past any cut. The quote goes, the
 * suggestion stays, and what is still too long is cut at a word, marked `…`.
 */
export function conciseEngineError(err: unknown, max = 400): string {
  let s = engineMessage(err);
  const scope = /\.? [Ii]n scope /.exec(s);
  if (scope) {
    const maybe = s.lastIndexOf('. Maybe you meant');
    const code = /\s*\([A-Z][A-Z_]+\)$/.exec(s)?.[0] ?? '';
    s = s.slice(0, scope.index) + (maybe > scope.index ? s.slice(maybe, s.length - code.length) : '') + code;
  }
  if (s.length <= max) return s;
  const cut = s.lastIndexOf(' ', max - 1);
  return `${s.slice(0, cut > max / 2 ? cut : max - 1)}…`;
}
