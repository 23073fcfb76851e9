/**
 * ClickHouse unreachable while an endpoint runs: a 503 for everyone, and where ClickHouse is (its
 * URL, in the engine's message) only for callers who may see internals, as for a 500. The engine
 * is a stand-in that fails as a lost connection does: what is tested is the answer's wording.
 */
import { afterAll, expect, it } from 'vitest';
import { capabilitiesFor } from '../../../src/clickhouse/capabilities.ts';
import type { Engine } from '../../../src/clickhouse/engine.ts';
import { TallyError } from '../../../src/errors.ts';
import { emptyTotals } from '../../../src/ingest/datasource-sink.ts';
import type { Ingestion } from '../../../src/ingest/ingestion.ts';
import { loadProjectOrThrow } from '../../../src/project/load-project.ts';
import { createApp } from '../../../src/server/create-app.ts';
import { StateHolder } from '../../../src/server/serving-state.ts';
import { removeProjects, writeProject } from '../project/write-project.ts';

afterAll(removeProjects);

const unreachable = () =>
  new TallyError(
    'clickhouse-unreachable',
    'cannot reach ClickHouse at http://10.1.2.3:8123: connect ECONNREFUSED',
    {
      exitCode: 2,
    },
  );

const engine = {
  backend: 'server',
  capabilities: capabilitiesFor('18.16.1'),
  database: 'db',
  description: 'ClickHouse 18.16.1 at http://10.1.2.3:8123',
  text: async () => {
    throw unreachable();
  },
  query: async () => {
    throw unreachable();
  },
  rows: async () => [],
  command: async () => {},
  insert: async () => {},
  close: async () => {},
} as unknown as Engine;

const project = loadProjectOrThrow(
  writeProject({
    'tally.yaml': 'name: unreachable-test\n',
    'datasources/events.datasource.yaml':
      'columns:\n  - { name: id, type: String }\nengine: { sorting_key: [id] }\n',
    'pipes/all.pipe.yaml': 'nodes:\n  - name: q\n    sql: SELECT id FROM events\n',
    'endpoints/all.endpoint.yaml': 'pipe: all\n',
  }),
  { env: {} },
);

