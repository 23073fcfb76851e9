/**
 * One deploy at a time per database: two deploys started together (two `tally serve --deploy`
 * instances) create and backfill a view once, not twice; a live claim makes a deploy wait and
 * then say who holds the database; a claim whose deployer went silent stops counting.
 */
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { createEngine, quoteIdent } from '../../src/clickhouse/create-engine.ts';
import type { Engine } from '../../src/clickhouse/engine.ts';
import type { DeployResult } from '../../src/deploy/apply.ts';
import { applyDeploy, ddlContextFor } from '../../src/deploy/deploy.ts';
import { acquireDeployLock, DEPLOY_LOCK_TABLE, PRUNE_ABOVE_ROWS } from '../../src/deploy/deploy-lock.ts';
import { TallyError } from '../../src/errors.ts';
import { BACKENDS, clickhouseConfig } from '../support/backends.ts';
import { freshEngine, num } from '../support/deploy-fixtures.ts';
import { expectLockHeldByOneAtATime } from '../support/lock-contention.ts';
import { eventsProject, withPipe } from '../support/model-builder.ts';

async function load(engine: Engine): Promise<void> {
  await engine.command(
    "INSERT INTO events SELECT number, concat('a', toString(number % 100)), toDecimal64(number % 7, 2), toDateTime('2024-01-01 00:00:00') + number FROM numbers(300000)",
  );
}

