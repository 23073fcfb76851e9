/**
 * A process still running the old dedup_key after another one started with a new key (a rolling
 * restart) computes keys that the seen table no longer holds: it refuses to store instead of
 * storing duplicates that the views count twice; the process on the new key drops them.
 */
import { afterAll, expect, it } from 'vitest';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import { startIngestion } from '../../src/ingest/ingestion.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { forEachBackend } from '../support/backends.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

afterAll(removeProjects);

const keyed = (key: string) =>
  loadProjectOrThrow(
    writeProject({
      'tally.yaml': 'name: key-change-test\n',
      'datasources/tx.datasource.yaml': [
        'columns:',
        '  - { name: id, type: String, json: $.id }',
        '  - { name: n, type: Int64, json: $.n }',
        'engine: { sorting_key: [id] }',
        `dedup_key: ${key}`,
      ].join('\n'),
    }),
    { env: {} },
  );
const EVENTS = ['{"id":"a","n":1}', '{"id":"b","n":2}'];
const OPTS = { consume: false, retryInitialMs: 10, retryMaxMs: 20 };

forEachBackend('a dedup_key changed under a running process', (ctx) => {
  it('the old process refuses to store, naming the change; the new one drops the duplicates', async () => {
    const before = keyed('id');
    expect((await applyDeploy(before, ctx.engine)).error).toBeUndefined();
    const old = await startIngestion(before, ctx.engine, undefined, OPTS);
    try {
      expect(await old.append('tx', EVENTS, { requestId: 'r1' })).toMatchObject({ successful_rows: 2 });

      const after = keyed('[id, n]');
      expect((await applyDeploy(after, ctx.engine)).error).toBeUndefined();
      const fresh = await startIngestion(after, ctx.engine, undefined, OPTS);
      try {
        const refused = await old.append('tx', EVENTS, { requestId: 'r2' }).then(
          () => undefined,
          (err: unknown) => err as Error,
        );
        expect(refused?.message).toMatch(
          /data source tx: its seen keys are no longer written as this process computes them/,
        );
        expect(await fresh.append('tx', EVENTS, { requestId: 'r3' })).toMatchObject({
          successful_rows: 0,
          duplicate_rows: 2,
        });
        const rows = await ctx.engine.rows<{ c: string | number }>('SELECT count() AS c FROM tx');
        expect(Number(rows[0]!.c)).toBe(2);
      } finally {
        await fresh.stop();
      }
    } finally {
      await old.stop({ graceMs: 100 });
    }
  });
});
