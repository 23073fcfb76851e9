// `tally` run as a user runs it: bin/tally.js in its own process, its output gathered.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'tally.js');

export interface TallyProcess {
  child: ChildProcess;
  /** stdout and stderr so far, interleaved. */
  output: () => string;
  /** The exit code once it has exited. */
  exited: Promise<number | null>;
}

export function spawnTally(args: string[], env: NodeJS.ProcessEnv): TallyProcess {
  let out = '';
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d) => (out += String(d)));
  child.stderr?.on('data', (d) => (out += String(d)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** Polls `probe` until it gives a value; on timeout, fails with the process output's end. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  output: () => string,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
