import { isOurProcess, type PidRecord } from './pid-file.ts';
import { waitUntil } from './wait-until.ts';

/**
 * Stops a process `up` started: SIGTERM, then SIGKILL after `graceMs`. The pid is checked against
 * the recorded command line before every signal, so a recycled pid is never touched.
 * Returns false when the process was already gone.
 */
export async function stopProcess(rec: PidRecord, graceMs: number): Promise<boolean> {
  if (!isOurProcess(rec)) return false;
  signal(rec.pid, 'SIGTERM');
  const gone = await waitUntil(async () => !isOurProcess(rec), { timeoutMs: graceMs, intervalMs: 100 });
  if (gone.ok) return true;
  if (isOurProcess(rec)) signal(rec.pid, 'SIGKILL');
  await waitUntil(async () => !isOurProcess(rec), { timeoutMs: 5000, intervalMs: 100 });
  return true;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
