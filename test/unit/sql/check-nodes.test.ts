import { expect, it } from 'vitest';
import { capabilitiesFor } from '../../../src/clickhouse/capabilities.ts';
import type { Engine } from '../../../src/clickhouse/engine.ts';
import type { DataSource, Project } from '../../../src/project/model.ts';
import { checkPipeNodes } from '../../../src/sql/check-nodes.ts';
import { node, param, pipe, tpl, ty } from './helpers.ts';

// What ClickHouse is asked is beside the point here: a node that does not compile is reported
// before anything is sent, located, and once for the nodes that read it.
it('a node that does not compile is a located problem, once, not a throw; the others are still checked', async () => {
  const asked: string[] = [];
  const engine = {
    capabilities: capabilitiesFor('26.7.2.1'),
    rows: async (sql: string) => {
      asked.push(sql);
      return [];
    },
  } as unknown as Engine;
  const broken = pipe(
    'broken',
    [param('day', ty('Date'))],
    [
      node('first', tpl('SELECT * FROM events WHERE d = {{ day }}')),
      { ...node('second', tpl('SELECT count() FROM first')), references: ['first'] },
    ],
  );
  const fine = pipe('fine', [], [node('all', tpl('SELECT * FROM events'))]);
  const project = {
    pipes: new Map([
      ['broken', broken],
      ['fine', fine],
    ]),
    datasources: new Map([['events', { kind: 'datasource', name: 'events' } as unknown as DataSource]]),
  } as unknown as Project;
  const problems = await checkPipeNodes(project, engine, 'db');
  expect(problems).toHaveLength(1);
  expect(problems[0]).toMatchObject({ severity: 'error', code: 'missing-param' });
  expect(problems[0]!.message).toMatch(/^node `first` of pipe `broken` does not compile: param "day"/);
  expect(problems[0]!.location).toBeDefined();
  expect(asked).toHaveLength(1); // only `fine` was sent
  expect(asked[0]).toContain('`db`.`events`');
});
