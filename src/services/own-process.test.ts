import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findOwnProcess, runsElsewhereNote, upResult } from './own-process.ts';
import { type PidRecord, writePidFile } from './pid-file.ts';

// This very process stands for a server: its command line holds the marker `vitest`.
function record(address?: string): PidRecord {
  return {
    pid: process.pid,
    marker: 'vitest',
    command: 'node',
    startedAt: new Date().toISOString(),
    ...(address ? { address } : {}),
  };
}

describe('findOwnProcess', () => {
  const pidFile = () => join(mkdtempSync(join(tmpdir(), 'tally-own-')), 'server.pid');

  it('finds our process started for this address', () => {
    const file = pidFile();
    writePidFile(file, record('http://127.0.0.1:8123'));
    const found = findOwnProcess(file, 'http://127.0.0.1:8123');
    expect(found.own?.pid).toBe(process.pid);
    expect(found.running?.pid).toBe(process.pid);
    expect(runsElsewhereNote(found)).toBeUndefined();
  });

  it('tells a process started for another address from ours', () => {
    const file = pidFile();
    writePidFile(file, record('http://127.0.0.1:18123'));
    const found = findOwnProcess(file, 'http://127.0.0.1:8123');
    expect(found.own).toBeUndefined();
    expect(found.running?.pid).toBe(process.pid);
    expect(runsElsewhereNote(found)).toBe(
      `tally's server from an earlier up runs at http://127.0.0.1:18123 (pid ${process.pid})`,
    );
  });

  it('takes a record without an address as this address', () => {
    const file = pidFile();
    writePidFile(file, record());
    expect(findOwnProcess(file, 'http://127.0.0.1:8123').own?.pid).toBe(process.pid);
  });

  it('finds nothing for a missing or broken pid file, or a pid that is another program', () => {
    expect(findOwnProcess(pidFile(), 'x')).toEqual({});
    const broken = pidFile();
    writeFileSync(broken, '{not json');
    expect(findOwnProcess(broken, 'x')).toEqual({});
    const other = pidFile();
    writePidFile(other, { ...record('x'), marker: `no-such-marker-${Math.random()}` });
    expect(findOwnProcess(other, 'x')).toEqual({});
  });
});

describe('upResult', () => {
  const base = { name: 'kafka' as const, address: '127.0.0.1:9092', version: '4.1.1', logFile: '/l' };

  it('reports the pid and log of a server Tally owns', () => {
    const r = upResult({ ...base, action: 'started', owner: 'tally', t0: Date.now(), rec: record() });
    expect(r).toMatchObject({
      state: 'running',
      owner: 'tally',
      action: 'started',
      pid: process.pid,
      logFile: '/l',
    });
    expect(r.elapsedMs).toBeGreaterThanOrEqual(0);
  });

  it('reports neither for a server someone else runs', () => {
    const r = upResult({ ...base, action: 'reused', owner: 'external', t0: Date.now(), rec: record() });
    expect(r.pid).toBeUndefined();
    expect(r.logFile).toBeUndefined();
  });
});
