import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isOurProcess, type PidRecord } from './pid-file.ts';
import { stopProcess } from './stop-process.ts';

function startSleeper(marker: string, ignoreTerm: boolean): PidRecord {
  const script = `${ignoreTerm ? 'trap "" TERM; ' : ''}while true; do sleep 0.1; done # ${marker}`;
  const child = spawn('sh', ['-c', script], { stdio: 'ignore' });
  return { pid: child.pid!, marker, command: 'sh', startedAt: new Date().toISOString() };
}

describe('stopProcess', () => {
  it('stops a process with SIGTERM', async () => {
    const rec = startSleeper(`tally-test-${Math.random()}`, false);
    expect(isOurProcess(rec)).toBe(true);
    expect(await stopProcess(rec, 5000)).toBe(true);
    expect(isOurProcess(rec)).toBe(false);
  });

  it('falls back to SIGKILL after the grace period', async () => {
    const rec = startSleeper(`tally-test-${Math.random()}`, true);
    // Let the shell run its `trap` before we signal it.
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    expect(await stopProcess(rec, 500)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
    expect(isOurProcess(rec)).toBe(false);
  });

  it('never signals a pid whose command line is not the recorded one', async () => {
    const rec: PidRecord = { pid: process.pid, marker: 'not-this-program', command: 'x', startedAt: '' };
    expect(isOurProcess(rec)).toBe(false);
    expect(await stopProcess(rec, 100)).toBe(false);
  });
});
