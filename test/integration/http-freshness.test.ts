/**
 * A data source written only through the events API (no Kafka) is current while its writes
 * succeed: an event is acknowledged once stored and nothing waits anywhere. An endpoint with
 * max_staleness reading it answered 503 in quiet periods, by the age of the last batch.
 */
import { afterAll, expect, it } from 'vitest';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { Runtime } from '../../src/runtime/runtime.ts';
import { createApp } from '../../src/server/create-app.ts';
import { FreshnessTracker } from '../../src/server/freshness.ts';
import { StateHolder } from '../../src/server/serving-state.ts';
import { forEachBackend } from '../support/backends.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

afterAll(removeProjects);

forEachBackend('an HTTP-only data source and max_staleness', (ctx) => {
  it('stays fresh in a quiet period; judged by its last batch alone it would be refused', async () => {
    const project = loadProjectOrThrow(
      writeProject({
        'tally.yaml': 'name: http-fresh-test\n',
        'datasources/notes.datasource.yaml':
          'columns:\n  - { name: id, type: String, json: $.id }\nengine: { sorting_key: [id] }\ndedup_key: id\n',
        'pipes/count.pipe.yaml': 'nodes:\n  - name: c\n    sql: SELECT count() AS n FROM notes\n',
        'endpoints/count.endpoint.yaml': 'pipe: count\nmax_staleness: 2s\n',
      }),
      { env: {} },
    );
    expect((await applyDeploy(project, ctx.engine)).error).toBeUndefined();
    const runtime = new Runtime({ engine: ctx.engine, project, port: 0 });
    await runtime.start();
    try {
      const posted = await fetch(`${runtime.url}/v0/events?name=notes&wait=true`, {
        method: 'POST',
        body: '{"id":"a"}\n{"id":"b"}\n',
      });
      expect(posted.status, await posted.clone().text()).toBe(200);
      await new Promise((r) => setTimeout(r, 3_500));

      const res = await fetch(`${runtime.url}/v0/pipes/count.json`);
      expect(res.status, await res.clone().text()).toBe(200);
      expect(res.headers.get('x-tally-freshness')).toBe('0');
      expect(Number(((await res.json()) as { data: Array<{ n: string | number }> }).data[0]!.n)).toBe(2);

      const batchesOnly = createApp({
        state: new StateHolder({ project, engine: ctx.engine, version: 'v1' }),
        tokens: [],
        freshness: new FreshnessTracker({ ttlMs: 0 }),
      });
      expect((await batchesOnly.request('/v0/pipes/count.json')).status).toBe(503);

      // Its writes failing (the table renamed away): current only up to the first failed
      // attempt, so stale once that is older than max_staleness; current again at the next write.
      const post = (body: string) =>
        fetch(`${runtime.url}/v0/events?name=notes&wait=true`, { method: 'POST', body });
      await ctx.engine.command('RENAME TABLE notes TO notes_away');
      const failedAt = Date.now();
      expect((await post('{"id":"c"}\n')).status).toBe(503);
      await ctx.engine.command('RENAME TABLE notes_away TO notes');
      await new Promise((r) => setTimeout(r, Math.max(0, failedAt + 3_200 - Date.now())));
      const stale = await fetch(`${runtime.url}/v0/pipes/count.json`);
      expect(stale.status, await stale.clone().text()).toBe(503);
      expect(Number(stale.headers.get('x-tally-freshness'))).toBeGreaterThan(2);
      expect((await post('{"id":"d"}\n')).status).toBe(200);
      const again = await fetch(`${runtime.url}/v0/pipes/count.json`);
      expect(again.status, await again.clone().text()).toBe(200);
      expect(again.headers.get('x-tally-freshness')).toBe('0');
    } finally {
      await runtime.stop();
    }
  });
});
