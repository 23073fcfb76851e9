import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** What `up` records about a process it started, so `down` stops that process and no other. */
export interface PidRecord {
  pid: number;
  /** A string the process's command line must contain (its config file path). */
  marker: string;
  /** The command that was run, for messages. */
  command: string;
  startedAt: string;
  /** The address the server was started for; a later `up` for another address must not adopt it. */
  address?: string;
  version?: string;
}

export function readPidFile(path: string): PidRecord | undefined {
  try {
    const rec = JSON.parse(readFileSync(path, 'utf8')) as Partial<PidRecord>;
    if (typeof rec.pid !== 'number' || typeof rec.marker !== 'string') return undefined;
    return rec as PidRecord;
  } catch {
    return undefined;
  }
}

export function writePidFile(path: string, rec: PidRecord): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(rec, null, 2)}\n`);
}

export function removePidFile(path: string): void {
  rmSync(path, { force: true });
}

/**
 * True when `pid` is alive and still the program we started: its command line contains the
 * marker. A recycled pid belongs to some other program and must never be signalled.
 */
export function isOurProcess(rec: PidRecord): boolean {
  const cmdline = processCommandLine(rec.pid);
  return cmdline?.includes(rec.marker) ?? false;
}

/** The command line of a live process (Linux /proc, else `ps`), or undefined if it is gone. */
export function processCommandLine(pid: number): string | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    // A zombie has an empty cmdline: it is no longer running.
    return raw.length > 0 ? raw.split('\0').join(' ').trim() : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && process.platform === 'linux') return undefined;
  }
  try {
    const out = execFileSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8' }).trim();
    return out.length > 0 ? out : undefined;
  } catch {
    return undefined;
  }
}
