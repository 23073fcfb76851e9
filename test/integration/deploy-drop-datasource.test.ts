/**
 * A data source dropped by deploy takes its dedup keys and marking views with it: created again
 * under the same name, it stores the events sent to it again (before, every one was dropped as
 * a duplicate of a row that no longer existed).
 */
import { afterAll, expect, it } from 'vitest';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import { startIngestion } from '../../src/ingest/ingestion.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { forEachBackend } from '../support/backends.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

afterAll(removeProjects);

const KEEP = {
  'tally.yaml': 'name: drop-ds-test\n',
  'datasources/other.datasource.yaml':
    'columns:\n  - { name: id, type: String }\nengine: { sorting_key: [id] }\n',
};
const WITH_EVENTS = {
  ...KEEP,
  'datasources/events.datasource.yaml': [
    'columns:',
    '  - { name: id, type: String, json: $.id }',
    '  - { name: n, type: Int64, json: $.n }',
    'engine: { sorting_key: [id] }',
    'dedup_key: id',
  ].join('\n'),
};
const EVENTS = ['{"id":"a","n":1}', '{"id":"b","n":2}', '{"id":"c","n":3}'];

forEachBackend('a data source dropped and created again', (ctx) => {
  it('stores the events sent before again, and no tally_seen_ table or view of it is left between', async () => {
    const append = async (files: Record<string, string>) => {
      const project = loadProjectOrThrow(writeProject(files), { env: {} });
      expect((await applyDeploy(project, ctx.engine, { allowDestructive: true })).error).toBeUndefined();
      const ingestion = await startIngestion(project, ctx.engine, undefined, { consume: false });
      try {
        return await ingestion.append('events', EVENTS, { requestId: 'r' });
      } finally {
        await ingestion.stop();
      }
    };
    const tallyOf = async () =>
      (
        await ctx.engine.rows<{ name: string }>(
          `SELECT name FROM system.tables WHERE database = '${ctx.database}' AND (name LIKE 'tally\\_seen\\_events%' OR name LIKE 'tally\\_wm%events%' OR name LIKE 'tally\\_probe\\_events%') ORDER BY name`,
        )
      ).map((r) => r.name);

    expect(await append(WITH_EVENTS)).toMatchObject({ successful_rows: 3, duplicate_rows: 0 });
    expect(await tallyOf()).toContain('tally_seen_events');

    const dropped = await applyDeploy(loadProjectOrThrow(writeProject(KEEP), { env: {} }), ctx.engine, {
      allowDestructive: true,
    });
    expect(dropped.error).toBeUndefined();
    expect(await tallyOf()).toEqual([]);

    expect(await append(WITH_EVENTS)).toMatchObject({ successful_rows: 3, duplicate_rows: 0 });
    const rows = await ctx.engine.rows<{ c: string | number }>('SELECT count() AS c FROM events');
    expect(Number(rows[0]!.c)).toBe(3);
    // And dedup still works on the new one.
    expect(await append(WITH_EVENTS)).toMatchObject({ successful_rows: 0, duplicate_rows: 3 });
  });
});
