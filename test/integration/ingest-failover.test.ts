/**
 * ClickHouse going away for 15 s, an ingester dying while another in the same group takes over,
 * and a member joining while a flush is held in ClickHouse: nothing lost, nothing twice. Server back end only: the embedded engine lives inside the
 * ingester's process (it cannot be cut off alone, nor shared by two processes).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createEngine, quoteIdent } from '../../src/clickhouse/create-engine.ts';
import type { Engine } from '../../src/clickhouse/engine.ts';
import { type Ingestion, startIngestion } from '../../src/ingest/ingestion.ts';
import type { KafkaClient } from '../../src/ingest/kafka-client.ts';
import { clickhouseConfig, scratchDatabase } from '../support/backends.ts';
import { createDatasourceTables } from '../support/ingest-fixtures.ts';
import {
  deleteTopics,
  endOffsets,
  kafkaConfig,
  newClient,
  produceAll,
  projectOf,
  uniqueTopic,
} from '../support/ingest-kafka.ts';
import { caughtUp, spawnIngester } from '../support/ingest-processes.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { createBalances, txDatasources } from '../support/tx-datasources.ts';

const PARTITIONS = 4;

function event(i: number): { key: string; value: string } {
  return {
    key: `e${i}`,
    value: JSON.stringify({
      id: `e${i}`,
      ts: 1704067200 + i,
      account: `a${i % 53}`,
      amount: ((i % 211) - 100) / 100,
    }),
  };
}

function datasources(topic: string) {
  return txDatasources(topic, { type: 'MergeTree', sortingKey: ['id'], settings: {} });
}

async function createTables(engine: Engine, topic: string): Promise<void> {
  const { tx, raw } = datasources(topic);
  await createDatasourceTables(engine, tx);
  await createDatasourceTables(engine, raw, { coordinates: true });
  await createBalances(engine);
}

async function expectExact(engine: Engine, n: number, messages: number): Promise<void> {
  const sum = Array.from({ length: n }, (_, i) => (i % 211) - 100).reduce((a, b) => a + b, 0) / 100;
  const [tx] = await engine.rows<{ n: string; u: string }>(
    'SELECT toString(count()) AS n, toString(uniqExact(id)) AS u FROM tx',
  );
  expect(tx).toEqual({ n: String(n), u: String(n) });
  const [mv] = await engine.rows<{ n: string; s: string }>(
    'SELECT toString(countMerge(n)) AS n, toString(sumMerge(total)) AS s FROM balances',
  );
  expect(mv!.n).toBe(String(n));
  expect(Number(mv!.s)).toBeCloseTo(sum, 2);
  const [raw] = await engine.rows<{ n: string; u: string }>(
    'SELECT toString(count()) AS n, toString(uniqExact(__partition, __offset)) AS u FROM raw',
  );
  expect(raw).toEqual({ n: String(messages), u: String(messages) });
}

describe('ClickHouse unavailable for 15 s [server]', () => {
  const database = scratchDatabase('cut');
  const topic = uniqueTopic('ingest_cut');
  let proxy: TcpProxy;
  let engine: Engine;
  let direct: Engine;
  let client: KafkaClient;
  let ingestion: Ingestion | undefined;

  beforeAll(async () => {
    const url = new URL(inject('clickhouseUrl'));
    proxy = await startTcpProxy(url.hostname, Number(url.port));
    direct = await createEngine(clickhouseConfig('server', database));
    engine = await createEngine(
      { ...clickhouseConfig('server', database), url: `http://127.0.0.1:${proxy.port}` },
      { requestTimeoutMs: 10_000 },
    );
    client = await newClient();
    await client.ensureTopic(topic, PARTITIONS);
    await createTables(direct, topic);
  });

  afterAll(async () => {
    await ingestion?.stop({ graceMs: 1000 });
    await client?.close();
    await deleteTopics(topic);
    await engine?.close();
    await direct?.command(`DROP DATABASE IF EXISTS ${quoteIdent(database)}`);
    await direct?.close();
    await proxy?.close();
  });

  it('pauses, retries with backoff, resumes: nothing lost, nothing twice', async () => {
    const N = 60_000;
    const { tx, raw } = datasources(topic);
    ingestion = await startIngestion(projectOf([tx, raw]), engine, kafkaConfig(), {
      kafkaClient: client,
      consumer: { sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1000, maxWaitMs: 200 },
      batch: { maxRows: 5000, maxWaitMs: 200 },
      retryMaxMs: 2000,
    });
    const stream = (async () => {
      for (let i = 0; i < N; i += 2000) {
        await produceAll(
          client,
          topic,
          Array.from({ length: 2000 }, (_, k) => event(i + k)),
        );
        await new Promise((r) => setTimeout(r, 400));
      }
    })();
    const stored = () => ingestion!.stats().datasources.reduce((n, d) => n + d.totals.stored, 0);
    while (stored() < 10_000) await new Promise((r) => setTimeout(r, 100));

    await proxy.cut();
    const before = stored();
    await new Promise((r) => setTimeout(r, 15_000));
    const s = ingestion.stats();
    // Consumption paused (at most the flush in flight went in), the group kept its members.
    expect(stored() - before).toBeLessThanOrEqual(5000 * 2);
    expect(s.datasources.length).toBeGreaterThan(0);
    expect(s.datasources.every((d) => d.totals.failures > 0)).toBe(true);
    // What /health reports as a data source's writes failing now.
    expect(s.datasources.every((d) => d.totals.failingSince !== undefined)).toBe(true);
    expect(s.datasources.every((d) => d.kafka!.assigned.length === PARTITIONS)).toBe(true);
    await proxy.restore();

    await stream;
    const ends = await endOffsets(topic);
    const t0 = Date.now();
    while (!caughtUp(ingestion.stats(), ends)) {
      if (Date.now() - t0 > 90_000) throw new Error(`not caught up: ${JSON.stringify(ingestion.stats())}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await expectExact(direct, N, N);
    expect(ingestion.stats().datasources.map((d) => d.totals.failingSince)).toEqual(
      ingestion.stats().datasources.map(() => undefined),
    );
  });
});

/** Ingesters of one group here: quick to notice a member gone, small flushes. */
const GROUP_OPTIONS = {
  consumer: { sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000, maxWaitMs: 200 },
  batch: { maxRows: 5000, maxWaitMs: 200 },
};

