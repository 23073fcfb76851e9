import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const written: string[] = [];

/** Writes `files` (relative path -> text) into a fresh temp folder and returns its path. */
export function writeProject(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tally-project-'));
  written.push(dir);
  for (const [rel, text] of Object.entries(files)) {
    const path = join(dir, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
  return dir;
}

/** Removes every folder writeProject made (call from afterAll). */
export function removeProjects(): void {
  for (const dir of written.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** The example files of DESIGN.md, exactly as written there, plus the snapshot data source they need. */
export const DESIGN_FILES: Record<string, string> = {
  'datasources/transactions.datasource.yaml': `# datasources/transactions.datasource.yaml
description: Every bank transaction, as it happened. Never updated, only appended.
source:
  kafka: { topic: transactions, start: earliest }   # omit to ingest via the HTTP events API only
columns:
  - { name: transaction_id, type: String,         json: $.transaction_id }
  - { name: timestamp,      type: DateTime,       json: $.timestamp }
  - { name: account_id,     type: String,         json: $.account_id }
  - { name: type,           type: String,         json: $.type }
  - { name: amount,         type: Decimal(18, 2), json: $.amount }
  - { name: currency,       type: String,         json: $.currency, default: USD }
  - { name: merchant,       type: Nullable(String), json: $.merchant }
engine:
  type: ReplacingMergeTree
  sorting_key: [account_id, timestamp, transaction_id]
  partition_key: toYYYYMM(timestamp)
dedup_key: transaction_id          # the same event delivered twice is stored once
`,
  'datasources/account_balances.datasource.yaml': `description: Current balance of each account, kept by pipes/account_balances.pipe.yaml
columns:
  - { name: account_id, type: String }
  - { name: balance,    type: AggregateFunction(sum, Decimal(18, 2)) }
  - { name: updated_at, type: AggregateFunction(max, DateTime) }
engine:
  type: AggregatingMergeTree
  sorting_key: account_id
`,
  'pipes/account_balances.pipe.yaml': `# pipes/account_balances.pipe.yaml  (materialized: the snapshot)
nodes:
  - name: balances
    sql: |
      SELECT account_id, sumState(amount) AS balance, maxState(timestamp) AS updated_at
      FROM transactions GROUP BY account_id
materialize: { to: account_balances }     # a data source with an AggregatingMergeTree engine
`,
  'pipes/balance.pipe.yaml': `# pipes/balance.pipe.yaml  (read by an endpoint)
params:
  account_id: { type: String, required: true, description: The account }
  as_of:      { type: DateTime, description: Balance at this instant; default now }
nodes:
  - name: movements
    sql: |
      SELECT account_id, amount FROM transactions
      WHERE account_id = {{ account_id }}
      {% if defined(as_of) %} AND timestamp <= {{ as_of }} {% end %}
  - name: balance
    sql: SELECT account_id, sum(amount) AS balance FROM movements GROUP BY account_id
`,
  'endpoints/balance.endpoint.yaml': `# endpoints/balance.endpoint.yaml
pipe: balance
description: Balance of one account, now or at any past instant
token: read              # which token scope may call it; omit for public in dev
cache: 2s
max_staleness: 30s       # answer 503 rather than serve data older than this
`,
};
