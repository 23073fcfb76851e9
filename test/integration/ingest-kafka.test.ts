import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Ingestion, startIngestion } from '../../src/ingest/ingestion.ts';
import type { KafkaClient } from '../../src/ingest/kafka-client.ts';
import { forEachBackend } from '../support/backends.ts';
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
import { createBalances } from '../support/tx-datasources.ts';
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
    await createBalances(ctx.engine, 'payments');
  });

  afterAll(async () => {
    await ingestion?.stop();
    await client?.close();
    await deleteTopics(topic);
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
    // The ops log is written just after each flush.
    await waitFor(
      async () => {
        const log = await ctx.engine.rows<{ rows: string; dup: string }>(
          "SELECT toString(sum(rows)) AS rows, toString(sum(duplicates)) AS dup FROM tally_ingest_log WHERE datasource = 'payments'",
        );
        return (log[0]?.rows === String(N) && log[0]?.dup === String(RESENT)) || log;
      },
      10_000,
      'the ops log',
    );
    const lag = ingestion.stats().datasources[0]!.kafka!.partitions;
    expect(lag.map((p) => p.lag)).toEqual([0, 0, 0, 0]);
    console.log(`[${ctx.backend}] ${total} messages in ${(ms / 1000).toFixed(1)} s`);
  });
});

forEachBackend('kafka ingestion, bad events', (ctx) => {
  const topic = uniqueTopic('ingest_bad');
  const ds = dataSource(
    'readings',
    [
      { name: 'sensor', type: 'String' },
      { name: 'at', type: 'DateTime', json: '$.time' },
      { name: 'value', type: 'Float64', json: '$.reading.value' },
      {
        name: 'unit',
        type: 'LowCardinality(String)',
        json: '$.reading.unit',
        defaultValue: 'C',
        default: "'C'",
      },
      { name: 'tags', type: 'Array(String)', defaultValue: [], default: '[]' },
      { name: 'raw_event', type: 'String', json: '$' },
    ],
    {
      kafka: {
        topic,
        start: 'earliest',
        metadata: ['__partition', '__offset', '__key'],
        loc: { file: 'f', line: 1, col: 1 },
      },
    },
  );
  const withMeta = {
    ...ds,
    columns: [
      ...ds.columns,
      ...dataSource('m', [
        { name: '__partition', type: 'Int32', json: null },
        { name: '__offset', type: 'Int64', json: null },
        { name: '__key', type: 'String', json: null },
      ]).columns,
    ],
  };
  let client: KafkaClient;
  let ingestion: Ingestion | undefined;

  beforeAll(async () => {
    client = await newClient();
    await client.ensureTopic(topic, 1);
    await createDatasourceTables(ctx.engine, withMeta);
  });

  afterAll(async () => {
    await ingestion?.stop();
    await client?.close();
    await deleteTopics(topic);
  });

  it('quarantines malformed JSON, wrong types and missing fields with their reasons and coordinates; good rows land', async () => {
    const events = [
      '{"sensor":"s1","time":"2024-05-01T10:00:00+02:00","reading":{"value":21.5}}',
      '{"sensor":"s2","time":"2024-05-01 08:00:01","reading":{"value":"19","unit":"F"},"tags":["a","b"]}',
      '{"sensor":"s3","time":"2024-05-01 08:00:02","reading":{"value":"warm"}}',
      '{"sensor":"s4","reading":{"value":1}}',
      '{"sensor":"s5", time: 1}',
      '{"time":"tomorrow","reading":5,"tags":"x"}',
      '',
      // Text cut inside a character: ClickHouse refused the whole insert for it, so the data
      // source stopped until the event left the topic.
      '{"sensor":"s7 \\ud83d","time":"2024-05-01 08:00:07","reading":{"value":1}}',
      // Latin-1, not UTF-8: was stored with U+FFFD in place of the é.
      Buffer.from('{"sensor":"caf\u00e9","time":"2024-05-01 08:00:08","reading":{"value":1}}', 'latin1'),
      // Year 99, which Date.UTC read as 1999.
      '{"sensor":"s10","time":"0099-12-31 23:59:59","reading":{"value":1}}',
    ];
    await produceAll(
      client,
      topic,
      events.map((value, i) => ({ key: `k${i}`, value })),
    );
    ingestion = await startIngestion(projectOf([withMeta]), ctx.engine, kafkaConfig(), {
      kafkaClient: client,
      consumer: { sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1000, maxWaitMs: 100 },
      batch: { maxWaitMs: 100 },
    });
    await waitFor(
      async () => {
        const t = ingestion!.stats().datasources[0]!.totals;
        return t.stored + t.quarantined >= events.length || t;
      },
      30_000,
      'all events handled',
    );
    const good = await ctx.engine.rows(
      'SELECT sensor, toUnixTimestamp(at) AS at, value, unit, tags, __partition AS p, __offset AS o, __key AS k FROM readings ORDER BY sensor',
    );
    expect(good).toEqual([
      { sensor: 's1', at: 1714550400, value: 21.5, unit: 'C', tags: [], p: 0, o: expect.anything(), k: 'k0' },
      {
        sensor: 's2',
        at: 1714550401,
        value: 19,
        unit: 'F',
        tags: ['a', 'b'],
        p: 0,
        o: expect.anything(),
        k: 'k1',
      },
    ]);
    const bad = await ctx.engine.rows<{
      raw: string;
      reason: string;
      columns: string[];
      source: string;
      o: string;
    }>(
      'SELECT raw, reason, columns, source, toString(`offset`) AS o FROM readings_quarantine ORDER BY `offset`',
    );
    expect(bad.map((b) => [b.o, b.columns, b.reason.split('\n')])).toEqual([
      ['2', ['value'], ['value: expected a number (Float64), got string "warm"']],
      ['3', ['at'], ['at: missing, and the column has no default and is not Nullable']],
      ['4', [], [expect.stringMatching(/^event: malformed JSON: /)]],
      [
        '5',
        ['sensor', 'at', 'value', 'unit', 'tags'],
        [
          'sensor: missing, and the column has no default and is not Nullable',
          'at: expected a date and time (YYYY-MM-DD hh:mm:ss, ISO-8601 with Z or an offset, or epoch seconds or milliseconds), got string "tomorrow"',
          'value: expected an object at $.reading, got number 5',
          'unit: expected an object at $.reading, got number 5',
          'tags: expected an array, got string "x"',
        ],
      ],
      ['6', [], ['event: malformed JSON: the event is empty']],
      [
        '7',
        ['sensor'],
        ['sensor: not valid Unicode: a lone surrogate \\ud83d at character 4 (text cut inside a character?)'],
      ],
      [
        '8',
        [],
        [
          `event: the event is not valid UTF-8: byte 15 (0xe9) of ${events[8]!.length}; the raw value here shows U+FFFD in its place, the message at its offset has the bytes`,
        ],
      ],
      [
        '9',
        ['at'],
        [expect.stringMatching(/^at: string "0099-12-31 23:59:59" is out of range for DateTime/)],
      ],
    ]);
    expect(bad[6]!.raw).toBe('{"sensor":"caf\ufffd","time":"2024-05-01 08:00:08","reading":{"value":1}}');
    expect(bad.every((b) => b.source === 'kafka')).toBe(true);
    expect(bad[0]!.raw).toBe(events[2]);
  });

  it('stops gracefully: commits what is in ClickHouse and leaves the group, so a restart starts after it', async () => {
    await ingestion!.stop();
    ingestion = undefined;
    await produceAll(client, topic, [{ value: '{"sensor":"s9","time":1714550400,"reading":{"value":1}}' }]);
    ingestion = await startIngestion(projectOf([withMeta]), ctx.engine, kafkaConfig(), {
      kafkaClient: client,
      consumer: { sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1000, maxWaitMs: 100 },
      batch: { maxWaitMs: 100 },
    });
    await waitFor(async () => ingestion!.stats().datasources[0]!.totals.stored >= 1, 30_000, 'the new event');
    const t = ingestion.stats().datasources[0]!.totals;
    expect(t).toMatchObject({ stored: 1, quarantined: 0, skipped: 0 });
    const [c] = await ctx.engine.rows<{ n: string }>('SELECT toString(count()) AS n FROM readings');
    expect(c!.n).toBe('3');
  });
});

