/**
 * The files of a new project (`tally init`): one data source, one pipe, one endpoint, one test,
 * one fixture, and tally.yaml. Small on purpose, and complete: `tally check`, `tally test` and
 * `tally dev` work on it as written, so a user starts from something that runs.
 */

/** Relative path -> text. */
export function scaffoldFiles(name: string): Record<string, string> {
  return {
    'tally.yaml': `# Settings of this Tally project. Every key: docs/reference/tally-yaml.md
# No clickhouse url: Tally runs the embedded ClickHouse (chDB), data under .tally/chdb/.
# Use a server with \`clickhouse: { url: http://127.0.0.1:8123 }\` or TALLY_CLICKHOUSE_URL.
name: ${name}
description: A new Tally project
`,
    '.gitignore': '.tally/\nnode_modules/\n',
    'datasources/events.datasource.yaml': `# The event log: every event as it happened, appended, never updated.
# Feed it with \`tally append events --file events.ndjson\`, POST /v0/events?name=events, or
# Kafka: add \`source: { kafka: { topic: events } }\`.
description: What each user did, one row per event
columns:
  - { name: event_id,  type: String,           json: $.event_id }
  - { name: timestamp, type: DateTime,         json: $.timestamp }
  - { name: user_id,   type: String,           json: $.user_id }
  - { name: action,    type: String,           json: $.action }
  - { name: amount,    type: "Decimal(18, 2)", json: $.amount, default: 0 }
engine:
  type: ReplacingMergeTree
  sorting_key: [user_id, timestamp, event_id]
dedup_key: event_id     # the same event delivered twice is stored once
`,
    'pipes/user_totals.pipe.yaml': `# Current state is the fold of the events: a user's totals now, or as of any past instant.
description: One user's number of events, total amount and last activity
params:
  user_id: { type: String, required: true, description: "The user, e.g. u1" }
  as_of:   { type: DateTime, description: "Totals as of this instant (UTC); default: now" }
nodes:
  - name: user_events
    sql: |
      SELECT user_id, action, amount, timestamp
      FROM events FINAL
      WHERE user_id = {{ user_id }}
      {% if defined(as_of) %} AND timestamp <= {{ as_of }} {% end %}
  - name: totals
    sql: |
      SELECT user_id, count() AS events, sum(amount) AS total, max(timestamp) AS last_seen
      FROM user_events
      GROUP BY user_id
`,
    'endpoints/user_totals.endpoint.yaml': `# Served at GET /v0/pipes/user_totals.json?user_id=u1
pipe: user_totals
description: One user's totals, now or as of an instant
cache: 2s
`,
    'endpoints/user_totals.test.yaml': `# Tests of the user_totals endpoint (named after this file), run by \`tally test\` on the
# events in fixtures/. Format: docs/testing.md
- name: totals of u1 now (the event delivered twice counts once)
  params: { user_id: u1 }
  expected:
    rows:
      - { user_id: u1, events: 3, total: 57.5, last_seen: "2024-03-02 09:30:00" }

- name: totals of u1 as of March 1
  params: { user_id: u1, as_of: "2024-03-01 23:59:59" }
  expected:
    rows:
      - { user_id: u1, events: 2, total: 42.5, last_seen: "2024-03-01 12:00:00" }

- name: user_id is required
  expected:
    status: 400
    error: user_id
`,
    'fixtures/events.ndjson': `${[
      '{"event_id":"e1","timestamp":"2024-03-01 10:00:00","user_id":"u1","action":"purchase","amount":30.00}',
      '{"event_id":"e2","timestamp":"2024-03-01 11:00:00","user_id":"u2","action":"signup"}',
      '{"event_id":"e3","timestamp":"2024-03-01 12:00:00","user_id":"u1","action":"purchase","amount":12.50}',
      '{"event_id":"e3","timestamp":"2024-03-01 12:00:00","user_id":"u1","action":"purchase","amount":12.50}',
      '{"event_id":"e4","timestamp":"2024-03-02 09:30:00","user_id":"u1","action":"purchase","amount":15.00}',
      '{"event_id":"e5","timestamp":"2024-03-02 10:00:00","user_id":"u2","action":"purchase","amount":99.99}',
    ].join('\n')}\n`,
  };
}
