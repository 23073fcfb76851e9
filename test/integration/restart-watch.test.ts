/**
 * A ClickHouse server shutting down (SIGTERM) tears an INSERT without failing it (finding 13 of
 * docs/reliability.md, seen in a CI chaos run on 18.16): it shuts its tables down one by one
 * while it still runs the INSERTs of the connections it keeps, and an INSERT then writes its
 * table and the views not yet shut down, and answers 200. Here that INSERT is made by hand (the
 * view detached around the first INSERT into the data source, which succeeds) and the server's
 * start time is reported as later from then on. The restart watch must see the new start and
 * recompute; without it the view stays short for good. Server back end only: the embedded
 * engine lives in the process and does not restart under it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, quoteIdent } from '../../src/clickhouse/create-engine.ts';
import type { Engine } from '../../src/clickhouse/engine.ts';
import { type Ingestion, startIngestion } from '../../src/ingest/ingestion.ts';
import type { KafkaClient } from '../../src/ingest/kafka-client.ts';
import { serverStartedAt } from '../../src/ingest/restart-recovery.ts';
import { clickhouseConfig, scratchDatabase } from '../support/backends.ts';
import { createDatasourceTables } from '../support/ingest-fixtures.ts';
import {
  deleteTopics,
  kafkaConfig,
  newClient,
  produceAll,
  projectOf,
  uniqueTopic,
  waitFor,
} from '../support/ingest-kafka.ts';
import { createBalances, txAmount, txDatasources, txEvent } from '../support/tx-datasources.ts';

const EVENTS = 600;
const PARTITIONS = 2;

/** The engine, except that the first INSERT into `table` runs while `view` is detached. */
function viewSkippingEngine(engine: Engine, table: string, view: string, onSkip: () => void): Engine {
  const db = quoteIdent(engine.database);
  let done = false;
  return new Proxy(engine, {
    get(target, prop, receiver) {
      if (prop !== 'command') return Reflect.get(target, prop, receiver);
      return async (sql: string) => {
        if (done || !sql.startsWith(`INSERT INTO ${db}.${quoteIdent(table)} `)) return target.command(sql);
        done = true;
        await target.command(`DETACH TABLE ${db}.${quoteIdent(view)}`);
        try {
          await target.command(sql);
        } finally {
          await target.command(`ATTACH TABLE ${db}.${quoteIdent(view)}`);
        }
        onSkip();
      };
    },
  });
}

describe('a restart after an answered INSERT that skipped a view [server]', () => {
  const database = scratchDatabase('rw');
  let engine: Engine;
  let client: KafkaClient;
  let ingestion: Ingestion | undefined;
  const topics: string[] = [];
  const one = async (sql: string) => (await engine.rows<Record<string, string>>(sql))[0]!;

  beforeAll(async () => {
    engine = await createEngine(clickhouseConfig('server', database));
    client = await newClient();
  });

  afterAll(async () => {
    await ingestion?.stop();
    await client?.close();
    await deleteTopics(...topics);
    await engine?.command(`DROP DATABASE IF EXISTS ${quoteIdent(database)}`).catch(() => {});
    await engine?.close();
  });

  async function run(watchMs: number) {
    const all = await engine.rows<{ name: string }>(
      `SELECT name FROM system.tables WHERE database = '${database}' ORDER BY engine != 'MaterializedView'`,
    );
    for (const t of all) await engine.command(`DROP TABLE ${quoteIdent(t.name)}`);
    const topic = uniqueTopic('restart_watch');
    topics.push(topic);
    await client.ensureTopic(topic, PARTITIONS);
    const { tx } = txDatasources(topic, { type: 'MergeTree', sortingKey: ['id'], settings: {} });
    await createDatasourceTables(engine, tx);
    await createBalances(engine);
    await produceAll(
      client,
      topic,
      Array.from({ length: EVENTS }, (_, i) => ({ value: txEvent(i), partition: i % PARTITIONS })),
    );

    // A start long ago until the skipped view, then the restart that follows it.
    let startedAt = 0;
    let skipped = 0;
    const logs: Array<Record<string, unknown>> = [];
    ingestion = await startIngestion(
      projectOf([tx]),
      viewSkippingEngine(engine, 'tx', 'balances_mv', () => {
        skipped++;
        startedAt = Date.now();
      }),
      kafkaConfig(),
      {
        kafkaClient: client,
        consumer: { sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000, maxWaitMs: 200 },
        batch: { maxWaitMs: 200 },
        log: (e) => logs.push(e),
        serverStartedAt: async () => startedAt,
        startWatchMs: watchMs,
      },
    );
    await waitFor(
      async () => {
        const s = ingestion!.stats();
        const t = s.datasources.find((d) => d.name === 'tx')!.totals;
        const recovered = watchMs === 0 || s.restartRecoveries.count > 0;
        return (skipped === 1 && t.stored + t.duplicates >= EVENTS && recovered) || s;
      },
      60_000,
      'every event handled',
    );
    const stats = ingestion.stats();
    await ingestion.stop();
    ingestion = undefined;
    return { logs, recoveries: stats.restartRecoveries, failures: stats.datasources[0]!.totals.failures };
  }

  it("the probe reads the server's own start (uptime() and hostName() on this server)", async () => {
    const started = await serverStartedAt(engine);
    expect(started).toBeLessThanOrEqual(Date.now());
    expect(started).toBeGreaterThan(Date.now() - 365 * 86_400_000);
  });

  const sum = Array.from({ length: EVENTS }, (_, i) => txAmount(i)).reduce((a, b) => a + b, 0);

  it('the watch sees the new start and recomputes: every event counted once by the view', async () => {
    const { logs, recoveries, failures } = await run(100);
    // No INSERT failed: only the start time tells.
    expect(failures).toBe(0);
    expect(recoveries.count).toBe(1);
    const done = logs.filter((l) => l.msg === 'restart recovery done');
    expect(done).toHaveLength(1);
    expect((done[0]!.recomputed as Array<{ target: string }>).map((r) => r.target)).toEqual(['balances']);
    expect(await one('SELECT toString(count()) AS n, toString(uniqExact(id)) AS u FROM tx')).toEqual({
      n: String(EVENTS),
      u: String(EVENTS),
    });
    expect(
      await one('SELECT toString(countMerge(n)) AS n, toString(toInt64(sumMerge(total))) AS s FROM balances'),
    ).toEqual({ n: String(EVENTS), s: String(sum) });
  });

  it('without the watch the same INSERT leaves the view short for good (what the watch prevents)', async () => {
    const { recoveries, failures } = await run(0);
    expect(failures).toBe(0);
    expect(recoveries).toEqual({ count: 0 });
    expect(await one('SELECT toString(count()) AS n FROM tx')).toEqual({ n: String(EVENTS) });
    // The skipped INSERT's rows (all of them when one flush took every event) were never counted.
    expect(Number((await one('SELECT toString(countMerge(n)) AS n FROM balances')).n)).toBeLessThan(EVENTS);
  });
});
