import type { SourceLocation } from '../errors.ts';
import type { PipeNode } from '../project/model.ts';

/**
 * Where in the project a ClickHouse refusal of compiled SQL points: ClickHouse names the
 * identifier it could not resolve, and its first use in the nodes' SQL is the place; else the
 * first line of the last node's SQL.
 */
export function locateEngineError(nodes: readonly PipeNode[], err: unknown): SourceLocation | undefined {
  const message = String((err as Error)?.message ?? err);
  // 18.16: "Unknown identifier: x", "Missing columns: 'x'", "Unknown function f";
  // 26.x: "Unknown expression identifier `x`", "Function with name `f` does not exist".
  const name =
    /(?:Missing columns:|Unknown (?:expression |table expression )?identifier:?|Unknown function|Function with name|column)\s*['`]?([A-Za-z_][A-Za-z0-9_]*)/.exec(
      message,
    )?.[1];
  if (name) {
    const word = new RegExp(`\\b${name}\\b`);
    for (const node of nodes) {
      const lines = node.sql.split('\n');
      for (let i = 0; i < lines.length; i++) {
        const col = lines[i]!.search(word);
        if (col >= 0) {
          return { file: node.sqlStart.file, line: node.sqlStart.line + i, col: node.sqlStart.col + col };
        }
      }
    }
  }
  return nodes[nodes.length - 1]?.sqlStart;
}

/** The first line of an engine error, without the `(version ...)` ClickHouse appends. */
export function engineErrorLine(err: unknown): string {
  const s = String((err as Error)?.message ?? err);
  return (s.split('\n')[0] ?? s).replace(/\s*\(version [^)]*\)\s*$/, '');
}
