/**
 * Ingestion set up while a deploy holds a data source's table (the name is a gate, or empty, for
 * the milliseconds of the hold): the setup waits the hold out instead of reporting the data
 * source as not deployed.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { applyDeploy, ddlContextFor } from '../../src/deploy/deploy.ts';
import { holdTables } from '../../src/deploy/hold.ts';
import { startIngestion } from '../../src/ingest/ingestion.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import type { Project } from '../../src/project/model.ts';
import { forEachBackend } from '../support/backends.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

afterAll(removeProjects);

forEachBackend('ingestion set up during a deploy hold', (ctx) => {
  let project: Project;

  beforeAll(async () => {
    project = loadProjectOrThrow(
      writeProject({
        'tally.yaml': 'name: hold-setup\n',
        'datasources/events.datasource.yaml': [
          'columns:',
          '  - { name: id, type: String, json: $.id }',
          '  - { name: n, type: UInt32, json: $.n }',
          'engine: { sorting_key: [id] }',
          'dedup_key: id',
        ].join('\n'),
      }),
      { env: {} },
    );
    const deployed = await applyDeploy(project, ctx.engine);
    expect(deployed.ok, deployed.error).toBe(true);
  });

  it('waits for the hold to end, then takes events', async () => {
    const dbEngine = await ctx.engine.rows<{ engine: string }>(
      `SELECT engine FROM system.databases WHERE name = '${ctx.database}'`,
    );
    const hold = await holdTables(ctx.engine, ddlContextFor(project, ctx.engine), ['events'], {
      gate: dbEngine[0]!.engine !== 'Atomic',
    });
    const released = new Promise<void>((resolve, reject) => {
      setTimeout(() => hold.release().then(resolve, reject), 300);
    });
    const ingestion = await startIngestion(project, ctx.engine, undefined);
    try {
      await released;
      expect(ingestion.stats().datasources.find((d) => d.name === 'events')?.error).toBeUndefined();
      expect(ingestion.datasourceNames()).toEqual(['events']);
      const r = await ingestion.append('events', ['{"id":"a","n":1}', '{"id":"b","n":2}'], {
        requestId: 'after-hold',
      });
      expect(r).toMatchObject({ successful_rows: 2, quarantined_rows: 0 });
      const [row] = await ctx.engine.rows<{ n: string }>('SELECT count() AS n FROM events');
      expect(Number(row!.n)).toBe(2);
    } finally {
      await ingestion.stop();
    }
  });
});
