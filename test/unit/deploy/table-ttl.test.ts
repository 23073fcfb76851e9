import { afterAll, describe, expect, it } from 'vitest';
import { capabilitiesFor } from '../../../src/clickhouse/capabilities.ts';
import { checkTableTtl } from '../../../src/deploy/table-ttl.ts';
import { TallyError } from '../../../src/errors.ts';
import { loadProjectOrThrow } from '../../../src/project/load-project.ts';
import { removeProjects, writeProject } from '../project/write-project.ts';

afterAll(removeProjects);

const project = loadProjectOrThrow(
  writeProject({
    'datasources/clicks.datasource.yaml': `columns:
  - { name: id, type: String }
  - { name: at, type: DateTime }
engine:
  sorting_key: [id]
  ttl: at + INTERVAL 90 DAY
`,
    'datasources/pages.datasource.yaml': `columns:
  - { name: id, type: String }
engine: { sorting_key: [id] }
`,
  }),
  { env: {} },
);

function refusal(version: string): TallyError | undefined {
  try {
    checkTableTtl(project, capabilitiesFor(version));
    return undefined;
  } catch (err) {
    return err as TallyError;
  }
}

describe('checkTableTtl', () => {
  it('refuses engine.ttl before 19.6, naming the data source, the line of ttl, the version and what it needs', () => {
    const err = refusal('18.16.1.1');
    expect(err).toBeInstanceOf(TallyError);
    expect(err!.code).toBe('unsupported-on-server');
    expect(err!.message).toBe(
      'data source `clicks` sets engine.ttl (at + INTERVAL 90 DAY): ClickHouse 18.16.1.1 has no TTL (it needs ClickHouse 19.6 or newer)',
    );
    expect(err!.location).toEqual({ file: 'datasources/clicks.datasource.yaml', line: 6, col: 8 });
    expect(err!.hint).toContain('the embedded engine has TTL');
    expect(err!.format()).toMatch(/^datasources\/clicks\.datasource\.yaml:6:8: data source `clicks`/);
    expect(refusal('19.5.4.1')?.code).toBe('unsupported-on-server');
  });

  it('accepts it from 19.6 on, and a project without ttl anywhere', () => {
    expect(refusal('19.6.2.11')).toBeUndefined();
    expect(refusal('26.7.2.1')).toBeUndefined();
    const without = { datasources: new Map([...project.datasources].filter(([n]) => n !== 'clicks')) };
    expect(() => checkTableTtl(without, capabilitiesFor('18.16.1.1'))).not.toThrow();
  });
});
