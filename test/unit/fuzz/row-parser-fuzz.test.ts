// Fuzzing of the row parser with the example project's `transactions` data source: hostile lines
// never throw, each refused line names at least one problem, and a mutated line that parses is a
// well-formed row (one cell per insert column).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileRowParser } from '../../../src/ingest/row-parser.ts';
import { loadProjectOrThrow } from '../../../src/project/load-project.ts';
import { GOOD_EVENT, hostileLines } from '../../fuzz/hostile-events.ts';
import { mulberry32 } from './rng.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');

describe('fuzz: row parser', () => {
  const project = loadProjectOrThrow(ROOT, { env: {} });
  const ds = project.datasources.get('transactions');
  if (!ds) throw new Error('the example project has no transactions');
  const parser = compileRowParser(ds);

  it('a good event parses', () => {
    const row = parser.parse(GOOD_EVENT('g-1'));
    expect(row.ok).toBe(true);
  });

  it('2000 seeded hostile lines: never throws, refusals carry a reason', () => {
    let refused = 0;
    for (const { what, line } of hostileLines(7, 2000)) {
      let row: ReturnType<typeof parser.parse>;
      try {
        row = parser.parse(line);
      } catch (e) {
        throw new Error(
          `${what}: the parser threw on ${JSON.stringify(line.slice(0, 200))}: ${(e as Error).stack}`,
        );
      }
      if (row.ok) {
        expect(row.cells.length, what).toBe(parser.columns.length);
      } else {
        refused++;
        expect(row.problems.length, what).toBeGreaterThan(0);
        for (const p of row.problems) expect(p.message.length, what).toBeGreaterThan(0);
      }
    }
    expect(refused).toBeGreaterThan(1000);
  }, 30_000);

  it('a 10 MB string is refused', () => {
    const huge = parser.parse(GOOD_EVENT('h-1', `"${'1'.repeat(10_000_000)}"`));
    expect(huge.ok).toBe(false);
  });

  // Found by fuzzing (docs/reliability.md, "Findings"): these threw before they were refused.
  it('10k-deep nesting in a String column is refused, not thrown', () => {
    const deep = `{"transaction_id":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    expect(parser.parse(deep)).toEqual({
      ok: false,
      problems: [{ message: 'the event is nested too deeply to read' }],
    });
  });

  it('an object or array in a Decimal column is refused, not thrown', () => {
    const row = parser.parse(GOOD_EVENT('o-1', '{"v":1}'));
    expect(row.ok).toBe(false);
    expect(row.ok ? [] : row.problems.map((p) => p.message).join()).toMatch(/got an object/);
  });

  it('random bytes from 50 seeds', () => {
    for (let seed = 100; seed < 150; seed++) {
      const rng = mulberry32(seed);
      const line = rng.bytes(rng.int(5000)).toString('utf8');
      expect(() => parser.parse(line)).not.toThrow();
    }
  });
});
