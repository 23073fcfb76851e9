/**
 * The two data sources the Kafka exactly-once suites consume from one topic: `tx` (identity: its
 * dedup key `id`) and `raw` (identity: the Kafka coordinates, which its table must store).
 */
import type { Engine } from '../../src/clickhouse/engine.ts';
import type { DataSource } from '../../src/project/model.ts';
import { dataSource } from '../unit/ingest/type-node.ts';

export function txDatasources(
  topic: string,
  txEngine?: DataSource['engine'],
): { tx: DataSource; raw: DataSource } {
  const kafka = { topic, start: 'earliest' as const, metadata: [], loc: { file: 'f', line: 1, col: 1 } };
  const tx = dataSource(
    'tx',
    [
      { name: 'id', type: 'String' },
      { name: 'ts', type: 'DateTime' },
      { name: 'account', type: 'String' },
      { name: 'amount', type: 'Decimal(18, 2)' },
    ],
    { dedupKey: ['id'], kafka, ...(txEngine ? { engine: txEngine } : {}) },
  );
  return { tx, raw: dataSource('raw', [{ name: 'id', type: 'String' }], { kafka }) };
}

/** The amount of event `i` of `txEvent`: -20 to 29. */
export function txAmount(i: number): number {
  return (i % 50) - 20;
}

/** Event `i` for `tx` and `raw`: id `ev-i`, an hour apart from 2024-01-01, over 7 accounts. */
export function txEvent(i: number): string {
  return JSON.stringify({
    id: `ev-${i}`,
    ts: 1704067200 + i * 3600,
    account: `acct-${i % 7}`,
    amount: txAmount(i),
  });
}

/** `balances` per account (sum of `amount`, count), counted from `source` by `balances_mv`. */
export async function createBalances(engine: Engine, source = 'tx'): Promise<void> {
  await engine.command(
    'CREATE TABLE balances (account String, total AggregateFunction(sum, Decimal(18, 2)), n AggregateFunction(count)) ENGINE = AggregatingMergeTree ORDER BY account',
  );
  await engine.command(
    `CREATE MATERIALIZED VIEW balances_mv TO balances AS SELECT account, sumState(amount) AS total, countState() AS n FROM ${source} GROUP BY account`,
  );
}
