// The `tally` command starts node with the V8 flags of bin/tally.js's shebang line (the
// ingester's memory depends on them), and the benchmarks read the same line to run Tally's code
// with those flags: both must keep working.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliNodeFlags } from '../../../bench/lib/cli-node-flags.ts';

const REPO = join(import.meta.dirname, '..', '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'tally-node-flags-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bin/tally.js node flags', () => {
  it('run bin/tally.js through its shebang: node gets the flags the benchmarks read', async () => {
    const flags = cliNodeFlags();
    expect(flags).toContain('--max-semi-space-size=4');
    // A preload that reports the flags node was started with, before Tally's own code runs.
    const preload = join(dir, 'report-flags.cjs');
    writeFileSync(preload, 'process.stderr.write(`execArgv=${JSON.stringify(process.execArgv)}\\n`);\n');
    const child = spawn(join(REPO, 'bin', 'tally.js'), ['--version'], {
      env: { ...process.env, NODE_OPTIONS: `--require ${preload}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += String(d)));
    child.stderr.on('data', (d) => (err += String(d)));
    const code = await new Promise((r) => child.once('exit', r));
    expect(code, err).toBe(0);
    expect(out).toMatch(/\d+\.\d+\.\d+/);
    const reported = JSON.parse(/execArgv=(.*)/.exec(err)?.[1] ?? 'null') as string[];
    expect(reported).toEqual(flags);
  });
});
