import { describe, expect, it } from 'vitest';
import { parseBackfill, untargeted } from '../../../bench/lib/adapters.ts';

// The shape bench/backfill.ts prints (figures made up, arithmetic kept).
const OUTPUT = `ClickHouse 18.16.1 at http://127.0.0.1:8123: 20,000,000 source rows
plain INSERT ... SELECT:          median 400 ms (50.0 M rows/s)  [391, 400, 425]
backfill (create-view + backfill): median 500 ms (40.0 M rows/s)  [527, 477, 500]; the INSERT alone 440 ms
backfill throughput / plain: 80% (goal >= 80%) OK
`;

describe('parseBackfill', () => {
  it('reads both medians as rates of the same rows and says what the fixed steps cost', () => {
    const out = parseBackfill(OUTPUT);
    const judged = out.metrics.filter((m) => m.targetId === 'backfill');
    expect(judged).toHaveLength(1);
    expect(judged[0]!.value).toBe(40_000_000);
    expect(judged[0]!.baseline?.value).toBe(50_000_000);
    expect((out.notes ?? []).join(' ')).toContain('took 60 ms, 15% of the plain');
  });

  it('refuses an output without its figures rather than reporting none', () => {
    expect(() => parseBackfill(OUTPUT.replace(/plain INSERT.*\n/, ''))).toThrow(/plain median/);
  });

  it('untargeted keeps every figure but judges none of them', () => {
    const out = untargeted(parseBackfill(OUTPUT));
    expect(out.metrics).toHaveLength(2);
    expect(out.metrics.every((m) => m.targetId === undefined)).toBe(true);
    expect(out.metrics[0]!.value).toBe(40_000_000);
  });
});
