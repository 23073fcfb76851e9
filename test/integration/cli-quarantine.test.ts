import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createEngine } from '../../src/clickhouse/create-engine.ts';
import { startIngestion } from '../../src/ingest/ingestion.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import { BACKENDS, type BackendName } from '../support/backends.ts';
import { runCli } from '../support/capture-output.ts';
import { CliDatabases, databaseExists, noDatabaseMessage } from '../support/cli-databases.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

const GOOD = '{"id":"e1","at":"2024-03-13 09:17:28","amount":12.5}';
const BAD_TIME = '{"id":"e2","at":"soon","amount":1}';
const BAD_JSON = '{"id":"e3","at":';
const LONG = `{"id":"e4","at":"2024-03-13 09:17:28","amount":"${'9'.repeat(400)}x"}`;

function project(): string {
  return writeProject({
    'tally.yaml': 'name: quarantine-test\n',
    'datasources/events.datasource.yaml': [
      'columns:',
      '  - { name: id, type: String, json: $.id }',
      '  - { name: at, type: DateTime, json: $.at }',
      '  - { name: amount, type: "Decimal(18, 2)", json: $.amount }',
      'engine: { sorting_key: [id] }',
    ].join('\n'),
    'datasources/others.datasource.yaml':
      'columns:\n  - { name: id, type: String, json: $.id }\nengine: { sorting_key: [id] }\n',
    // Filled by a pipe, not by events: left out of the listing while its quarantine is empty.
    'datasources/ids.datasource.yaml':
      'columns:\n  - { name: id, type: String }\nengine: { sorting_key: [id] }\n',
    'pipes/ids_mv.pipe.yaml':
      'nodes:\n  - name: q\n    sql: SELECT id FROM events\nmaterialize: { to: ids }\n',
  });
}

const run = (argv: string[], env: NodeJS.ProcessEnv, dir: string) =>
  runCli([...argv, '--project', dir], env, dir);

const databases = new CliDatabases('quarantine');

function envFor(backend: BackendName): NodeJS.ProcessEnv {
  return databases.env(backend);
}

afterAll(async () => {
  removeProjects();
  await databases.dropAll();
});

describe.each(BACKENDS)('tally quarantine [%s]', (backend) => {
  it('counts refused events per data source, lists the latest with reasons, refuses an unknown name', async () => {
    const dir = project();
    const env = envFor(backend);
    const deployed = await run(['deploy'], env, dir);
    expect(deployed.code, deployed.err).toBe(0);

    const empty = await run(['quarantine', '--json'], env, dir);
    expect(empty.code, empty.err).toBe(0);
    expect(JSON.parse(empty.out)).toEqual({
      datasources: [
        { datasource: 'events', total: 0, last_24h: 0, latest: null, top_reason: null },
        { datasource: 'ids', total: 0, last_24h: 0, latest: null, top_reason: null },
        { datasource: 'others', total: 0, last_24h: 0, latest: null, top_reason: null },
      ],
    });

    // Through the events API's path (tally append checks rows itself and sends only good ones).
    const engine = await createEngine({
      ...(backend === 'server' ? { url: inject('clickhouseUrl') } : {}),
      user: 'default',
      password: '',
      database: env.TALLY_CLICKHOUSE_DATABASE!,
      embeddedPath: join(dir, '.tally', 'chdb'),
    });
    try {
      const ingestion = await startIngestion(loadProjectOrThrow(dir, { env }), engine, undefined);
      const r = await ingestion.append('events', [GOOD, BAD_TIME, BAD_JSON, LONG], { requestId: 'req-42' });
      expect(r).toMatchObject({ successful_rows: 1, quarantined_rows: 3 });
      await ingestion.stop();
    } finally {
      await engine.close();
    }

    const summary = await run(['quarantine'], env, dir);
    expect(summary.code, summary.err).toBe(0);
    expect(summary.out).toMatch(/^data source\s+refused\s+last 24 h/);
    expect(summary.out).toMatch(/\nevents\s+3\s+3\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\S/);
    expect(summary.out).toMatch(/\nothers\s+0\s+0\s+-\s+-/);
    expect(summary.out).not.toMatch(/\nids\s/);
    expect(summary.out).toMatch(/\nnot listed, nothing refused: ids \(filled by pipes, not by events\)/);

    const detail = await run(['quarantine', 'events', '--json', '-n', '5'], env, dir);
    expect(detail.code, detail.err).toBe(0);
    const j = JSON.parse(detail.out) as {
      total: number;
      events: Array<{ source: string; where: string; columns: string[]; reason: string; raw: string }>;
    };
    expect(j.total).toBe(3);
    expect(j.events).toHaveLength(3);
    expect(j.events.every((e) => e.source === 'http')).toBe(true);
    const byRaw = (start: string) => j.events.find((e) => e.raw.startsWith(start))!;
    expect(byRaw('{"id":"e2"').columns).toEqual(['at']);
    expect(byRaw('{"id":"e2"').where).toBe('request req-42');
    expect(byRaw('{"id":"e2"').reason).toMatch(/at/);
    expect(byRaw('{"id":"e3"').reason).toMatch(/JSON/i);
    // --json gives the raw event whole: a script takes it back to fix and append it again.
    expect(byRaw('{"id":"e4"').raw).toBe(LONG);

    // The terminal view cuts a long raw event, and says so.
    const view = await run(['quarantine', 'events'], env, dir);
    expect(view.code, view.err).toBe(0);
    const longLine = view.out.split('\n').find((l) => l.startsWith('  raw: {"id":"e4"'))!;
    expect(longLine).toMatch(/… \(cut\)$/);
    expect(longLine.length).toBeLessThan(200);

    const limited = await run(['quarantine', 'events', '-n', '1'], env, dir);
    expect(limited.code).toBe(0);
    expect(limited.out).toMatch(/^events: 3 refused events, 3 in the last 24 h\n/);
    expect(limited.out.match(/\n {2}raw: /g)).toHaveLength(1);

    const unknown = await run(['quarantine', 'evnts'], env, dir);
    expect(unknown.code).not.toBe(0);
    expect(unknown.err).toMatch(/no quarantine table for `evnts`.*did you mean `events`/);

    const badLimit = await run(['quarantine', 'events', '-n', 'lots'], env, dir);
    expect(badLimit.code).toBe(1);
    expect(badLimit.err).toMatch(/--limit must be a whole number/);
  });

  it('before any deploy: deploy --check plans every table and creates nothing; quarantine says the database is missing', async () => {
    const dir = project();
    const env = envFor(backend);
    const database = env.TALLY_CLICKHOUSE_DATABASE!;
    const plan = await run(['deploy', '--check', '--json'], env, dir);
    expect(plan.code, plan.err).toBe(0);
    const steps = (JSON.parse(plan.out) as { steps: Array<{ kind: string; resource: string }> }).steps;
    expect(
      steps
        .filter((s) => s.kind === 'create-table')
        .map((s) => s.resource)
        .sort(),
    ).toEqual(['events', 'ids', 'others']);

    const missing = await run(['quarantine'], env, dir);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(noDatabaseMessage(database));
    expect(await databaseExists(backend, database, dir)).toBe(false);
  });
});
