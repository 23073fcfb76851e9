import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMain } from '../../../src/cli/main.ts';
import { captureOutput } from '../../support/capture-output.ts';

const REPO = join(import.meta.dirname, '..', '..', '..');

async function run(...argv: string[]) {
  const io = captureOutput();
  const code = await runMain(argv, { io, env: {}, cwd: REPO });
  return { code, out: io.stdout(), err: io.stderr() };
}

describe('tally replay and tally diff: arguments', () => {
  it('are listed in tally --help', async () => {
    const r = await run('--help');
    expect(r.out).toMatch(/^ {2}replay /m);
    expect(r.out).toMatch(/^ {2}diff /m);
  });

  it('replay --help names every flag and the exit codes', async () => {
    const r = await run('replay', '--help');
    expect(r.code).toBe(0);
    for (const f of ['--apply', '--sample', '--json']) expect(r.out).toContain(f);
    expect(r.out).toContain('Exit 0 when it ran');
  });

  it('diff --help names every flag and the exit codes', async () => {
    const r = await run('diff', '--help');
    expect(r.code).toBe(0);
    for (const f of ['--base', '--param', '--key', '--sample', '--json']) expect(r.out).toContain(f);
    expect(r.out).toContain('Exit 0 when every answer is identical, 1 when any differs');
  });

  it('replay wants one pipe and a whole --sample (exit 1, before any engine opens)', async () => {
    expect(await run('replay')).toMatchObject({
      code: 1,
      err: expect.stringContaining('needs one materialized pipe'),
    });
    expect((await run('replay', 'a', 'b')).code).toBe(1);
    expect(await run('replay', 'subscription_state_mv', '--sample=-1')).toMatchObject({
      code: 1,
      err: expect.stringContaining('--sample must be a whole number'),
    });
  });

  it('diff wants one endpoint and --base (exit 1)', async () => {
    expect(await run('diff', 'attribution')).toMatchObject({
      code: 1,
      err: expect.stringContaining('--base <git ref>'),
    });
    expect((await run('diff', '--base', 'HEAD')).code).toBe(1);
    expect(await run('diff', 'attribution', '--base', 'HEAD', '--sample', 'x')).toMatchObject({
      code: 1,
      err: expect.stringContaining('--sample must be a whole number'),
    });
    // A misspelt endpoint: named, with the closest one (before any engine opens).
    expect(await run('diff', 'balanc', '--base', 'HEAD')).toMatchObject({
      code: 1,
      err: expect.stringContaining(
        'there is no endpoint balanc in the working tree (did you mean `balance`?)',
      ),
    });
  });
});
