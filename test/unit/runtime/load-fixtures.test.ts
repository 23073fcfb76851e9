import { afterAll, describe, expect, it } from 'vitest';
import { TallyError } from '../../../src/errors.ts';
import type { Ingestion } from '../../../src/ingest/ingestion.ts';
import { loadProjectOrThrow } from '../../../src/project/load-project.ts';
import { loadFixtures } from '../../../src/runtime/load-fixtures.ts';
import { removeProjects, writeProject } from '../project/write-project.ts';

afterAll(removeProjects);

const DS = 'columns:\n  - { name: id, type: String }\nengine: { sorting_key: [id] }\n';

/** Ingestion as far as loadFixtures uses it; `refuse` names data sources that refuse appends. */
function fakeIngestion(refuse: string, fail?: Error): Ingestion {
  return {
    datasourceNames: () => ['a', 'b'],
    append: async (name: string, events: string[]) => {
      if (fail) throw fail;
      if (name === refuse)
        throw new TallyError('ingest-needs-kafka', `data source \`${name}\` deduplicates by Kafka metadata`);
      return { successful_rows: events.length, quarantined_rows: 0, duplicate_rows: 0 };
    },
  } as unknown as Ingestion;
}

describe('loadFixtures', () => {
  const dir = writeProject({
    'datasources/a.datasource.yaml': DS,
    'datasources/b.datasource.yaml': DS,
    'fixtures/a.ndjson': '{"id":"1"}\n{"id":"2"}\n',
    'fixtures/b.ndjson': '{"id":"3"}\n',
  });
  const project = loadProjectOrThrow(dir, { env: {} });

  it('reports a data source that refuses its file and loads the others', async () => {
    const loads = await loadFixtures(project, fakeIngestion('a'), ['a', 'b']);
    expect(loads).toEqual([
      expect.objectContaining({
        datasource: 'a',
        successful_rows: 0,
        refused: expect.stringContaining('Kafka metadata'),
      }),
      {
        datasource: 'b',
        file: 'fixtures/b.ndjson',
        successful_rows: 1,
        quarantined_rows: 0,
        duplicate_rows: 0,
      },
    ]);
  });

  it('still fails on any other error (ClickHouse down, say)', async () => {
    await expect(
      loadFixtures(project, fakeIngestion('', new Error('connection refused')), ['a']),
    ).rejects.toThrow('connection refused');
  });
});
