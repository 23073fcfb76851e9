import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { analyseProjectSql } from '../../src/cli/commands/check-sql.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { forEachBackend } from '../support/backends.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

const REPO = join(import.meta.dirname, '..', '..');

afterAll(removeProjects);

forEachBackend('tally check --sql', (ctx) => {
  it('finds nothing wrong in the example project on this server', async () => {
    const project = loadProjectOrThrow(REPO, { env: {} });
    expect(await analyseProjectSql(project, ctx.engine)).toEqual([]);
  });

  it('maps a refusal by ClickHouse to the node file and the line of the bad column', async () => {
    const dir = writeProject({
      'datasources/events.datasource.yaml': [
        'columns:',
        '  - { name: id, type: String }',
        '  - { name: at, type: DateTime }',
        'engine: { sorting_key: [id] }',
      ].join('\n'),
      'pipes/recent.pipe.yaml': [
        'nodes:',
        '  - name: recent',
        '    sql: |',
        '      SELECT id,',
        '             amount_cents',
        '      FROM events',
      ].join('\n'),
    });
    const project = loadProjectOrThrow(dir, { env: {} });
    const problems = await analyseProjectSql(project, ctx.engine);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({
      severity: 'error',
      code: 'clickhouse-refused',
      location: { file: 'pipes/recent.pipe.yaml', line: 5, col: 14 },
      message: expect.stringMatching(/refused node `recent` of pipe `recent`: .*amount_cents/),
    });
    // the scratch database is gone afterwards
    const left = await ctx.engine.rows<{ name: string }>(
      "SELECT name FROM system.databases WHERE name LIKE 'tally_check_%'",
    );
    expect(left).toEqual([]);
  });
});