/** Each Kafka data source's ingester holds half the partitions. */
const holdsHalf = (s: { datasources: Array<{ kafka?: { assigned: number[] } }> }) =>
  s.datasources.every((d) => d.kafka!.assigned.length === PARTITIONS / 2);

/** A scratch database with the tables and a topic, for ingesters of one group; removed after. */
function groupSetup(name: string) {
  const database = scratchDatabase(name);
  const topic = uniqueTopic(`ingest_${name}`);
  const ctx = { database, topic } as { database: string; topic: string; direct: Engine; client: KafkaClient };
  beforeAll(async () => {
    ctx.direct = await createEngine(clickhouseConfig('server', database));
    ctx.client = await newClient();
    await ctx.client.ensureTopic(topic, PARTITIONS);
    await createTables(ctx.direct, topic);
  });
  afterAll(async () => {
    await ctx.client?.close();
    await deleteTopics(topic);
    await ctx.direct?.command(`DROP DATABASE IF EXISTS ${quoteIdent(database)}`);
    await ctx.direct?.close();
  });
  /** What an ingester in a child process of this group is given. */
  const childInput = () => {
    const { tx, raw } = datasources(topic);
    return {
      clickhouse: clickhouseConfig('server', database),
      datasources: [tx, raw],
      kafka: kafkaConfig(),
      options: GROUP_OPTIONS,
    };
  };
  return { ctx, childInput };
}

describe('two ingesters in one group, one killed [server]', () => {
  const { ctx, childInput } = groupSetup('pair');

  it('they split the partitions; the survivor takes over with nothing lost or doubled', async () => {
    const N = 80_000;
    const RESENT = 8000;
    const { client, topic, direct } = ctx;
    const a = spawnIngester(childInput());
    const b = spawnIngester(childInput());
    // Keyed by the dedup key (as the events API sends them): a re-sent event lands in the
    // partition of its first copy, so one consumer sees both.
    const stream = (async () => {
      for (let i = 0; i < N; i += 4000) {
        await produceAll(
          client,
          topic,
          Array.from({ length: 4000 }, (_, k) => event(i + k)),
        );
        await new Promise((r) => setTimeout(r, 500));
      }
      await produceAll(
        client,
        topic,
        Array.from({ length: RESENT }, (_, k) => event((k * 7) % N)),
      );
    })();
    await a.until(holdsHalf, 60_000, 'a holds half the partitions');
    await b.until(holdsHalf, 60_000, 'b holds half the partitions');
    await a.until((s) => s.datasources.every((d) => d.totals.flushes > 0), 60_000, 'a makes progress');
    await new Promise((r) => setTimeout(r, 700));
    await a.kill9();

    await stream;
    const ends = await endOffsets(topic);
    await b.until(
      (s) => s.datasources.every((d) => d.kafka!.assigned.length === PARTITIONS),
      60_000,
      'b takes over',
    );
    await b.until((s) => caughtUp(s, ends), 90_000, 'b caught up');
    await b.report();
    await expectExact(direct, N, N + RESENT);
  });
});

