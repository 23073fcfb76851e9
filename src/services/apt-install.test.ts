import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TallyError } from '../errors.ts';
import { aptInstall } from './apt-install.ts';

// Stand-ins for apt-cache and apt-get on PATH: each call is logged, and the package "installs"
// (a marker file appears) according to the mode file, so the refresh-and-retry logic runs for real.
let dir: string;
let savedPath: string | undefined;

function fakeApt(
  candidate: string,
  mode: 'ok' | 'after-update' | 'postinst-fails' | 'never' | 'nothing',
  updateExit = 0,
): void {
  writeFileSync(
    join(dir, 'apt-cache'),
    `#!/bin/sh\necho "  Installed: (none)"\necho "  Candidate: ${candidate}"\n`,
  );
  writeFileSync(
    join(dir, 'apt-get'),
    `#!/bin/sh
echo "$*" >> "${dir}/calls"
case "$1" in
  update) touch "${dir}/fresh"; echo "W: Failed to fetch http://old.example/dists/x/InRelease"; exit ${updateExit} ;;
esac
case "${mode}" in
  ok) touch "${dir}/installed"; exit 0 ;;
  after-update) if [ -f "${dir}/fresh" ]; then touch "${dir}/installed"; exit 0; fi
    echo "E: Failed to fetch http://deb.example/pool/old.deb  404  Not Found"; exit 100 ;;
  postinst-fails) touch "${dir}/installed"; echo "invoke-rc.d: policy-rc.d denied execution of start."; exit 1 ;;
  never) echo "E: Unable to locate package fakepkg"; exit 100 ;;
  nothing) echo "fakepkg is already the newest version (1.0-1)."; exit 0 ;;
esac
`,
  );
  chmodSync(join(dir, 'apt-cache'), 0o755);
  chmodSync(join(dir, 'apt-get'), 0o755);
}

function calls(): string[] {
  return existsSync(join(dir, 'calls')) ? readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n') : [];
}

function request() {
  const marker = join(dir, 'installed');
  return { label: 'fake', packages: ['fakepkg'], find: () => (existsSync(marker) ? marker : undefined) };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tally-apt-'));
  savedPath = process.env.PATH;
  process.env.PATH = `${dir}:${savedPath ?? ''}`;
});
afterEach(() => {
  process.env.PATH = savedPath;
  rmSync(dir, { recursive: true, force: true });
});

describe('aptInstall', () => {
  it('refreshes the package lists first when they have no candidate (a fresh machine)', async () => {
    fakeApt('(none)', 'ok');
    const lines: string[] = [];
    expect(await aptInstall(request(), (l) => lines.push(l))).toBe(join(dir, 'installed'));
    expect(calls()).toEqual(['update', 'install -y fakepkg']);
    expect(lines[0]).toBe('fake: apt-get update (no fakepkg candidate in the package lists yet)');
  });

  it('installs without a refresh when the lists know the package', async () => {
    fakeApt('1.0-1', 'ok');
    await aptInstall({ ...request(), options: ['--no-install-recommends'] }, () => {});
    expect(calls()).toEqual(['install -y --no-install-recommends fakepkg']);
  });

  it('refreshes once and retries when stale lists name a version the mirror no longer serves', async () => {
    fakeApt('0.9-1', 'after-update');
    const lines: string[] = [];
    await aptInstall(request(), (l) => lines.push(l));
    expect(calls()).toEqual(['install -y fakepkg', 'update', 'install -y fakepkg']);
    expect(lines).toContain(
      'fake: install failed with the current package lists; apt-get update and one more try',
    );
  });

  it('goes on with the install when apt-get update fails (one stale source fails it)', async () => {
    fakeApt('(none)', 'ok', 100);
    const lines: string[] = [];
    await aptInstall(request(), (l) => lines.push(l));
    expect(calls()).toEqual(['update', 'install -y fakepkg']);
    expect(lines[1]).toBe('fake: `apt-get update` failed (exit 100); trying the install anyway:');
    expect(lines[2]).toContain('W: Failed to fetch http://old.example/dists/x/InRelease');
  });

  it('counts an install whose postinst could not start a service as installed', async () => {
    fakeApt('1.0-1', 'postinst-fails');
    const lines: string[] = [];
    await aptInstall(request(), (l) => lines.push(l));
    expect(lines.at(-1)).toBe('fake: apt-get reported an error after installing; continuing');
  });

  it('fails when apt-get succeeds but what we need is still not there', async () => {
    fakeApt('1.0-1', 'nothing');
    const err = await aptInstall(request(), () => {}).catch((e: unknown) => e);
    expect((err as TallyError).code).toBe('SERVICE_INSTALL_FAILED');
    expect((err as TallyError).message).toContain('(apt-get succeeded, but fake is still not installed)');
  });

  it('fails with the command, its exit code and the tail of its output when nothing installs', async () => {
    fakeApt('1.0-1', 'never');
    const err = await aptInstall(request(), () => {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TallyError);
    expect((err as TallyError).code).toBe('SERVICE_INSTALL_FAILED');
    expect((err as TallyError).message).toMatch(/^`apt-get install -y fakepkg` failed \(exit 100\):\n/);
    expect((err as TallyError).message).toContain('E: Unable to locate package fakepkg');
    expect(calls()).toEqual(['install -y fakepkg', 'update', 'install -y fakepkg']);
  });
});
