/**
 * One deploy at a time per database. Several `tally serve --deploy` instances start together,
 * and two deploys that both create a view and backfill it would count the log twice.
 *
 * ClickHouse has no locks, so a claim is a row: a deployer writes `claim`, then reads the live
 * claims, and goes on only when its own is the only one; otherwise it writes `release` and
 * tries again once the others are gone. Two deployers can't both go on: each would have read
 * before the other's claim was written, yet each wrote its own claim before reading, so one of
 * them read after the other wrote. (That needs a read to see every write that finished before
 * it: true of one server and of chDB; on a replicated cluster the claim is written with a quorum
 * of every replica of the lock table, so it has finished only once every node holds it.) Both
 * backing off at once is possible; the random pause ends it.
 *
 * A claim lives while its deployer writes a heartbeat every 10 s; one silent for 60 s (a crash)
 * no longer counts, and one of a process of this host that is gone, silent for 15 s, neither.
 */
import { hostname } from 'node:os';
import type { Engine, Settings } from '../clickhouse/engine.ts';
import { TallyError } from '../errors.ts';
import { checkClusterNodes } from './cluster-nodes.ts';
import { createTableSql, type DdlContext, qualified, stringLiteral } from './ddl.ts';
import { TALLY_PREFIX } from './names.ts';
import type { TableSpec } from './table-spec.ts';

export const DEPLOY_LOCK_TABLE = `${TALLY_PREFIX}deploy_lock`;

const LOCK_SPEC: TableSpec = {
  name: DEPLOY_LOCK_TABLE,
  role: 'bookkeeping',
  columns: [
    { name: 'id', type: 'String', comment: 'the deployment id holding or asking' },
    { name: 'holder', type: 'String', comment: 'host:pid of the deployer' },
    { name: 'at', type: 'DateTime', comment: "the server's time of the row" },
    { name: 'state', type: 'String', comment: 'claim, heartbeat or release' },
  ],
  engine: { type: 'MergeTree', sortingKey: ['id', 'at'], settings: {} },
};

export interface LockOptions {
  /** How long to wait for another deploy to finish (default 10 minutes). */
  waitMs?: number;
  /** Told once when the lock is held by another deploy, with who holds it. */
  onWait?: (holder: LiveClaim) => void;
  heartbeatMs?: number;
  /** A claim silent this long no longer counts (default 60 s). */
  expireS?: number;
}

export interface LiveClaim {
  id: string;
  holder: string;
  /** Seconds since the claim was first written. */
  ageS: number;
}

export interface DeployLock {
  release(): Promise<void>;
}

/** Waits until this deploy is the only one on the database, then holds it until `release()`. */
export async function acquireDeployLock(
  engine: Engine,
  ctx: DdlContext,
  id: string,
  opts: LockOptions = {},
): Promise<DeployLock> {
  // Created only when missing: on a cluster even CREATE ... IF NOT EXISTS ON CLUSTER waits for
  // every node, and deploy must be able to say which node is down rather than hang here.
  const present = await engine.rows(
    `SELECT 1 FROM system.tables WHERE database = ${stringLiteral(ctx.database)} AND name = ${stringLiteral(DEPLOY_LOCK_TABLE)}`,
  );
  // On a cluster every node must answer: the claim needs all replicas (below), and deploy's DDL
  // runs ON CLUSTER; say which node is down rather than fail on a quorum.
  if (ctx.cluster) await checkClusterNodes(engine, ctx.cluster);
  if (present.length === 0) await engine.command(createTableSql(LOCK_SPEC, ctx));
  const table = qualified(ctx, DEPLOY_LOCK_TABLE);
  const holder = `${hostname()}:${process.pid}`;
  const expireS = opts.expireS ?? 60;
  const deadline = Date.now() + (opts.waitMs ?? 600_000);
  const quorum = ctx.cluster ? await lockReplicas(engine, ctx) : 0;
  // Each attempt claims under a name of its own: a released claim stays released, so claiming
  // again under the same name would be invisible to the others.
  let attempt = 0;
  let claim = id;
  const heartbeatS = (opts.heartbeatMs ?? 10_000) / 1000;
  const row = (id: string, by: string, state: string, settings?: Settings) =>
    engine.command(
      `INSERT INTO ${table} (id, holder, at, state) SELECT ${stringLiteral(id)}, ${stringLiteral(by)}, now(), ${stringLiteral(state)}`,
      settings ? { settings } : {},
    );
  const write = (state: string, settings?: Settings) => row(claim, holder, state, settings);
  // A release or heartbeat seen late only makes others wait a little longer: no quorum for them.
  const writeClaim = async () => {
    if (quorum <= 1) return write('claim');
    for (;;) {
      try {
        return await write('claim', { insert_quorum: quorum, insert_quorum_timeout: 30_000 });
      } catch (err) {
        // 18.16 takes one quorum INSERT per table at a time and refuses others meanwhile.
        if (!QUORUM_BUSY.test(String((err as Error).message)) || Date.now() > deadline) throw err;
        await sleep(20 + Math.random() * 80);
      }
    }
  };
  const others = async (): Promise<LiveClaim[]> => {
    // Only recent rows can make a claim live (a heartbeat within expireS), and a release is
    // always the newest row of its claim: older rows change nothing, so they are not read.
    const rows = await engine.rows<{
      id: string;
      holder: string;
      age: number | string;
      silent: number | string;
    }>(
      `SELECT id, any(holder) AS holder, toUInt32(now() - min(at)) AS age, toUInt32(now() - max(at)) AS silent FROM ${table}
       WHERE at >= now() - ${Math.floor(expireS) + RECENT_MARGIN_S}
       GROUP BY id HAVING countIf(state = 'release') = 0 AND max(at) >= now() - ${Math.floor(expireS)}`,
    );
    const dead = rows.filter(
      (r) => r.id !== claim && Number(r.silent) >= heartbeatS + DEAD_MARGIN_S && isDeadHereProcess(r.holder),
    );
    // Released for every deployer (other hosts cannot tell the process is gone).
    for (const r of dead) await row(r.id, r.holder, 'release').catch(() => {});
    return rows
      .filter((r) => r.id !== claim && !dead.includes(r))
      .map((r) => {
        const bare = r.id.replace(/#\d+$/, '');
        return { id: bare, holder: r.holder, ageS: ageFromId(bare) ?? Number(r.age) };
      });
  };

  let told = false;
  for (;;) {
    claim = attempt === 0 ? id : `${id}#${attempt}`;
    attempt++;
    await writeClaim();
    let rivals: LiveClaim[];
    try {
      rivals = await others();
    } catch (err) {
      // A claim left behind would make every other deploy wait for its expiry.
      await write('release').catch(() => {});
      throw err;
    }
    if (rivals.length === 0) break;
    await write('release');
    if (!told) {
      opts.onWait?.(rivals[0]!);
      told = true;
    }
    // Wait for the others to finish, then a random pause so that two waiters don't collide again.
    while ((await others()).length > 0) {
      if (Date.now() > deadline) {
        const r = rivals[0]!;
        throw new TallyError(
          'deploy-locked',
          `another deploy (${r.id} by ${r.holder}, started ${r.ageS} s ago) is still running on database ${ctx.database}`,
          {
            exitCode: 2,
            hint: `wait for it, or if that process is gone, its claim expires ${expireS} s after its last heartbeat`,
          },
        );
      }
      await sleep(500);
    }
    await sleep(50 + Math.random() * 450);
  }

  void pruneOldClaims(engine, table).catch(() => {});
  const beat = setInterval(() => void write('heartbeat').catch(() => {}), opts.heartbeatMs ?? 10_000);
  beat.unref();
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      clearInterval(beat);
      await write('release');
    },
  };
}