describe('a member joins while a flush is in flight [server]', () => {
  const { ctx, childInput } = groupSetup('handoff');
  let ingestion: Ingestion | undefined;
  // Registered after groupSetup's, so it runs before them (after hooks run in reverse).
  afterAll(() => ingestion?.stop({ graceMs: 1000 }));

  // The handler returns before its flush is stored (fetch-ahead), so only the hand-off before
  // the rejoin keeps the partitions from moving while that flush is held: without it the
  // newcomer reads ClickHouse's marks without the held rows and stores them a second time.
  it('the partitions move only once the held flush is stored, though it is held longer than a session timeout', async () => {
    const N = 40_000;
    const HOLD_MS = 8000;
    const { client, topic, direct } = ctx;
    const { tx, raw } = datasources(topic);
    await produceAll(
      client,
      topic,
      Array.from({ length: N / 2 }, (_, i) => event(i)),
    );
    let inserts = 0;
    let held: { from: number; to?: number } | undefined;
    const txInsert = /^INSERT INTO \S+\.`?tx`? \(/;
    const holding: Engine = new Proxy(direct, {
      get(target, key) {
        if (key === 'command') {
          return async (sql: string, ...rest: unknown[]) => {
            if (txInsert.test(sql) && ++inserts === 2) {
              held = { from: Date.now() };
              await new Promise((r) => setTimeout(r, HOLD_MS));
              held.to = Date.now();
            }
            return (target.command as (...a: unknown[]) => Promise<unknown>)(sql, ...rest);
          };
        }
        const v = Reflect.get(target, key, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    ingestion = await startIngestion(projectOf([tx, raw]), holding, kafkaConfig(), {
      kafkaClient: client,
      ...GROUP_OPTIONS,
    });
    while (!held) await new Promise((r) => setTimeout(r, 20));

    const b = spawnIngester(childInput());
    await b.until(holdsHalf, 60_000, 'b holds half the partitions');
    // The rebalance waited for the held flush. It outlasted a session timeout (HOLD_MS > 6 s):
    // had this member lost its session meanwhile, the newcomer would have taken every partition
    // during the hold and stored the held rows again, which the exact counts below would show.
    expect(held.to).toBeDefined();
    expect(holdsHalf(ingestion.stats())).toBe(true);

    await produceAll(
      client,
      topic,
      Array.from({ length: N / 2 }, (_, i) => event(N / 2 + i)),
    );
    const ends = await endOffsets(topic);
    const t0 = Date.now();
    const caughtUpBoth = () => {
      const sa = ingestion!.stats();
      const sb = b.stats();
      if (!sb) return false;
      // Each holds half the partitions: merge what each has stored up to.
      const merged = { ...sa, datasources: sa.datasources.map((d, i) => mergeKafka(d, sb.datasources[i]!)) };
      return caughtUp(merged, ends);
    };
    while (!caughtUpBoth()) {
      if (Date.now() - t0 > 90_000) throw new Error(`not caught up: ${b.output()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await b.report();
    await expectExact(direct, N, N);
  });
});

type DatasourceStats = ReturnType<Ingestion['stats']>['datasources'][number];

function mergeKafka(a: DatasourceStats, b: DatasourceStats): DatasourceStats {
  if (!a.kafka || !b.kafka) return a;
  return {
    ...a,
    kafka: {
      ...a.kafka,
      partitions: [
        ...a.kafka.partitions.filter((p) => a.kafka!.assigned.includes(p.partition)),
        ...b.kafka.partitions.filter((p) => b.kafka!.assigned.includes(p.partition)),
      ],
    },
  };
}
