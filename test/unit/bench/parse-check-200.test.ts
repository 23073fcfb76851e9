import { describe, expect, it } from 'vitest';
import { parseCheck200 } from '../../../bench/lib/adapters.ts';

// The shape bench/check-200.ts prints (figures made up).
const OUTPUT = `project: 200 data sources, 500 pipes, 450 endpoints
loadProject: first run 604 ms, warm median 297 ms (goal < 1000 ms)
tally check: 863 ms in the command, median of 3 processes (901, 863, 790) (900 warnings), 1215 ms for the whole process (goal < 1000 ms)
`;

describe('parseCheck200', () => {
  it("judges the target on tally check's own time, and shows the process and loadProject beside it", () => {
    const out = parseCheck200(OUTPUT);
    const judged = out.metrics.filter((m) => m.targetId === 'check-200');
    expect(judged.map((m) => m.value)).toEqual([863]);
    expect(out.metrics.map((m) => m.value)).toEqual([863, 1215, 604, 297]);
    expect(out.notes).toContain('200 data sources, 500 pipes, 450 endpoints');
    expect(out.notes).toContain('tally check runs: 901, 863, 790 ms');
    expect(judged[0]?.name).toMatch(/median of 3 runs/);
  });

  it('refuses an output without the tally check line (an older script) rather than judging loadProject', () => {
    expect(() => parseCheck200(OUTPUT.replace(/tally check:.*\n/, ''))).toThrow(/tally check timings/);
  });
});
