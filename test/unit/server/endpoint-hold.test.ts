/**
 * `tally dev` holds endpoint answers while it loads fixtures (StateHolder.holdUntil): a request
 * made in that window waits, and only then reaches ClickHouse, so it never sees the tables empty.
 * The engine is a stand-in that counts queries; what is tested is when the query is sent.
 */
import { afterAll, expect, it } from 'vitest';
import { capabilitiesFor } from '../../../src/clickhouse/capabilities.ts';
import type { Engine } from '../../../src/clickhouse/engine.ts';
import { TallyError } from '../../../src/errors.ts';
import { loadProjectOrThrow } from '../../../src/project/load-project.ts';
import { createApp } from '../../../src/server/create-app.ts';
import { StateHolder } from '../../../src/server/serving-state.ts';
import { removeProjects, writeProject } from '../project/write-project.ts';

afterAll(removeProjects);

const project = loadProjectOrThrow(
  writeProject({
    'tally.yaml': 'name: endpoint-hold-test\n',
    'datasources/events.datasource.yaml':
      'columns:\n  - { name: id, type: String }\nengine: { sorting_key: [id] }\n',
    'pipes/all.pipe.yaml': 'nodes:\n  - name: q\n    sql: SELECT id FROM events\n',
    'endpoints/all.endpoint.yaml': 'pipe: all\n',
  }),
  { env: {} },
);

/** An engine whose queries fail as a lost connection does (a 503), counting them. */
function countingEngine(): { engine: Engine; queries: () => number } {
  let n = 0;
  const fail = async () => {
    n++;
    throw new TallyError('clickhouse-unreachable', 'cannot reach ClickHouse: stand-in', { exitCode: 2 });
  };
  const engine = {
    backend: 'server',
    capabilities: capabilitiesFor('18.16.1'),
    database: 'db',
    description: 'stand-in',
    text: fail,
    query: fail,
    rows: async () => [],
    command: async () => {},
    insert: async () => {},
    close: async () => {},
  } as unknown as Engine;
  return { engine, queries: () => n };
}

const tick = () => new Promise((r) => setTimeout(r, 20));

it('a request during the hold waits for it, then runs; later requests do not wait at all', async () => {
  const { engine, queries } = countingEngine();
  const state = new StateHolder({ project, engine, version: 'v1' });
  let release = () => {};
  state.holdUntil(new Promise<void>((r) => (release = r)), 60_000);
  const app = createApp({ state, tokens: [] });

  let settled = false;
  const pending = Promise.resolve(app.request('/v0/pipes/all.json')).then((r) => {
    settled = true;
    return r;
  });
  for (let i = 0; i < 5; i++) await tick();
  expect(settled).toBe(false);
  expect(queries()).toBe(0);
  // Only endpoints wait: /health answers during the hold (it says what is up, data or not).
  expect([200, 503]).toContain((await app.request('/health')).status);
  expect(settled).toBe(false);

  release();
  const res = await pending;
  expect(res.status).toBe(503);
  expect(queries()).toBeGreaterThan(0);
  expect(state.held).toBeUndefined();
  const before = queries();
  expect((await app.request('/v0/pipes/all.json')).status).toBe(503);
  expect(queries()).toBeGreaterThan(before);
});

it('a hold whose work fails, or never ends, lets requests through (at its cap)', async () => {
  const { engine, queries } = countingEngine();
  const state = new StateHolder({ project, engine, version: 'v1' });
  const app = createApp({ state, tokens: [] });

  state.holdUntil(Promise.reject(new Error('fixtures failed')), 60_000);
  expect((await app.request('/v0/pipes/all.json')).status).toBe(503);
  expect(queries()).toBeGreaterThan(0);
  expect(state.held).toBeUndefined();

  state.holdUntil(new Promise(() => {}), 50);
  const n = queries();
  const res = await app.request('/v0/pipes/all.json');
  expect(res.status).toBe(503);
  expect(queries()).toBeGreaterThan(n);
  expect(state.held).toBeUndefined();
});
