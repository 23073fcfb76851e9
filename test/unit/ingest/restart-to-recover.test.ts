import { describe, expect, it } from 'vitest';
import { restartToRecover, type StartSeen } from '../../../src/ingest/restart-recovery.ts';

const EVERY = 5000;
const T = 1_800_000_000_000;
/** The server started at T - 1 h; a probe at T saw it. */
const before: StartSeen = { started: T - 3_600_000, at: T, host: 'ch-1', generation: 0 };
const probed = (started: number, generation: number | undefined = 0, host = 'ch-1'): StartSeen => ({
  started,
  at: T + EVERY,
  host,
  generation,
});
const idle = { inFlight: 0, lastAt: 0 };

describe('restartToRecover', () => {
  it('a new start after a write that ended just before the last probe of the old start', () => {
    expect(restartToRecover(before, probed(T + 2000), { inFlight: 0, lastAt: T - 300 }, EVERY)).toBe(true);
    expect(restartToRecover(before, probed(T + 2000), { inFlight: 0, lastAt: T + 1500 }, EVERY)).toBe(true);
  });

  it('a new start while an INSERT is still under way, however long ago it began', () => {
    expect(restartToRecover(before, probed(T + 2000), { inFlight: 1, lastAt: T - 600_000 }, EVERY)).toBe(
      true,
    );
  });

  it('not when this process wrote nothing near the restart (an idle instance)', () => {
    expect(restartToRecover(before, probed(T + 2000), idle, EVERY)).toBe(false);
    expect(restartToRecover(before, probed(T + 2000), { inFlight: 0, lastAt: T - EVERY - 1 }, EVERY)).toBe(
      false,
    );
  });

  it('not for the same start seen again, within the rounding of uptime() and the probe', () => {
    const writing = { inFlight: 1, lastAt: T };
    expect(restartToRecover(before, probed(before.started), writing, EVERY)).toBe(false);
    expect(restartToRecover(before, probed(before.started + 1999), writing, EVERY)).toBe(false);
    expect(restartToRecover(before, probed(before.started + 2001), writing, EVERY)).toBe(true);
  });

  it('not across a failover or a balancer: another server has its own start', () => {
    expect(restartToRecover(before, probed(T + 2000, 1), { inFlight: 1, lastAt: T }, EVERY)).toBe(false);
    expect(restartToRecover(before, probed(T + 2000, 0, 'ch-2'), { inFlight: 1, lastAt: T }, EVERY)).toBe(
      false,
    );
  });
});
