import { runMain } from '../../src/cli/main.ts';
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

/** Runs `tally <argv>` in-process in `cwd`; what it printed and its exit code. */
export async function runCli(
  argv: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<{ code: number; out: string; err: string }> {
  const io = captureOutput();
  const code = await runMain(argv, { io, env, cwd });
  return { code, out: io.stdout(), err: io.stderr() };
}
