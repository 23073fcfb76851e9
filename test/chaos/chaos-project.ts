// The small project the chaos run serves: one Kafka-fed event log with a dedup key, a
// materialized snapshot of per-account totals, and two endpoints (snapshot and raw log).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface ChaosProjectOptions {
  clickhouseUrl: string;
  database: string;
  topic: string;
  brokers: string;
}

export function writeChaosProject(o: ChaosProjectOptions): string {
  const dir = mkdtempSync(join(tmpdir(), 'tally-chaos-'));
  const files: Record<string, string> = {
    'tally.yaml': [
      'name: chaos',
      `clickhouse: { url: "${o.clickhouseUrl}", database: ${o.database} }`,
      `kafka: { brokers: ["${o.brokers}"] }`,
      '',
    ].join('\n'),
    'datasources/ledger.datasource.yaml': [
      'description: Money movements; the chaos run checks every one is stored exactly once.',
      'source:',
      `  kafka: { topic: ${o.topic}, start: earliest }`,
      'columns:',
      '  - { name: id,      type: String }',
      '  - { name: account, type: String }',
      '  - { name: amount,  type: Int64 }',
      '  - { name: ts,      type: DateTime }',
      'engine:',
      '  type: MergeTree',
      '  sorting_key: [account, id]',
      'dedup_key: id',
      '',
    ].join('\n'),
    'datasources/ledger_totals.datasource.yaml': [
      'columns:',
      '  - { name: account, type: String }',
      '  - { name: total,   type: "AggregateFunction(sum, Int64)" }',
      '  - { name: n,       type: "AggregateFunction(sum, UInt64)" }',
      'engine:',
      '  type: AggregatingMergeTree',
      '  sorting_key: [account]',
      '',
    ].join('\n'),
    'pipes/ledger_totals_mv.pipe.yaml': [
      'nodes:',
      '  - name: totals',
      '    sql: |',
      '      SELECT account, sumState(amount) AS total, sumState(toUInt64(1)) AS n',
      '      FROM ledger GROUP BY account',
      'materialize: { to: ledger_totals }',
      '',
    ].join('\n'),
    'pipes/totals.pipe.yaml': [
      'params:',
      '  account: { type: String }',
      'nodes:',
      '  - name: t',
      '    sql: |',
      '      SELECT account, sumMerge(total) AS total, sumMerge(n) AS n FROM ledger_totals',
      '      {% if defined(account) %} WHERE account = {{ account }} {% end %}',
      '      GROUP BY account ORDER BY account',
      '',
    ].join('\n'),
    'pipes/raw_totals.pipe.yaml': [
      'nodes:',
      '  - name: t',
      '    sql: |',
      '      SELECT account, sum(amount) AS total, count() AS n FROM ledger',
      '      GROUP BY account ORDER BY account',
      '',
    ].join('\n'),
    'endpoints/totals.endpoint.yaml': 'pipe: totals\n',
    'endpoints/raw_totals.endpoint.yaml': 'pipe: raw_totals\n',
  };
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  return dir;
}
