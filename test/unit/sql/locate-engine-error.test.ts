import { describe, expect, it } from 'vitest';
import type { PipeNode } from '../../../src/project/model.ts';
import { locateEngineError } from '../../../src/sql/locate-engine-error.ts';

const node = (sql: string, line: number): PipeNode =>
  ({ name: 'n', sql, sqlStart: { file: 'pipes/p.pipe.yaml', line, col: 7 } }) as unknown as PipeNode;

const nodes = [
  node('SELECT account_id, amount\nFROM transactions', 5),
  node('SELECT account_id,\n  maxx(amount) AS top,\n  foo\nFROM first GROUP BY account_id', 9),
];

describe('locateEngineError', () => {
  it('points at the first use of the name ClickHouse could not resolve, on both servers', () => {
    for (const [message, line, col] of [
      ['Code: 46. DB::Exception: Function with name `maxx` does not exist. In scope SELECT ...', 10, 9],
      ['Code: 46, e.displayText() = DB::Exception: Unknown function maxx, e.what() = DB::Exception', 10, 9],
      ["Code: 47. DB::Exception: Missing columns: 'foo' while processing query", 11, 9],
      ['Code: 47. DB::Exception: Unknown expression identifier `foo` in scope', 11, 9],
    ] as const) {
      expect(locateEngineError(nodes, new Error(message)), message).toEqual({
        file: 'pipes/p.pipe.yaml',
        line,
        col,
      });
    }
  });

  it("falls back to the last node's first line", () => {
    expect(locateEngineError(nodes, new Error('Code: 241. DB::Exception: Memory limit exceeded'))).toEqual({
      file: 'pipes/p.pipe.yaml',
      line: 9,
      col: 7,
    });
  });
});
