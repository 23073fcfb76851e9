import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Ingestion, startIngestion } from '../../src/ingest/ingestion.ts';
import type { KafkaClient } from '../../src/ingest/kafka-client.ts';
import { forEachBackend } from '../support/backends.ts';
import { createDatasourceTables } from '../support/ingest-fixtures.ts';
import {
  kafkaConfig,
  newClient,
  produceAll,
  projectOf,
  uniqueTopic,
  waitFor,
} from '../support/ingest-kafka.ts';
import { dataSource } from '../unit/ingest/type-node.ts';

const N = 100_000;
const RESENT = N / 10;

function event(i: number): string {
  return JSON.stringify({
    id: `ev-${i}`,
    ts: 1704067200 + i,
    account: `acct-${i % 97}`,
    amount: ((i % 1000) - 500) / 100,
  });
}

forEachBackend('kafka ingestion, exactly once', (ctx) => {
  const topic = uniqueTopic('ingest_eo');
  const ds = dataSource(
    'payments',
    [
      { name: 'id', type: 'String' },
      { name: 'ts', type: 'DateTime' },
      { name: 'account', type: 'String' },
      { name: 'amount', type: 'Decimal(18, 2)' },
    ],
    {
      dedupKey: ['id'],
      kafka: { topic, start: 'earliest', metadata: [], loc: { file: 'f', line: 1, col: 1 } },
      engine: {
        type: 'MergeTree',
        sortingKey: ['account', 'ts'],
        partitionKey: 'toYYYYMM(ts)',
        settings: {},
      },
    },
  );
  let client: KafkaClient;
  let ingestion: Ingestion | undefined;

  beforeAll(async () => {
    client = await newClient();
    await client.ensureTopic(topic, 4);
    await createDatasourceTables(ctx.engine, ds);
    // The snapshot a user would build: balance per account, counted by a materialized view.
    await ctx.engine.command(
      'CREATE TABLE balances (account String, total AggregateFunction(sum, Decimal(18, 2)), n AggregateFunction(count)) ENGINE = AggregatingMergeTree ORDER BY account',
    );
    await ctx.engine.command(
      'CREATE MATERIALIZED VIEW balances_mv TO balances AS SELECT account, sumState(amount) AS total, countState() AS n FROM payments GROUP BY account',
    );
  });

  afterAll(async () => {
    await ingestion?.stop();
    await client?.close();
  });

  it(`stores ${N} events from 4 partitions once, and 10% re-sent (other partitions, later) once more not at all`, async () => {
    const messages = Array.from({ length: N }, (_, i) => ({ value: event(i) }));
    // Re-sent copies: the same events again, to explicit (often other) partitions.
    const resent = Array.from({ length: RESENT }, (_, k) => ({ value: event(k * 10), partition: k % 4 }));
    await produceAll(client, topic, messages);
    const t0 = performance.now();
    ingestion = await startIngestion(projectOf([ds]), ctx.engine, kafkaConfig(), {
      kafkaClient: client,
      consumer: { sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1000 },
    });
    await produceAll(client, topic, resent);
    const total = N + RESENT;
    await waitFor(
      async () => {
        const s = ingestion!.stats().datasources[0]!.totals;
        return s.stored + s.duplicates >= total || s;
      },
      120_000,
      'all events ingested',
    );
    const ms = performance.now() - t0;
    const [c] = await ctx.engine.rows<{ n: string; u: string; s: string }>(
      'SELECT count() AS n, uniqExact(id) AS u, toString(sum(amount)) AS s FROM payments',
    );
    expect(Number(c!.n)).toBe(N);
    expect(Number(c!.u)).toBe(N);
    const expected = Array.from({ length: N }, (_, i) => (i % 1000) - 500).reduce((a, b) => a + b, 0) / 100;
    expect(Number(c!.s)).toBeCloseTo(expected, 2);
    const [mv] = await ctx.engine.rows<{ n: string; s: string }>(
      'SELECT toString(countMerge(n)) AS n, toString(sumMerge(total)) AS s FROM balances',
    );
    expect(Number(mv!.n)).toBe(N);
    expect(Number(mv!.s)).toBeCloseTo(expected, 2);
    const totals = ingestion.stats().datasources[0]!.totals;
    expect(totals).toMatchObject({ stored: N, duplicates: RESENT, quarantined: 0 });
    const log = await ctx.engine.rows<{ rows: string; dup: string }>(
      "SELECT toString(sum(rows)) AS rows, toString(sum(duplicates)) AS dup FROM tally_ingest_log WHERE datasource = 'payments'",
    );
    expect(log[0]).toEqual({ rows: String(N), dup: String(RESENT) });
    const lag = ingestion.stats().datasources[0]!.kafka!.partitions;
    expect(lag.map((p) => p.lag)).toEqual([0, 0, 0, 0]);
    console.log(`[${ctx.backend}] ${total} messages in ${(ms / 1000).toFixed(1)} s`);
  });
});
