import { expect } from 'vitest';
import type { Engine } from '../../src/clickhouse/engine.ts';
import type { DdlContext } from '../../src/deploy/ddl.ts';
import { acquireDeployLock } from '../../src/deploy/deploy-lock.ts';

/**
 * Two deployers, one per engine, claim the deploy lock at the same moment, `rounds` times; each
 * holds it 100 ms. Fails unless every hold ended before the next began.
 */
export async function expectLockHeldByOneAtATime(
  engines: readonly [Engine, Engine],
  ctx: DdlContext,
  rounds: number,
): Promise<void> {
  const held: Array<{ from: number; to: number }> = [];
  const contend = async (e: Engine, id: string) => {
    const lock = await acquireDeployLock(e, ctx, id);
    const from = performance.now();
    await new Promise((r) => setTimeout(r, 100));
    held.push({ from, to: performance.now() });
    await lock.release();
  };
  for (let round = 0; round < rounds; round++) {
    await Promise.all([contend(engines[0], `a-${round}`), contend(engines[1], `b-${round}`)]);
  }
  expect(held).toHaveLength(2 * rounds);
  held.sort((x, y) => x.from - y.from);
  for (let i = 1; i < held.length; i++) expect(held[i]!.from).toBeGreaterThanOrEqual(held[i - 1]!.to);
}
