import { expect, it } from 'vitest';
import type { Command } from '../../../src/cli/command.ts';
import { runCommand } from '../../../src/cli/main.ts';
import { TallyError } from '../../../src/errors.ts';
import { captureOutput } from '../../support/capture-output.ts';

// What the CLI does around a command that fails: the error on stderr, and with --json one
// document on stdout, never a second one after the command's own.

function command(run: Command['run']): Command {
  return { name: 'fake', summary: '', usage: 'tally fake', options: {}, run };
}

async function runFake(run: Command['run'], json: boolean) {
  const io = captureOutput();
  const code = await runCommand(command(run), io, {
    projectDir: '.',
    json,
    env: {},
    args: [],
    flags: {},
    stopSignal: new AbortController().signal,
    invokedAs: 'tally',
  });
  return { code, out: io.stdout(), err: io.stderr() };
}

const late = new TallyError('clickhouse-unreachable', 'the connection closed', { exitCode: 2 });

it('prints no second JSON document after the one a command printed before failing', async () => {
  const r = await runFake(async (ctx) => {
    ctx.io.out(JSON.stringify({ ok: true, changes: 0 }));
    throw late;
  }, true);
  expect(r.code).toBe(2);
  expect(JSON.parse(r.out)).toEqual({ ok: true, changes: 0 });
  expect(r.err).toContain('error: the connection closed');
});

it('prints the failure as the JSON document when the command printed none', async () => {
  const r = await runFake(async () => {
    throw late;
  }, true);
  expect(r.code).toBe(2);
  expect(JSON.parse(r.out)).toMatchObject({
    ok: false,
    error: { code: 'clickhouse-unreachable', message: 'the connection closed' },
  });
});

it('without --json, stdout keeps only what the command printed; a bug exits 2 with its stack', async () => {
  const r = await runFake(async (ctx) => {
    ctx.io.out('plan: 0 changes');
    throw new TypeError('x is undefined');
  }, false);
  expect(r.code).toBe(2);
  expect(r.out).toBe('plan: 0 changes');
  expect(r.err).toMatch(/^internal error: TypeError: x is undefined\n\s+at /);
});
