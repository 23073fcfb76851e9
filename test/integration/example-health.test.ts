/**
 * `/health` of the example project as it is served: `ok`, with every data source that takes
 * events listed as taking them. Its snapshot tables (aggregate states, filled by materialized
 * pipes) take no events by design and are not listed: a load balancer must be able to see `ok`.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { isAggregateState } from '../../src/project/parse-type.ts';
import type { Runtime } from '../../src/runtime/runtime.ts';
import { forEachBackend } from '../support/backends.ts';
import { copyExample } from '../support/example-copy.ts';
import { serveDeployed } from '../support/serve-deployed.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

afterAll(removeProjects);

interface Health {
  status: string;
  ingest?: { ok: boolean; datasources: Record<string, { taking_events: boolean; error?: string }> };
}

forEachBackend('the example project on /health', (ctx) => {
  let runtime: Runtime;
  let url: string;
  let project: ReturnType<typeof loadProjectOrThrow>;

  beforeAll(async () => {
    project = loadProjectOrThrow(copyExample(writeProject({})), { env: {} });
    ({ runtime, url } = await serveDeployed(project, ctx.engine));
  });
  afterAll(async () => {
    await runtime?.stop();
  });

  it('is ok; the data sources that take events are listed, the snapshot tables are not', async () => {
    const res = await fetch(`${url}/health`);
    expect(res.status).toBe(200);
    const h = (await res.json()) as Health;
    const snapshots = [...project.datasources.values()]
      .filter((ds) => ds.columns.some((c) => isAggregateState(c.type)))
      .map((ds) => ds.name);
    const takers = [...project.datasources.keys()].filter((n) => !snapshots.includes(n));
    expect(snapshots).toContain('account_balances');
    expect(h.status, JSON.stringify(h)).toBe('ok');
    expect(Object.keys(h.ingest!.datasources).sort()).toEqual(takers.sort());
    for (const name of takers) expect(h.ingest!.datasources[name]).toEqual({ taking_events: true });
  });
});
