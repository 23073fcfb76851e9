import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Engine } from '../../../src/clickhouse/engine.ts';
import { RestartRecovery } from '../../../src/ingest/restart-recovery.ts';
import type { Project } from '../../../src/project/model.ts';

/**
 * The restart watch's probe loop against a stand-in server: the real watch code, a server that
 * only answers `SELECT uptime(), hostName()`. Its answers are scripted per probe; every other
 * query fails, so a recovery that starts on a single server fails and says so in the log.
 */
const EVERY_MS = 60;
const project = { datasources: new Map() } as unknown as Project;

interface Answer {
  /** Seconds the server has been up when asked. */
  uptime: () => number;
  /** The answer comes this late (ms). */
  delayMs?: number;
  fail?: boolean;
}

function stubServer(script: (probe: number) => Answer, cluster?: string) {
  let probes = 0;
  const engine = {
    backend: 'server',
    generation: 0,
    ...(cluster ? { cluster } : {}),
    async rows(sql: string) {
      if (!/uptime\(\)/.test(sql)) throw new Error(`the stand-in server answers no ${sql.slice(0, 40)}`);
      const answer = script(probes++);
      const u = answer.uptime();
      if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
      if (answer.fail) throw new Error('connect ECONNREFUSED');
      return [{ u, h: 'ch-1' }];
    },
  } as unknown as Engine;
  return { engine, probes: () => probes };
}

/** A server up since `bootMs` (performance.now() terms) answers its true uptime in whole seconds. */
const upSince = (bootMs: number) => () => Math.floor((performance.now() - bootMs) / 1000);

const watchers: RestartRecovery[] = [];
async function watch(
  engine: Engine,
): Promise<{ logs: Array<Record<string, unknown>>; recovery: RestartRecovery }> {
  const logs: Array<Record<string, unknown>> = [];
  const recovery = new RestartRecovery(project, engine, { instance: 'test', log: (e) => logs.push(e) });
  watchers.push(recovery);
  await recovery.watchStarts(EVERY_MS);
  return { logs, recovery };
}

const until = async (what: () => boolean, ms = 5000) => {
  const deadline = performance.now() + ms;
  while (!what()) {
    if (performance.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

afterEach(async () => {
  vi.restoreAllMocks();
  for (const w of watchers.splice(0)) await w.stopWatching();
});

describe('the restart watch', () => {
  // A server that started moments ago: an error of a few seconds in its start would put it after
  // this process's last write, so the recovery's own check would not catch a false restart.
  it('a step of the wall clock is not a restart (the start is read by the monotonic clock)', async () => {
    const server = stubServer(() => ({ uptime: upSince(performance.now() - 500) }));
    const { logs, recovery } = await watch(server.engine);
    const end = recovery.writing(); // an INSERT under way: a restart now would be recovered from
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 60_000); // NTP steps the clock 1 min
    const after = server.probes();
    await until(() => server.probes() >= after + 3);
    end();
    expect(logs).toEqual([]);
  });

  it('an answer that came late is not compared (a blocked event loop makes the start look later)', async () => {
    const boot = performance.now() - 500;
    // The second probe's answer is true when the server gives it, and read 3 s later.
    const server = stubServer((n) => ({ uptime: upSince(boot), delayMs: n === 1 ? 3000 : 0 }));
    const { logs, recovery } = await watch(server.engine);
    const end = recovery.writing();
    await until(() => server.probes() >= 4, 10_000);
    end();
    expect(logs).toEqual([]);
  });

  it('a restart seen while writing is recovered from; a recovery that failed is tried again at the next probe', async () => {
    let boot = performance.now() - 3_600_000;
    let sinceRestart = -1; // answers given since the restart; -1: not restarted
    const server = stubServer(() => {
      if (sinceRestart >= 0) sinceRestart++;
      // The probe that sees the new start owes a recovery, whose own read of the start (the
      // next answer) fails: nothing is recovered yet, and no sink is flushing to retry it.
      return { uptime: upSince(boot), fail: sinceRestart === 2 };
    }, 'a_cluster');
    const { logs, recovery } = await watch(server.engine);
    const end = recovery.writing();
    boot = performance.now() - 1000;
    sinceRestart = 0;
    await until(() => logs.length >= 2);
    end();
    expect(logs[0]).toMatchObject({
      level: 'warn',
      msg: expect.stringMatching(/recovery failed; it is tried again/),
    });
    // On a cluster the recovery is a warning naming what to run: the retry reached it.
    expect(logs[1]).toMatchObject({
      level: 'warn',
      msg: expect.stringMatching(/on a cluster Tally does not recompute/),
    });
    // Once: later probes see the start already recovered.
    const probes = server.probes();
    await until(() => server.probes() >= probes + 3);
    expect(logs).toHaveLength(2);
  });
});
