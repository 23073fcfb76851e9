/**
 * The text of JSON and NDJSON answers on both back ends: `/` written as it is (ClickHouse
 * escapes it as `\/` by default), unless the endpoint's `settings` ask for the escaping back.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { createApp } from '../../src/server/create-app.ts';
import { StateHolder } from '../../src/server/serving-state.ts';
import { forEachBackend } from '../support/backends.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

const FILES: Record<string, string> = {
  'tally.yaml': 'name: json-text-test\n',
  'datasources/pages.datasource.yaml':
    'columns:\n  - { name: url, type: String }\nengine: { sorting_key: [url] }\n',
  'pipes/urls.pipe.yaml': 'nodes:\n  - name: q\n    sql: SELECT url FROM pages ORDER BY url\n',
  'endpoints/urls.endpoint.yaml': 'pipe: urls\n',
  'endpoints/urls_escaped.endpoint.yaml':
    'pipe: urls\nsettings: { output_format_json_escape_forward_slashes: 1 }\n',
};

afterAll(removeProjects);

forEachBackend('JSON answer text', (ctx) => {
  let app: ReturnType<typeof createApp>;
  beforeAll(async () => {
    const project = loadProjectOrThrow(writeProject(FILES), { env: {} });
    const deployed = await applyDeploy(project, ctx.engine);
    expect(deployed.ok, deployed.error).toBe(true);
    await ctx.engine.insert('pages', [{ url: 'https://shop.example/popular' }]);
    app = createApp({ state: new StateHolder({ project, engine: ctx.engine, version: 'v1' }), tokens: [] });
  });

  it('writes / as it is in JSON and NDJSON', async () => {
    const json = await (await app.request('/v0/pipes/urls.json')).text();
    expect(json).toContain('"url": "https://shop.example/popular"');
    const ndjson = await (await app.request('/v0/pipes/urls.ndjson')).text();
    expect(ndjson.trim()).toBe('{"url":"https://shop.example/popular"}');
  });

  it("an endpoint's settings may ask for ClickHouse's escaping; the parsed value is the same", async () => {
    const text = await (await app.request('/v0/pipes/urls_escaped.json')).text();
    expect(text).toContain('"url": "https:\\/\\/shop.example\\/popular"');
    expect((JSON.parse(text) as { data: unknown[] }).data).toEqual([{ url: 'https://shop.example/popular' }]);
  });
});
