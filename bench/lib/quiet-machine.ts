import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

/** What waiting for a quiet machine found. */
export interface QuietWait {
  /** Seconds waited. */
  waitedS: number;
  /** Share of all cores busy in the last second sampled (0 to 1). */
  busy: number;
  /** The machine was quiet when the wait ended (false: gave up after `maxS`). */
  quiet: boolean;
}

/** Busy and total CPU time of all cores so far (ms), from os.cpus(). */
function cpuTimes(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const c of cpus()) {
    const t = c.times;
    const all = t.user + t.nice + t.sys + t.idle + t.irq;
    total += all;
    busy += all - t.idle;
  }
  return { busy, total };
}

/**
 * Waits until the machine has been quiet (at most `busyShare` of its cores busy) for
 * `quietSeconds` seconds in a row, or `maxS` have passed. Services just started (Kafka's JVM
 * compiling its code, ClickHouse merging what the last benchmark inserted) take a core for
 * seconds; a benchmark started then measures them as much as Tally.
 */
export async function waitForQuietMachine(
  opts: { maxS?: number; busyShare?: number; quietSeconds?: number } = {},
): Promise<QuietWait> {
  const maxS = opts.maxS ?? 30;
  const busyShare = opts.busyShare ?? 0.15;
  const quietSeconds = opts.quietSeconds ?? 2;
  const t0 = performance.now();
  let last = cpuTimes();
  let quietRun = 0;
  let busy = 1;
  for (;;) {
    await sleep(1000);
    const now = cpuTimes();
    const total = now.total - last.total;
    busy = total > 0 ? (now.busy - last.busy) / total : 0;
    last = now;
    quietRun = busy <= busyShare ? quietRun + 1 : 0;
    const waitedS = (performance.now() - t0) / 1000;
    if (quietRun >= quietSeconds) return { waitedS, busy, quiet: true };
    if (waitedS >= maxS) return { waitedS, busy, quiet: false };
  }
}