it('a read token gets a 503 without the URL; an admin token, or no tokens, gets it', async () => {
  const state = new StateHolder({ project, engine, version: 'v1' });
  const tokens = [
    { name: 'ops', value: 'admin-secret', scope: 'admin' as const },
    { name: 'app', value: 'read-secret', scope: 'read' as const },
  ];
  const app = createApp({ state, tokens });
  const read = await app.request('/v0/pipes/all.json', { headers: { authorization: 'Bearer read-secret' } });
  expect(read.status).toBe(503);
  const body = (await read.json()) as { error: string };
  expect(body.error).toMatch(/^endpoint `all` cannot reach ClickHouse; its message is in the server's log/);
  expect(body.error).not.toContain('10.1.2.3');
  const admin = await app.request('/v0/pipes/all.json', {
    headers: { authorization: 'Bearer admin-secret' },
  });
  expect(((await admin.json()) as { error: string }).error).toContain('http://10.1.2.3:8123');
  const open = await createApp({ state, tokens: [] }).request('/v0/pipes/all.json');
  expect(open.status).toBe(503);
  expect(((await open.json()) as { error: string }).error).toContain('http://10.1.2.3:8123');
});

it('/health names ClickHouse (its URL) only to an admin token or with no tokens; the log has it always', async () => {
  const down = { ...engine, rows: engine.text } as unknown as Engine;
  const state = new StateHolder({ project, engine: down, version: 'v1' });
  const tokens = [
    { name: 'ops', value: 'admin-secret', scope: 'admin' as const },
    { name: 'app', value: 'read-secret', scope: 'read' as const },
  ];
  const lines: Array<Record<string, unknown>> = [];
  const app = createApp({ state, tokens, log: (entry) => lines.push(entry) });
  const callers: Array<Record<string, string>> = [
    {},
    { authorization: 'Bearer read-secret' },
    { authorization: 'Bearer wrong' },
  ];
  for (const headers of callers) {
    const r = await app.request('/health', { headers });
    expect(r.status).toBe(503);
    const body = (await r.json()) as { status: string; clickhouse: { ok: boolean; error: string } };
    expect(body.status).toBe('down');
    expect(body.clickhouse.error).toMatch(/^ClickHouse does not answer; its message is in the server's log/);
    expect(JSON.stringify(body)).not.toContain('10.1.2.3');
    const id = r.headers.get('x-request-id');
    expect(body.clickhouse.error).toContain(`request id ${id}`);
    const logged = lines.find((l) => l.id === id);
    expect(logged?.error).toContain('http://10.1.2.3:8123');
  }
  const admin = await app.request('/health', { headers: { authorization: 'Bearer admin-secret' } });
  expect(((await admin.json()) as { clickhouse: { error: string } }).clickhouse.error).toContain(
    'http://10.1.2.3:8123',
  );
  const open = await createApp({ state, tokens: [] }).request('/health');
  expect(open.status).toBe(503);
  expect(((await open.json()) as { clickhouse: { error: string } }).clickhouse.error).toContain(
    'http://10.1.2.3:8123',
  );
});

it("/health hides a Kafka consumer's error (the broker's address) the same way", async () => {
  const up = { ...engine, rows: async () => [{ ok: 1 }] } as unknown as Engine;
  const state = new StateHolder({ project, engine: up, version: 'v1' });
  const failing = 'Connection error: connect ECONNREFUSED 10.9.8.7:9092';
  const ingestion = () =>
    ({
      stats: () => ({
        datasources: [
          {
            name: 'events',
            totals: emptyTotals(),
            kafka: { topic: 'events', group: 'tally.db.events', state: 'retrying', error: failing },
            groupLag: { topic: 'events', group: 'tally.db.events', partitions: [], error: failing },
          },
        ],
      }),
    }) as unknown as Ingestion;
  const tokens = [
    { name: 'ops', value: 'admin-secret', scope: 'admin' as const },
    { name: 'app', value: 'read-secret', scope: 'read' as const },
  ];
  const lines: Array<Record<string, unknown>> = [];
  const app = createApp({ state, tokens, ingestion, log: (entry) => lines.push(entry) });
  const read = await app.request('/health', { headers: { authorization: 'Bearer read-secret' } });
  expect(read.status).toBe(200);
  const body = (await read.json()) as {
    status: string;
    kafka: { datasources: Record<string, { error: string }> };
  };
  expect(body.status).toBe('degraded');
  expect(body.kafka.datasources.events!.error).toMatch(
    /^the Kafka consumer is failing; its message is in the server's log/,
  );
  expect(JSON.stringify(body)).not.toContain('10.9.8.7');
  const id = read.headers.get('x-request-id');
  expect(lines.find((l) => l.id === id)?.error).toContain(
    'kafka events: Connection error: connect ECONNREFUSED 10.9.8.7:9092',
  );
  const admin = await app.request('/health', { headers: { authorization: 'Bearer admin-secret' } });
  expect(((await admin.json()) as typeof body).kafka.datasources.events!.error).toBe(failing);
});

it('/health is degraded when a data source takes no events or its writes fail, HTTP-only ones included', async () => {
  const up = { ...engine, rows: async () => [{ ok: 1 }] } as unknown as Engine;
  const state = new StateHolder({ project, engine: up, version: 'v1' });
  const failing = 'Unknown identifier: effective_total: while pushing to view db.orders_mv';
  const ingestion = () =>
    ({
      stats: () => ({
        datasources: [
          { name: 'clicks', totals: emptyTotals() },
          {
            name: 'orders',
            totals: { ...emptyTotals(), failingSince: Date.now() - 12_000, lastError: failing },
          },
          {
            name: 'returns',
            totals: emptyTotals(),
            error: 'table `returns` lacks column(s) agent: run `tally deploy`',
          },
        ],
      }),
    }) as unknown as Ingestion;
  const tokens = [
    { name: 'ops', value: 'admin-secret', scope: 'admin' as const },
    { name: 'app', value: 'read-secret', scope: 'read' as const },
  ];
  const app = createApp({ state, tokens, ingestion });
  const admin = await app.request('/health', { headers: { authorization: 'Bearer admin-secret' } });
  expect(admin.status).toBe(200);
  const body = (await admin.json()) as { status: string; ingest: { ok: boolean; datasources: unknown } };
  expect(body.status).toBe('degraded');
  expect(body.ingest).toEqual({
    ok: false,
    datasources: {
      clicks: { taking_events: true },
      orders: { taking_events: true, failing_s: 12, error: failing },
      returns: { taking_events: false, error: 'table `returns` lacks column(s) agent: run `tally deploy`' },
    },
  });
  const read = await app.request('/health', { headers: { authorization: 'Bearer read-secret' } });
  const hidden = (await read.json()) as typeof body & {
    ingest: { datasources: Record<string, { error?: string }> };
  };
  expect(hidden.ingest.datasources.orders!.error).toMatch(
    /^its writes to ClickHouse are failing; its message is in/,
  );
  expect(hidden.ingest.datasources.returns!.error).toMatch(/^it takes no events; its message is in/);

  const fine = () =>
    ({ stats: () => ({ datasources: [{ name: 'clicks', totals: emptyTotals() }] }) }) as unknown as Ingestion;
  const ok = await createApp({ state, tokens: [], ingestion: fine }).request('/health');
  expect(((await ok.json()) as typeof body).status).toBe('ok');
});
