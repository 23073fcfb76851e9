// `tally ... | head -1`: the reader goes away after the first line. The command must finish
// quietly (no EPIPE stack trace) with its own exit code, as a shell pipeline expects.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CliDatabases } from '../support/cli-databases.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

const REPO = join(import.meta.dirname, '..', '..');
const databases = new CliDatabases('epipe');

afterAll(async () => {
  await databases.dropAll();
  removeProjects();
});

describe.each(['server', 'embedded'] as const)('a closed stdout [%s]', (backend) => {
  it('tally sql with a large answer piped into a reader that stops after one chunk', async () => {
    const dir = writeProject({ 'tally.yaml': 'name: epipe\n' });
    const env = databases.env(backend, backend === 'embedded' ? { TALLY_CLICKHOUSE_URL: '' } : {});
    // tally sql runs only in a deployed database (it creates none); in a process of its own, as
    // the embedded engine's folder is opened by one process at a time.
    const deploy = spawnSync(process.execPath, [join(REPO, 'bin', 'tally.js'), 'deploy', '--project', dir], {
      env: { ...process.env, NO_COLOR: '1', ...env },
      encoding: 'utf8',
    });
    expect(deploy.status, deploy.stderr).toBe(0);
    const child = spawn(
      process.execPath,
      [
        join(REPO, 'bin', 'tally.js'),
        'sql',
        'SELECT number FROM system.numbers LIMIT 300000',
        '--project',
        dir,
      ],
      { env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    let first = '';
    child.stdout.once('data', (d) => {
      first = String(d);
      child.stdout.destroy(); // like `head -1` exiting
    });
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(first).toMatch(/number/);
    expect(stderr).not.toMatch(/EPIPE|Error:/);
    expect(code).toBe(0);
  }, 60_000);
});
