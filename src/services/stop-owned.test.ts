import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isOurProcess, type PidRecord, writePidFile } from './pid-file.ts';
import { stopOwned } from './stop-owned.ts';

function options(dir: string, answers: boolean) {
  return {
    name: 'clickhouse' as const,
    address: 'http://127.0.0.1:1',
    paths: { pidFile: join(dir, 'server.pid'), dockerMarker: join(dir, 'docker') },
    stopTimeoutMs: 2000,
    log: () => {},
    answers: async () => answers,
  };
}

describe('stopOwned', () => {
  it('stops the process its pid file names, and removes the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tally-stop-'));
    const marker = `tally-test-${Math.random()}`;
    const child = spawn('sh', ['-c', `while true; do sleep 0.1; done # ${marker}`], { stdio: 'ignore' });
    const rec: PidRecord = { pid: child.pid!, marker, command: 'sh', startedAt: new Date().toISOString() };
    const o = options(dir, true);
    writePidFile(o.paths.pidFile, rec);
    expect(await stopOwned(o)).toEqual({
      name: 'clickhouse',
      address: o.address,
      action: 'stopped',
      owner: 'tally',
    });
    expect(isOurProcess(rec)).toBe(false);
    expect(existsSync(o.paths.pidFile)).toBe(false);
  });

  it('leaves a server it did not start alone, and says whether one answers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tally-stop-'));
    expect((await stopOwned(options(dir, true))).action).toBe('not-owned');
    expect((await stopOwned(options(dir, false))).action).toBe('not-running');
  });
});
