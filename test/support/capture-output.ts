import type { Output } from '../../src/cli/output.ts';

/** An Output that records what a command printed, for in-process CLI tests. */
export function captureOutput(): Output & { stdout: () => string; stderr: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out: (s) => out.push(s),
    err: (s) => err.push(s),
    color: false,
    stdout: () => out.join('\n'),
    stderr: () => err.join('\n'),
  };
}
