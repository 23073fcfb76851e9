export interface WaitUntilOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Checked before each attempt: a reason to stop waiting early (the process exited), or undefined. */
  abort?: () => string | undefined;
}

export type WaitOutcome = { ok: true } | { ok: false; reason: string };

/**
 * Polls `check` until it returns true, the timeout passes, or `abort` gives a reason. A check that
 * throws counts as not ready yet.
 */
export async function waitUntil(check: () => Promise<boolean>, opts: WaitUntilOptions): Promise<WaitOutcome> {
  const deadline = Date.now() + opts.timeoutMs;
  const interval = opts.intervalMs ?? 250;
  for (;;) {
    const aborted = opts.abort?.();
    if (aborted) return { ok: false, reason: aborted };
    try {
      if (await check()) return { ok: true };
    } catch {
      // not ready yet
    }
    if (Date.now() >= deadline)
      return { ok: false, reason: `not ready after ${Math.round(opts.timeoutMs / 1000)} s` };
    await sleep(interval);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
