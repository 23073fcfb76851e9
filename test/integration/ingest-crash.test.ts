/**
 * Exactly-once under crashes: the ingester runs in a child process that is killed with SIGKILL
 * three times while events stream in; after the last restart the stored state must equal the
 * expectation computed from what was produced.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { quoteIdent } from '../../src/clickhouse/create-engine.ts';
import { QUARANTINE_COLUMNS } from '../../src/clickhouse/quarantine-schema.ts';
import type { KafkaClient } from '../../src/ingest/kafka-client.ts';
import { BACKENDS, scratchDatabase } from '../support/backends.ts';
import {
  deleteTopics,
  endOffsets,
  kafkaConfig,
  newClient,
  produceAll,
  uniqueTopic,
} from '../support/ingest-kafka.ts';
import { caughtUp, spawnIngester } from '../support/ingest-processes.ts';
import { txDatasources } from '../support/tx-datasources.ts';

const N = 200_000;
const RESENT = 20_000;
const PARTITIONS = 4;

function event(i: number): string {
  return JSON.stringify({
    id: `e${i}`,
    ts: 1704067200 + (i % 86_400) * 30,
    account: `a${i % 101}`,
    amount: ((i % 997) - 400) / 100,
  });
}

/** The SQL deploy would run, for the child to run (the embedded engine is the child's own). */
function setupSql(db: string): string[] {
  const q = (c: (typeof QUARANTINE_COLUMNS)[number]) => `${quoteIdent(c.name)} ${c.type}`;
  const d = quoteIdent(db);
  return [
    `CREATE TABLE IF NOT EXISTS ${d}.tx (id String, ts DateTime, account String, amount Decimal(18, 2)) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(ts) ORDER BY id`,
    `CREATE TABLE IF NOT EXISTS ${d}.tx_quarantine (${QUARANTINE_COLUMNS.map(q).join(', ')}) ENGINE = MergeTree ORDER BY received_at`,
    `CREATE TABLE IF NOT EXISTS ${d}.balances (account String, total AggregateFunction(sum, Decimal(18, 2)), n AggregateFunction(count)) ENGINE = AggregatingMergeTree ORDER BY account`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${d}.balances_mv TO ${d}.balances AS SELECT account, sumState(amount) AS total, countState() AS n FROM ${d}.tx GROUP BY account`,
    `CREATE TABLE IF NOT EXISTS ${d}.raw (id String, __partition Int32 DEFAULT -1, __offset Int64 DEFAULT -1) ENGINE = MergeTree ORDER BY (__partition, __offset)`,
    `CREATE TABLE IF NOT EXISTS ${d}.raw_quarantine (${QUARANTINE_COLUMNS.map(q).join(', ')}) ENGINE = MergeTree ORDER BY received_at`,
  ];
}

const REPORT = {
  tx: 'SELECT toString(count()) AS n, toString(uniqExact(id)) AS u, toString(sum(amount)) AS s FROM tx',
  txFinal: 'SELECT toString(count()) AS n FROM tx FINAL',
  mv: 'SELECT toString(countMerge(n)) AS n, toString(sumMerge(total)) AS s FROM balances',
  raw: 'SELECT toString(count()) AS n, toString(uniqExact(__partition, __offset)) AS u FROM raw',
  quarantine: 'SELECT toString(count()) AS n FROM tx_quarantine',
  log: 'SELECT datasource, toString(sum(skipped)) AS skipped, toString(sum(duplicates)) AS duplicates FROM tally_ingest_log GROUP BY datasource ORDER BY datasource',
};

describe.each(BACKENDS)('ingester killed with SIGKILL [%s]', (backend) => {
  const db = scratchDatabase('crash');
  // A folder of its own in the system's temp folder, removed by this file.
  const folder = join(
    tmpdir(),
    `tally-ingest-crash-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
  );
  const topic = uniqueTopic('ingest_crash');
  let client: KafkaClient;

  afterAll(async () => {
    await client?.close();
    await deleteTopics(topic);
    if (backend === 'embedded') rmSync(folder, { recursive: true, force: true });
    else
      await fetch(
        `${inject('clickhouseUrl')}/?query=${encodeURIComponent(`DROP DATABASE IF EXISTS ${db}`)}`,
        { method: 'POST' },
      );
  });

  it('three kills during a 200k-event stream (10% re-sent), then restart: the final state is exact', async () => {
    client = await newClient();
    await client.ensureTopic(topic, PARTITIONS);
    const { tx, raw } = txDatasources(topic);
    const clickhouse =
      backend === 'server'
        ? { url: inject('clickhouseUrl'), user: 'default', password: '', database: db, embeddedPath: folder }
        : { user: 'default', password: '', database: db, embeddedPath: folder };
    const input = {
      clickhouse,
      datasources: [tx, raw],
      kafka: kafkaConfig(),
      setup: setupSql(db),
      report: REPORT,
      options: {
        consumer: { sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000, maxWaitMs: 200 },
        batch: { maxRows: 20_000, maxWaitMs: 200 },
      },
    };

    // The stream: N events over ~30 s (each restart waits ~6 s for the dead member's session to
    // expire), then 10% of them again on other partitions.
    let produced = false;
    const stream = (async () => {
      for (let i = 0; i < N; i += 5000) {
        await produceAll(
          client,
          topic,
          Array.from({ length: 5000 }, (_, k) => ({ value: event(i + k) })),
        );
        await new Promise((r) => setTimeout(r, 650));
      }
      await produceAll(
        client,
        topic,
        Array.from({ length: RESENT }, (_, k) => ({
          value: event((k * 7919) % N),
          partition: (k * 31) % PARTITIONS,
        })),
      );
      produced = true;
    })();

    let child = spawnIngester(input);
    for (let kill = 0; kill < 3; kill++) {
      // Let it make progress, then kill it in the middle of whatever it is doing.
      await child.until((s) => s.datasources.every((d) => d.totals.flushes > 0), 60_000, 'progress');
      await new Promise((r) => setTimeout(r, 400 + Math.random() * 1200));
      await child.kill9();
      child = spawnIngester(input);
    }
    await stream;
    expect(produced).toBe(true);
    const ends = await endOffsets(topic);
    await child.until((s) => caughtUp(s, ends), 120_000, 'caught up');
    const report = await child.report();
    // Evidence that the kills left work to redo: ranges skipped as already stored, keys dropped.
    console.log(`[${backend}] ops log after 3 kills: ${JSON.stringify(report.log)}`);

    const total = N + RESENT;
    const sum = Array.from({ length: N }, (_, i) => (i % 997) - 400).reduce((a, b) => a + b, 0) / 100;
    expect(report.tx![0]).toMatchObject({ n: String(N), u: String(N) });
    expect(Number(report.tx![0]!.s)).toBeCloseTo(sum, 2);
    expect(report.txFinal![0]).toEqual({ n: String(N) });
    expect(report.mv![0]!.n).toBe(String(N));
    expect(Number(report.mv![0]!.s)).toBeCloseTo(sum, 2);
    expect(report.raw![0]).toEqual({ n: String(total), u: String(total) });
    expect(report.quarantine![0]).toEqual({ n: '0' });
  });
});
