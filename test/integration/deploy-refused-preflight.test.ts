/**
 * A deploy the server can never take (a column type it lacks: Bool on 18.16; a chain of views it
 * does not fire) is refused before anything exists on it: not the database (`tally deploy`), not
 * the deploy lock's table (applyDeploy on a database that exists, as `tally dev` runs it).
 */
import { afterAll, expect, inject, it } from 'vitest';
import { createEngine } from '../../src/clickhouse/create-engine.ts';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import { TallyError } from '../../src/errors.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { scratchDatabase } from '../support/backends.ts';
import { runCli } from '../support/capture-output.ts';
import { databaseExists } from '../support/cli-databases.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

afterAll(removeProjects);

const FILES = {
  'tally.yaml': 'name: preflight-test\n',
  'datasources/events.datasource.yaml':
    'columns:\n  - { name: id, type: String }\n  - { name: flag, type: Bool }\nengine: { sorting_key: [id] }\n',
};
const REFUSAL =
  /datasources\/events\.datasource\.yaml:\d+:\d+: column `flag` of data source `events` is Bool: ClickHouse 18\.\d+\.\d+ has no type Bool/;

/** `tally deploy` of `files` on the server: exit 1, stderr matching `refusal`, no database made. */
async function deployIsRefused(files: Record<string, string>, refusal: RegExp): Promise<void> {
  const dir = writeProject(files);
  const database = scratchDatabase('preflight');
  const r = await runCli(
    ['deploy', '--project', dir],
    { TALLY_CLICKHOUSE_URL: inject('clickhouseUrl'), TALLY_CLICKHOUSE_DATABASE: database },
    dir,
  );
  expect(r.code, r.err + r.out).toBe(1);
  expect(r.err).toMatch(refusal);
  expect(await databaseExists('server', database, dir)).toBe(false);
}

it('tally deploy on a server without the type: exit 1 naming the column, and no database made', async () => {
  await deployIsRefused(FILES, REFUSAL);
});

// A view reading what another view writes: 18.16 never fires the second.
const CHAIN = {
  'tally.yaml': 'name: preflight-chain-test\n',
  'datasources/events.datasource.yaml':
    'columns:\n  - { name: id, type: String }\nengine: { sorting_key: [id] }\n',
  'datasources/ids.datasource.yaml':
    'columns:\n  - { name: id, type: String }\nengine: { sorting_key: [id] }\n',
  'datasources/copies.datasource.yaml':
    'columns:\n  - { name: id, type: String }\nengine: { sorting_key: [id] }\n',
  'pipes/ids_mv.pipe.yaml': 'nodes:\n  - name: q\n    sql: SELECT id FROM events\nmaterialize: { to: ids }\n',
  'pipes/copies_mv.pipe.yaml':
    'nodes:\n  - name: q\n    sql: SELECT id FROM ids\nmaterialize: { to: copies }\n',
};

it('tally deploy of a view chain on 18.16: exit 1 naming the second pipe, and no database made', async () => {
  await deployIsRefused(
    CHAIN,
    /pipes\/copies_mv\.pipe\.yaml:\d+:\d+: materialized pipe copies_mv reads ids, which materialized pipe ids_mv fills: ClickHouse 18\.\d+\.\d+ does not fire a view/,
  );
});

it('applyDeploy on an existing database: refused before the lock table is created', async () => {
  const database = scratchDatabase('preflight');
  const engine = await createEngine({
    url: inject('clickhouseUrl'),
    user: 'default',
    password: '',
    database,
    embeddedPath: '',
  });
  try {
    // This case needs a server that lacks Bool: the one CI starts (18.16) does.
    expect(engine.capabilities.major, engine.description).toBeLessThan(21);
    const project = loadProjectOrThrow(writeProject(FILES), { env: {} });
    const refused = await applyDeploy(project, engine).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(TallyError);
    expect((refused as TallyError).format()).toMatch(REFUSAL);
    expect(await engine.rows(`SELECT name FROM system.tables WHERE database = '${database}'`)).toEqual([]);
  } finally {
    await engine.command(`DROP DATABASE IF EXISTS ${database}`).catch(() => {});
    await engine.close();
  }
});