/**
 * ClickHouse's refusal (code 286) of a quorum INSERT while another is not yet on every replica:
 * "Another quorum insert has been already started" (18.16), "Quorum for previous write has not
 * been satisfied yet" (newer servers).
 */
const QUORUM_BUSY =
  /Code: 286\b|Another quorum insert has been already started|Quorum for previous write has not been satisfied|UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE/i;

/** How many replicas the lock table has on this cluster (the quorum a claim is written with). */
async function lockReplicas(engine: Engine, ctx: DdlContext): Promise<number> {
  const [r] = await engine.rows<{ n: number | string }>(
    `SELECT total_replicas AS n FROM system.replicas WHERE database = ${stringLiteral(ctx.database)} AND table = ${stringLiteral(DEPLOY_LOCK_TABLE)}`,
  );
  return Number(r?.n ?? 0);
}

/**
 * A claim of a deployer on this host whose process is gone (killed while it deployed) and that
 * has missed a heartbeat by this much is released at once rather than after expireS: a live
 * deployer of the same name on another host would have written a heartbeat meanwhile.
 */
const DEAD_MARGIN_S = 5;

/** `holder` is `<this host>:<pid>` and no process has that pid here. */
function isDeadHereProcess(holder: string): boolean {
  const at = holder.lastIndexOf(':');
  const pid = Number(holder.slice(at + 1));
  if (holder.slice(0, at) !== hostname() || !Number.isInteger(pid) || pid <= 0 || pid === process.pid)
    return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    // EPERM: it exists, owned by another user.
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Rows older than expireS plus this are never read (see `others`). */
const RECENT_MARGIN_S = 120;
/** Above this many rows, those older than a day are deleted (each deploy writes a few). */
export const PRUNE_ABOVE_ROWS = 10_000;

/** A mutation in the background: the lock never waits for it. */
async function pruneOldClaims(engine: Engine, table: string): Promise<void> {
  const [r] = await engine.rows<{ n: number | string }>(`SELECT count() AS n FROM ${table}`);
  if (Number(r?.n ?? 0) <= PRUNE_ABOVE_ROWS) return;
  await engine.command(`ALTER TABLE ${table} DELETE WHERE at < now() - INTERVAL 1 DAY`);
}

/** Seconds since a deploy id's UTC stamp (`YYYYMMDDhhmmssSSS_xxxx`, names.ts), if it has one. */
function ageFromId(id: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{3})_/.exec(id);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, sec, ms] = m.map(Number) as number[];
  const at = Date.UTC(y!, mo! - 1, d!, h!, mi!, sec!, ms!);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.round((Date.now() - at) / 1000));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
