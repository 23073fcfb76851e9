import { describe, expect, it } from 'vitest';
import type { PipeNode } from '../../../src/project/model.ts';
import { conciseEngineError, locateEngineError } from '../../../src/sql/locate-engine-error.ts';

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
      // 26.x words a name in WHERE, HAVING or a function's arguments so (chDB gives no code).
      [
        "Unknown expression or function identifier `foo` in scope SELECT account_id FROM t. Maybe you meant: ['for']",
        11,
        9,
      ],
      [
        "Identifier 'first.foo' cannot be resolved from table with name first. In scope SELECT first.foo",
        11,
        9,
      ],
      ['Code: 47, e.displayText() = DB::Exception: Unknown identifier: foo, e.what() = DB::Exception', 11, 9],
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

describe('conciseEngineError', () => {
  const scope = `SELECT ${Array.from({ length: 60 }, (_, i) => `c${i}`).join(', ')} FROM db.visits WHERE countryy != ''`;

  it('drops the query 26.x quotes (`in scope ...`) and keeps its suggestion', () => {
    expect(
      conciseEngineError(
        new Error(
          `Unknown expression or function identifier \`countryy\` in scope ${scope}. Maybe you meant: ['country'].`,
        ),
      ),
    ).toBe("Unknown expression or function identifier `countryy`. Maybe you meant: ['country'].");
    expect(
      conciseEngineError(
        new Error(
          `Code: 46. DB::Exception: Function with name \`maxx\` does not exist. In scope ${scope}. Maybe you meant: ['max2','max']. (UNKNOWN_FUNCTION) (version 26.7.2.1)`,
        ),
      ),
    ).toBe(
      "Code: 46. DB::Exception: Function with name `maxx` does not exist. Maybe you meant: ['max2','max']. (UNKNOWN_FUNCTION)",
    );
    expect(conciseEngineError(new Error(`Unknown expression identifier \`x\` in scope ${scope}`))).toBe(
      'Unknown expression identifier `x`',
    );
  });

  it('cuts what is still too long at a word, and keeps only the message and code of an 18.16 one', () => {
    const long = conciseEngineError(new Error(`Something went wrong: ${scope}`), 100);
    expect(long.length).toBeLessThanOrEqual(100);
    expect(long).toMatch(/^Something went wrong: SELECT c0, c1, .* c\d+,…$/);
    const old =
      'Code: 47, e.displayText() = DB::Exception: Unknown identifier: countryy, e.what() = DB::Exception';
    expect(conciseEngineError(new Error(`${old}\nStack trace: ...`))).toBe(
      'Unknown identifier: countryy (code 47)',
    );
  });
});
