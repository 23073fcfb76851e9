/**
 * The server process a `tally services up` started earlier, found through its pid file, and what
 * `up` reports about a server: shared by every service Tally starts.
 */
import { isOurProcess, type PidRecord, readPidFile } from './pid-file.ts';
import type { ServiceName, ServiceOwner, UpAction, UpResult } from './service.ts';

export interface OwnProcess {
  /** Our process from an earlier `up`, alive and still the program we started. */
  running?: PidRecord;
  /** The same, when it was started for the address asked for now (else it runs elsewhere). */
  own?: PidRecord;
}

export function findOwnProcess(pidFile: string, address: string): OwnProcess {
  const rec = readPidFile(pidFile);
  if (!rec || !isOurProcess(rec)) return {};
  // Records written before addresses were kept have none: taken as this address's.
  return rec.address === undefined || rec.address === address ? { running: rec, own: rec } : { running: rec };
}

/** What `status` says about our server running for another address, if it does. */
export function runsElsewhereNote(p: OwnProcess): string | undefined {
  return p.running && !p.own
    ? `tally's server from an earlier up runs at ${p.running.address} (pid ${p.running.pid})`
    : undefined;
}

export interface UpReport {
  name: ServiceName;
  address: string;
  action: UpAction;
  owner: ServiceOwner;
  version: string;
  /** Date.now() when `up` began. */
  t0: number;
  /** Our process, reported (with its log) when Tally owns the server. */
  rec?: PidRecord | undefined;
  logFile?: string;
}

export function upResult(r: UpReport): UpResult {
  const ours = r.rec && r.owner === 'tally';
  return {
    name: r.name,
    state: 'running',
    owner: r.owner,
    action: r.action,
    version: r.version,
    address: r.address,
    elapsedMs: Date.now() - r.t0,
    ...(ours ? { pid: r.rec!.pid, ...(r.logFile ? { logFile: r.logFile } : {}) } : {}),
  };
}
