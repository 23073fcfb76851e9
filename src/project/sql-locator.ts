import type { SourceLocation } from '../errors.ts';

/**
 * Maps an offset in a node's SQL text to a location in its YAML file. `start` is where the SQL's
 * first character is (PipeNode.sqlStart). In a block scalar (`sql: |`) every line starts at the
 * block's indentation, which is `start.col`; line k of the SQL is file line `start.line + k - 1`.
 */
export function sqlLocator(sql: string, start: SourceLocation): (offset: number) => SourceLocation {
  const lineStarts = [0];
  for (let i = 0; i < sql.length; i++) if (sql[i] === '\n') lineStarts.push(i + 1);
  return (offset) => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { file: start.file, line: start.line + lo, col: start.col + offset - lineStarts[lo]! };
  };
}
