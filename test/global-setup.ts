import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Admin, Kafka, logLevel } from 'kafkajs';
import type { TestProject } from 'vitest/node';
import { servicesUp } from '../src/services/services.ts';

const REPO = resolve(import.meta.dirname, '..');

/**
 * Integration suites run on a real ClickHouse server and Kafka broker: reuse the ones at
 * TALLY_CLICKHOUSE_URL / TALLY_KAFKA_BROKERS (or the defaults) when they answer, else start them
 * (`tally services up`). They stay up afterwards so the next run starts in milliseconds;
 * `.tally/test/` scratch data is removed, and so are the Kafka topics the run made (see
 * `testTopics`), except what processes still running made (another vitest run's).
 */
export default async function setup(project: TestProject): Promise<() => void> {
  const brokers = process.env.TALLY_KAFKA_BROKERS?.split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  const results = await servicesUp({
    projectDir: REPO,
    clickhouseUrl: process.env.TALLY_CLICKHOUSE_URL || undefined,
    kafkaBrokers: brokers && brokers.length > 0 ? brokers : undefined,
    log: (line) => console.log(`[services] ${line}`),
  });
  for (const r of results) {
    if (r.action === 'started') {
      console.log(
        `[services] ${r.name} ${r.version} started at ${r.address} in ${(r.elapsedMs / 1000).toFixed(1)} s`,
      );
    }
  }
  project.provide('clickhouseUrl', results.find((r) => r.name === 'clickhouse')!.address);
  const kafkaAddress = results.find((r) => r.name === 'kafka')!.address;
  project.provide('kafkaBrokers', kafkaAddress);
  const topics = testTopics(kafkaAddress.split(','));
  const before = await topics.list();
  return async () => {
    removeScratchOfEndedProcesses(join(REPO, '.tally', 'test'));
    await topics.removeNew(before);
  };
}

/**
 * Test files name their scratch folders and topics after their process (`chdb-1234`,
 * `transactions_1234_x7k2p0`): what a process still running made belongs to another vitest run
 * on this checkout, and is left to it, unless that process is one of this run's own workers
 * (a child of this process, which runs the teardown).
 */
function madeByEndedProcess(name: string, pidPattern: RegExp): boolean {
  const pid = Number(pidPattern.exec(name)?.[1]);
  if (!pid) return true;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'EPERM';
  }
  return parentOf(pid) === process.pid;
}

/** A process's parent, from Linux's /proc (undefined elsewhere). */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // `pid (command) state ppid ...`; the command may hold spaces and parentheses.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function removeScratchOfEndedProcesses(dir: string): void {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    if (madeByEndedProcess(name, /-(\d+)(?:\.\w+)?$/))
      rmSync(join(dir, name), { recursive: true, force: true });
  }
}

/**
 * Tests name their topics after their process and a random part (`tally_append_1234_server_ab12`,
 * `transactions_1234_x7k2p0`), and never reuse one: without this, a developer's broker gains
 * dozens with every run. Removed at the end: topics with such a name that the run made (absent
 * when it began), so nobody else's topic goes, whatever its name.
 */
function testTopics(brokers: string[]) {
  const withAdmin = async <T>(use: (a: Admin) => Promise<T>): Promise<T> => {
    const a = new Kafka({ brokers, clientId: 'tally-tests', logLevel: logLevel.NOTHING }).admin();
    try {
      await a.connect();
      return await use(a);
    } finally {
      await a.disconnect();
    }
  };
  return {
    list: () => withAdmin(async (a) => new Set(await a.listTopics())),
    removeNew: (before: Set<string>) =>
      withAdmin(async (a) => {
        const made = (await a.listTopics()).filter(
          (t) => !before.has(t) && /_\d{2,7}_/.test(t) && madeByEndedProcess(t, /_(\d{2,7})_/),
        );
        if (made.length > 0) await a.deleteTopics({ topics: made, timeout: 30_000 });
      }).catch((err: Error) => console.log(`[services] test topics left on the broker: ${err.message}`)),
  };
}