forEachBackend('kafka ingestion, where to start', (ctx) => {
  const topic = uniqueTopic('ingest_latest');
  let client: KafkaClient;
  let ingestion: Ingestion | undefined;
  const ds = dataSource('ticks', [{ name: 'n', type: 'UInt32' }], {
    kafka: {
      topic,
      start: 'latest',
      group: `custom-${topic}`,
      metadata: [],
      loc: { file: 'f', line: 1, col: 1 },
    },
  });

  beforeAll(async () => {
    client = await newClient();
    await client.ensureTopic(topic, 2);
    await createDatasourceTables(ctx.engine, ds, { coordinates: true });
  });

  afterAll(async () => {
    await ingestion?.stop();
    await client?.close();
    await deleteTopics(topic);
  });

  it('start: latest skips what the topic held before the group existed; kafka.group names the group', async () => {
    await produceAll(
      client,
      topic,
      [1, 2, 3].map((n) => ({ value: `{"n":${n}}` })),
    );
    ingestion = await startIngestion(projectOf([ds]), ctx.engine, kafkaConfig(), {
      kafkaClient: client,
      consumer: { sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1000, maxWaitMs: 100 },
      batch: { maxWaitMs: 100 },
    });
    await waitFor(
      async () => ingestion!.stats().datasources[0]!.kafka!.assigned.length === 2,
      30_000,
      'assignment',
    );
    expect(ingestion.stats().datasources[0]!.kafka!.group).toBe(`custom-${topic}`);
    expect(ingestion.stats().datasources[0]!.identity).toBe('coordinates');
    await new Promise((r) => setTimeout(r, 500));
    await produceAll(
      client,
      topic,
      [4, 5].map((n) => ({ value: `{"n":${n}}` })),
    );
    await waitFor(
      async () => ingestion!.stats().datasources[0]!.totals.stored >= 2,
      30_000,
      'the new events',
    );
    const rows = await ctx.engine.rows<{ n: number }>('SELECT n FROM ticks ORDER BY n');
    expect(rows.map((r) => r.n)).toEqual([4, 5]);
  });
});
