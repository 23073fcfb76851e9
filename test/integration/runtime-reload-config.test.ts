/**
 * tally.yaml edited while Tally runs (`tally dev` reloads through Runtime.reload): tokens added,
 * changed or removed guard the very next request, on every route; sections read only at start
 * (server, clickhouse, kafka, ingest) are named as such instead of passing for applied; events
 * posted while a reload rebuilds the ingestion wait for the new one instead of a 503.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { Runtime } from '../../src/runtime/runtime.ts';
import { forEachBackend } from '../support/backends.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

afterAll(removeProjects);

const FILES: Record<string, string> = {
  'tally.yaml': 'name: reload-config-test\n',
  'datasources/events.datasource.yaml':
    'columns:\n  - { name: id, type: String }\n  - { name: n, type: UInt64 }\nengine: { sorting_key: [id] }\n',
  'pipes/all.pipe.yaml': 'nodes:\n  - name: q\n    sql: SELECT id, n FROM events ORDER BY id\n',
  'endpoints/all.endpoint.yaml': 'pipe: all\n',
};

const WITH_TOKENS = [
  'name: reload-config-test',
  'tokens:',
  '  ops: { token: admin-secret-7, scope: admin }',
  '  app: { token: read-secret-7, scope: read }',
  '  feed: { token: append-secret-7, scope: append, datasources: [events] }',
  '',
].join('\n');

forEachBackend('reloading tally.yaml', (ctx) => {
  let gate: Promise<void> | undefined;
  let dir: string;
  let runtime: Runtime;
  let url: string;

  beforeAll(async () => {
    dir = writeProject(FILES);
    const project = loadProjectOrThrow(dir, { env: {} });
    const deployed = await applyDeploy(project, ctx.engine);
    expect(deployed.ok, deployed.error).toBe(true);
    runtime = new Runtime({
      engine: ctx.engine,
      project,
      port: 0,
      host: '127.0.0.1',
      engineRoute: true,
      // Runs as each ingestion starts: a test holds a rebuild here to post into its middle.
      prepareTopics: async () => {
        await gate;
      },
    });
    url = (await runtime.start()).url;
  });
  afterAll(async () => {
    await runtime?.stop();
  });

  const get = (path: string, token?: string) =>
    fetch(url + path, token ? { headers: { authorization: `Bearer ${token}` } } : {}).then((r) => r.status);
  const post = (token?: string) =>
    fetch(`${url}/v0/events?name=events&wait=true`, {
      method: 'POST',
      body: '{"id":"a","n":1}\n',
      ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
    }).then((r) => r.status);
  const reload = async (yaml: string) => {
    writeFileSync(join(dir, 'tally.yaml'), yaml);
    const r = await runtime.reload({});
    expect(r.applied, JSON.stringify(r.problems)).toBe(true);
    return r;
  };

  it('tokens added while running guard the next request on every route', async () => {
    expect(await get('/v0/pipes/all.json')).toBe(200);
    const r = await reload(WITH_TOKENS);
    expect(r.restartNeeded).toEqual([]);
    expect(await get('/v0/pipes/all.json')).toBe(401);
    expect(await get('/v0/pipes/all.json', 'wrong')).toBe(401);
    expect(await get('/v0/pipes/all.json', 'read-secret-7')).toBe(200);
    expect(await get('/metrics', 'read-secret-7')).toBe(403);
    expect(await get('/metrics', 'admin-secret-7')).toBe(200);
    expect(await get('/v0/openapi.json')).toBe(401);
    expect(await post('read-secret-7')).toBe(403);
    expect(await post('append-secret-7')).toBe(200);
    // dev's engine route needs the folder's secret, not a token: on the embedded engine only.
    expect(await get('/v0/_tally/engine', 'admin-secret-7')).toBe(ctx.backend === 'embedded' ? 403 : 404);
  });

  it('a runtime without the engine route (tally serve) has no such route', async () => {
    const serve = new Runtime({
      engine: ctx.engine,
      project: loadProjectOrThrow(dir, { env: {} }),
      port: 0,
      host: '127.0.0.1',
    });
    const at = (await serve.start()).url;
    try {
      const res = await fetch(`${at}/v0/_tally/query`, {
        method: 'POST',
        body: '{"sql":"SELECT 1","format":"JSON"}',
      });
      expect(res.status).toBe(404);
    } finally {
      await serve.stop();
    }
  });

  it('a token changed or removed stops working at once; no tokens at all is public again', async () => {
    await reload(WITH_TOKENS.replace('read-secret-7', 'read-secret-8'));
    expect(await get('/v0/pipes/all.json', 'read-secret-7')).toBe(401);
    expect(await get('/v0/pipes/all.json', 'read-secret-8')).toBe(200);
    await reload(FILES['tally.yaml']!);
    expect(await get('/v0/pipes/all.json')).toBe(200);
  });

  it('sections read only at start are named, not passed off as applied', async () => {
    const r = await reload(`${FILES['tally.yaml']}server: { port: 7999 }\ningest: { flush_rows: 500 }\n`);
    expect(r.restartNeeded).toEqual(['server', 'ingest']);
    // Still served where it started.
    expect(await get('/v0/pipes/all.json')).toBe(200);
    // Still not applied, so still said.
    const again = await reload(`${FILES['tally.yaml']}server: { port: 7999 }\ningest: { flush_rows: 500 }\n`);
    expect(again.restartNeeded).toEqual(['server', 'ingest']);
    expect((await reload(FILES['tally.yaml']!)).restartNeeded).toEqual([]);
  });

  it('an event posted while a reload rebuilds the ingestion (a data source added) waits for it, and is stored', async () => {
    writeFileSync(
      join(dir, 'datasources/more.datasource.yaml'),
      'columns:\n  - { name: id, type: String }\nengine: { sorting_key: [id] }\n',
    );
    let release = () => {};
    gate = new Promise<void>((r) => {
      release = r;
    });
    const reloading = runtime.reload({});
    // Held in the rebuild: the old ingestion is gone, the new one is not up.
    for (let i = 0; runtime.ingest !== undefined; i++) {
      if (i > 500) throw new Error('the reload never reached the rebuild');
      await new Promise((r) => setTimeout(r, 10));
    }
    const posted = fetch(`${url}/v0/events?name=events&wait=true`, {
      method: 'POST',
      body: '{"id":"during-reload","n":1}\n',
    });
    await new Promise((r) => setTimeout(r, 100));
    gate = undefined;
    release();
    const answer = await posted;
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ successful_rows: 1 });
    expect((await reloading).applied).toBe(true);
    const [row] = await ctx.engine.rows<{ n: string | number }>(
      `SELECT count() AS n FROM ${ctx.engine.database}.events WHERE id = 'during-reload'`,
    );
    expect(Number(row?.n)).toBe(1);
  });
});
