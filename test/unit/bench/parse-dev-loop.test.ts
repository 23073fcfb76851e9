import { describe, expect, it } from 'vitest';
import { parseDevLoop } from '../../../bench/lib/adapters.ts';

// The summary bench/dev-loop.ts prints (figures made up).
const OUTPUT = `
save -> new answer served (endpoint-only change, 20 edits, embedded):
  median 288 ms  p90 354 ms  min 251 ms  max 387 ms  (goal <= 1 s: met)
tally test on the example project (embedded): 2.32 s wall  (goal <= 10 s: met)
no-op deploy: \`tally deploy\` 768 ms wall (median of 5), applyDeploy 139 ms in-process (median of 5)
start-up: \`tally --help\` 104 ms wall bundled, 260 ms through tsx (median of 7 each)
`;

describe('parseDevLoop', () => {
  it('gives start-up through the bundle with its ratio against the same sources through tsx', () => {
    const m = parseDevLoop(OUTPUT).metrics.find((x) => x.name.startsWith('`tally --help`'));
    expect(m?.value).toBe(104);
    expect(m?.baseline?.value).toBe(260);
    expect(m?.ratio).toBeCloseTo(2.5, 5);
  });

  it('reads an output without the start-up line (an older script) without that figure', () => {
    const out = parseDevLoop(OUTPUT.replace(/start-up:.*\n/, ''));
    expect(out.metrics.some((x) => x.name.startsWith('`tally --help`'))).toBe(false);
    expect(out.metrics.find((x) => x.targetId === 'noop-deploy')?.value).toBe(768);
  });
});
