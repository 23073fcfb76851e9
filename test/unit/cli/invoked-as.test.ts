import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { invokedAs } from '../../../src/cli/invoked-as.ts';

const REPO = join(import.meta.dirname, '..', '..', '..');
const BIN = join(REPO, 'bin', 'tally.js');
const dir = mkdtempSync(join(tmpdir(), 'tally-invoked-as-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('invokedAs: the command as the user ran tally', () => {
  it('npx for an npm bin shim in a node_modules/.bin, tally for one on the PATH', () => {
    expect(invokedAs('/home/u/.npm/_npx/c324c9/node_modules/.bin/tally', '/home/u')).toBe('npx tally');
    expect(invokedAs('/home/u/shop/node_modules/.bin/tally', '/home/u/shop')).toBe('npx tally');
    expect(invokedAs('/usr/local/bin/tally', '/home/u')).toBe('tally');
    expect(invokedAs(undefined, '/home/u')).toBe('tally');
  });

  it('node and the script path for bin/tally.js: relative inside the current folder, else absolute, quoted when needed', () => {
    expect(invokedAs('/src/tally/bin/tally.js', '/src/tally')).toBe('node bin/tally.js');
    expect(invokedAs('/src/tally/bin/tally.js', '/home/u')).toBe('node /src/tally/bin/tally.js');
    expect(invokedAs('/my src/tally/bin/tally.js', '/home/u')).toBe("node '/my src/tally/bin/tally.js'");
  });
});

/** Runs `command init <folder>` in `cwd`; what it printed. */
async function init(command: string[], folder: string, cwd: string): Promise<string> {
  const [file, ...args] = command;
  const child = spawn(file!, [...args, 'init', folder], {
    cwd,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += String(d)));
  child.stderr.on('data', (d) => (err += String(d)));
  const code = await new Promise((r) => child.once('exit', r));
  expect(code, err).toBe(0);
  return out;
}

describe('tally init prints its next steps as tally was run', () => {
  it('node bin/tally.js from the clone (npx tally outside it is an unrelated package)', async () => {
    const out = await init([process.execPath, 'bin/tally.js'], join(dir, 'a'), REPO);
    expect(out).toContain(
      `\n  node bin/tally.js test --project ${join(dir, 'a')}     run the endpoint tests`,
    );
    expect(out).toContain(`\n  node bin/tally.js dev --project ${join(dir, 'a')}      serve http://`);
    expect(out).not.toContain('npx');
  });

  it('tally through a link named tally on the PATH, npx tally through a node_modules/.bin one', async () => {
    mkdirSync(join(dir, 'path'));
    symlinkSync(BIN, join(dir, 'path', 'tally'));
    expect(await init([join(dir, 'path', 'tally')], 'b', dir)).toContain('\n  tally test --project b ');
    mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true });
    symlinkSync(BIN, join(dir, 'node_modules', '.bin', 'tally'));
    expect(await init([join(dir, 'node_modules', '.bin', 'tally')], 'c', dir)).toContain(
      '\n  npx tally test --project c ',
    );
  });
});
