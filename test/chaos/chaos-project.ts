// The small project the chaos run serves: one Kafka-fed event log with a dedup key, a
// materialized snapshot of per-account totals, two endpoints (snapshot and raw log), and three
// check endpoints that count what is stored (the embedded engine's folder can be read only
// through the Tally process that holds it).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface ChaosProjectOptions {
  /** A ClickHouse server; undefined: the embedded engine, its data in the project folder. */
  clickhouseUrl?: string;
  database: string;
  topic: string;
  brokers: string;
  /** Where to create the project folder (default: the system's temporary folder). */
  parent?: string;
}

export function writeChaosProject(o: ChaosProjectOptions): string {
  const parent = o.parent ?? tmpdir();
  mkdirSync(parent, { recursive: true });
  const dir = mkdtempSync(join(parent, 'tally-chaos-'));
  const files: Record<string, string> = {
    'tally.yaml': [
      'name: chaos',
      o.clickhouseUrl
        ? `clickhouse: { url: "${o.clickhouseUrl}", database: ${o.database} }`
        : `clickhouse: { database: ${o.database} }`,
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
    // The chaos run's exactness checks, as endpoints (acct-m is the 4 MB body's, left out).
    'pipes/check_ledger.pipe.yaml': [
      'nodes:',
      '  - name: t',
      '    sql: |',
      "      SELECT toString(countIf(account != 'acct-m')) AS c,",
      "        toString(uniqExactIf(id, account != 'acct-m')) AS u,",
      "        toString(countIf(id NOT LIKE 'e%' AND id != 'big-1' AND account != 'acct-m')) AS foreign,",
      "        toString(countIf(account = 'acct-m')) AS mc,",
      "        toString(uniqExactIf(id, account = 'acct-m')) AS mu",
      '      FROM ledger',
      '',
    ].join('\n'),
    'pipes/check_snapshot.pipe.yaml': [
      'nodes:',
      '  - name: t',
      '    sql: |',
      '      SELECT account, toString(sumMerge(total)) AS s, toString(sumMerge(n)) AS n',
      "      FROM ledger_totals WHERE account != 'acct-m' GROUP BY account",
      '',
    ].join('\n'),
    // The quarantine table is not a data source: read by its database-qualified name.
    'pipes/check_quarantine.pipe.yaml': [
      'nodes:',
      '  - name: t',
      '    sql: |',
      `      SELECT toString(count()) AS n FROM ${o.database}.ledger_quarantine`,
      '',
    ].join('\n'),
    'endpoints/check_ledger.endpoint.yaml': 'pipe: check_ledger\n',
    'endpoints/check_snapshot.endpoint.yaml': 'pipe: check_snapshot\n',
    'endpoints/check_quarantine.endpoint.yaml': 'pipe: check_quarantine\n',
    'endpoints/totals.endpoint.yaml': 'pipe: totals\n',
    'endpoints/raw_totals.endpoint.yaml': 'pipe: raw_totals\n',
  };
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  return dir;
}