describe.each(BACKENDS)('deploy lock [%s]', (backend) => {
  it('two deploys started together: one waits, the view is created and backfilled once', async () => {
    const { engine, drop } = await freshEngine(backend);
    // The server: a second connection, as a second instance would have. chDB: one engine per
    // process, so both deploys share it and their statements interleave.
    const other =
      backend === 'server' ? await createEngine(clickhouseConfig(backend, engine.database)) : engine;
    try {
      const full = eventsProject();
      expect((await applyDeploy(withPipe(full, 'totals_mv', undefined), engine)).ok).toBe(true);
      await load(engine);
      const waits: string[] = [];
      const results: DeployResult[] = await Promise.all([
        applyDeploy(full, engine, { lock: { onWait: (c) => waits.push(c.id) } }),
        applyDeploy(full, other, { lock: { onWait: (c) => waits.push(c.id) } }),
      ]);
      for (const r of results) expect(r.ok, r.error).toBe(true);
      const kinds = results.map((r) => r.plan.steps.map((s) => s.kind).join(','));
      // Exactly one of them created and backfilled the view; the other found nothing to do.
      expect(kinds.sort()).toEqual(['', 'create-view,backfill']);
      expect(waits.length).toBeGreaterThan(0);
      const got = await engine.rows<{ k: string; s: string; n: string }>(
        'SELECT account AS k, toString(sumMerge(total)) AS s, toString(countMerge(n)) AS n FROM totals GROUP BY account ORDER BY account',
      );
      const want = await engine.rows<{ k: string; s: string; n: string }>(
        'SELECT account AS k, toString(sum(amount)) AS s, toString(count()) AS n FROM events GROUP BY account ORDER BY account',
      );
      expect(got.length).toBe(100);
      expect(got).toEqual(want);
      expect(num(got[0]!.n)).toBe(3000);
    } finally {
      if (other !== engine) await other.close();
      await drop();
    }
  }, 120_000);

  it('two contenders claiming at the same moment never hold the lock together (8 rounds)', async () => {
    const { engine, drop } = await freshEngine(backend);
    const other =
      backend === 'server' ? await createEngine(clickhouseConfig(backend, engine.database)) : engine;
    try {
      await expectLockHeldByOneAtATime([engine, other], ddlContextFor(eventsProject(), engine), 8);
    } finally {
      if (other !== engine) await other.close();
      await drop();
    }
  }, 120_000);

  it('a live claim makes a deploy wait, then fail naming the holder; a silent one does not count', async () => {
    const { engine, drop } = await freshEngine(backend);
    try {
      const project = eventsProject();
      const ctx = ddlContextFor(project, engine);
      const held = await acquireDeployLock(engine, ctx, 'other-deploy', { heartbeatMs: 300 });
      const t0 = Date.now();
      const refused = await applyDeploy(project, engine, { lock: { waitMs: 1_500 } }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(TallyError);
      expect((refused as TallyError).code).toBe('deploy-locked');
      expect((refused as TallyError).message).toMatch(
        /another deploy \(other-deploy by [^)]+:\d+, started \d+ s ago\)/,
      );
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1_500);
      // Nothing was created while it waited.
      const [t] = await engine.rows<{ n: string }>(
        `SELECT count() AS n FROM system.tables WHERE database = '${engine.database}' AND name = 'events'`,
      );
      expect(num(t!.n)).toBe(0);

      // Released: the deploy goes on at once.
      await held.release();
      expect((await applyDeploy(project, engine, { lock: { waitMs: 1_500 } })).ok).toBe(true);

      // A claim whose deployer crashed (no heartbeat for over the expiry) no longer counts.
      await engine.command(
        `INSERT INTO ${quoteIdent(engine.database)}.${DEPLOY_LOCK_TABLE} (id, holder, at, state) SELECT 'crashed', 'gone:1', now() - 120, 'claim'`,
      );
      const after = await applyDeploy(project, engine, { lock: { waitMs: 1_500 } });
      expect(after.ok, after.error).toBe(true);
    } finally {
      await drop();
    }
  }, 60_000);

  it('a claim of a process of this host that is gone stops counting after a missed heartbeat, not after the expiry', async () => {
    const { engine, drop } = await freshEngine(backend);
    try {
      const project = eventsProject();
      const table = `${quoteIdent(engine.database)}.${DEPLOY_LOCK_TABLE}`;
      await (await acquireDeployLock(engine, ddlContextFor(project, engine), 'first')).release();
      const deadPid = spawnSync(process.execPath, ['-e', '0']).pid;
      // Silent for 20 s: past a missed heartbeat (15 s), far from the expiry (60 s).
      const claimBy = (id: string, holder: string) =>
        engine.command(
          `INSERT INTO ${table} (id, holder, at, state) SELECT '${id}', '${holder}', now() - 20, 'claim'`,
        );
      // A live process of this host (this test's parent) still holds its claim until the expiry.
      await claimBy('live-here', `${hostname()}:${process.ppid}`);
      const waited = await applyDeploy(project, engine, { lock: { waitMs: 1_000 } }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((waited as TallyError).code).toBe('deploy-locked');
      await engine.command(
        `INSERT INTO ${table} (id, holder, at, state) SELECT 'live-here', '${hostname()}:${process.ppid}', now(), 'release'`,
      );

      await claimBy('killed-here', `${hostname()}:${deadPid}`);
      const t0 = Date.now();
      const after = await applyDeploy(project, engine, { lock: { waitMs: 10_000 } });
      expect(after.ok, after.error).toBe(true);
      expect(Date.now() - t0).toBeLessThan(5_000);
      // Released for everyone: a deployer on another host would not wait for it either.
      const [r] = await engine.rows<{ n: string }>(
        `SELECT count() AS n FROM ${table} WHERE id = 'killed-here' AND state = 'release'`,
      );
      expect(num(r!.n)).toBe(1);
    } finally {
      await drop();
    }
  }, 60_000);

  it('keeps its table small: past the row limit, claims older than a day are deleted', async () => {
    const { engine, drop } = await freshEngine(backend);
    try {
      const ctx = ddlContextFor(eventsProject(), engine);
      const table = `${quoteIdent(engine.database)}.${DEPLOY_LOCK_TABLE}`;
      await (await acquireDeployLock(engine, ctx, 'first')).release();
      await engine.command(
        `INSERT INTO ${table} (id, holder, at, state) SELECT concat('old', toString(number)), 'gone:1', now() - 3 * 86400, 'claim' FROM numbers(${PRUNE_ABOVE_ROWS})`,
      );
      // Old rows of a silent claim never count, so the next deploy goes on at once, and prunes.
      const lock = await acquireDeployLock(engine, ctx, 'second', { waitMs: 1_000 });
      await lock.release();
      const deadline = Date.now() + 20_000;
      let left = Number.POSITIVE_INFINITY;
      while (Date.now() < deadline) {
        const [r] = await engine.rows<{ old: string; recent: string }>(
          `SELECT toString(countIf(at < now() - 86400)) AS old, toString(countIf(at >= now() - 86400)) AS recent FROM ${table}`,
        );
        left = num(r!.old);
        if (left === 0) {
          expect(num(r!.recent)).toBeGreaterThanOrEqual(4); // the two claims and their releases
          break;
        }
        await new Promise((res) => setTimeout(res, 200));
      }
      expect(left).toBe(0);
    } finally {
      await drop();
    }
  }, 60_000);
});
