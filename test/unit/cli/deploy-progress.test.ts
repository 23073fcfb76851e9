import { expect, it } from 'vitest';
import { progressPrinter } from '../../../src/cli/commands/deploy.ts';
import type { DeployEvent } from '../../../src/deploy/apply-context.ts';
import type { Step } from '../../../src/deploy/plan-types.ts';

const step = (n: number) => ({ n, what: `backfill ${n}` }) as unknown as Step;
const fill = (n: number, rowsDone: number, rowsTotal: number): DeployEvent => ({
  type: 'backfill',
  step: step(n),
  progress: { label: 'totals_mv', rowsDone, rowsTotal, elapsedMs: 1 },
});

it('prints a finished backfill once, also one with nothing to copy (done at its start and end)', () => {
  const lines: string[] = [];
  const print = progressPrinter((s) => lines.push(s));
  print({ type: 'step-start', step: step(1) });
  print(fill(1, 0, 0));
  print(fill(1, 0, 0));
  print({ type: 'step-start', step: step(2) });
  print(fill(2, 100, 100));
  print(fill(2, 100, 100));
  expect(lines).toEqual([
    '[1] backfill 1 ...',
    '    totals_mv [########################] 0/0 rows',
    '[2] backfill 2 ...',
    '    totals_mv [########################] 100/100 rows',
  ]);
});
