/**
 * The comparison of runtime resources (endpoints, copy pipes, ingestion settings) with the
 * applied deployment's record, and how the plan shows it: on projects loaded from files.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { formatPlan } from '../../../src/cli/commands/deploy.ts';
import { capabilitiesFor } from '../../../src/clickhouse/capabilities.ts';
import type { DeploymentRecord } from '../../../src/deploy/bookkeeping.ts';
import type { DdlContext } from '../../../src/deploy/ddl.ts';
import { desiredState } from '../../../src/deploy/desired-state.ts';
import { bareLiveTable, type LiveState, type LiveTable } from '../../../src/deploy/introspect.ts';
import { buildPlan } from '../../../src/deploy/plan.ts';
import { compareRuntime } from '../../../src/deploy/runtime-changes.ts';
import { runtimeKeyOf, runtimeSpecsFor } from '../../../src/deploy/runtime-specs.ts';
import { loadProjectOrThrow } from '../../../src/project/load-project.ts';
import type { Project } from '../../../src/project/model.ts';
import { removeProjects, writeProject } from '../project/write-project.ts';

afterAll(removeProjects);

const ctx: DdlContext = { database: 'tally', capabilities: capabilitiesFor('18.16.1') };

const FILES: Record<string, string> = {
  'tally.yaml': 'name: runtime-changes\n',
  'datasources/events.datasource.yaml': [
    'source:',
    '  kafka: { topic: events, start: earliest }',
    'columns:',
    '  - { name: id, type: String, json: $.id }',
    '  - { name: account, type: String, json: $.account }',
    '  - { name: n, type: Int64, json: $.n }',
    'engine: { type: ReplacingMergeTree, sorting_key: [account, id] }',
    'dedup_key: id',
  ].join('\n'),
  'datasources/totals.datasource.yaml': [
    'columns:',
    '  - { name: at, type: DateTime }',
    '  - { name: account, type: String }',
    '  - { name: total, type: Int64 }',
    'engine: { type: ReplacingMergeTree, sorting_key: [account, at] }',
  ].join('\n'),
  'pipes/by_account.pipe.yaml': [
    'params:',
    '  account: { type: String, required: true }',
    'nodes:',
    '  - name: rows',
    '    sql: SELECT id, n FROM events FINAL WHERE account = {{ account }}',
    '  - name: total',
    '    sql: SELECT sum(n) AS total FROM rows',
  ].join('\n'),
  'pipes/totals_copy.pipe.yaml': [
    'nodes:',
    '  - name: t',
    '    sql: SELECT {{ snapshot_at }} AS at, account, sum(n) AS total FROM events FINAL GROUP BY account',
    'copy: { to: totals, schedule: "@hourly" }',
  ].join('\n'),
  'endpoints/by_account.endpoint.yaml': 'pipe: by_account\ncache: 2s\n',
};

const load = (files: Record<string, string>): Project => loadProjectOrThrow(writeProject(files), { env: {} });
const specs = (files: Record<string, string>) => runtimeSpecsFor(load(files));
const edit = (file: string, from: string | RegExp, to: string) => ({
  ...FILES,
  [file]: FILES[file]!.replace(from, to),
});
const changesOf = (files: Record<string, string>) => compareRuntime(specs(files), specs(FILES)).changes;

describe('runtime resources', () => {
  it('records an endpoint, a copy pipe and each data source, under their keys', () => {
    expect(Object.keys(specs(FILES)).sort()).toEqual([
      'copy:totals_copy',
      'endpoint:by_account',
      'ingest:events',
      'ingest:totals',
    ]);
    expect(runtimeKeyOf('view:x')).toBeUndefined();
    expect(runtimeKeyOf('datasource:x')).toBeUndefined();
  });

  it('finds nothing when the project is the one recorded', () => {
    expect(compareRuntime(specs(FILES), specs(FILES))).toEqual({ changes: [], firstRecorded: false });
  });

  it("names the node whose SQL changed in an endpoint's pipe", () => {
    expect(changesOf(edit('pipes/by_account.pipe.yaml', 'sum(n)', 'sum(n) + 0'))).toEqual([
      expect.objectContaining({
        key: 'endpoint:by_account',
        kind: 'endpoint',
        name: 'by_account',
        action: 'change',
        what: ['SQL of node total changed'],
        effect: expect.stringMatching(/when `tally serve` restarts/),
      }),
    ]);
  });

  it('says which params were added, removed or changed, and which endpoint settings', () => {
    const files = {
      ...edit(
        'pipes/by_account.pipe.yaml',
        '  account: { type: String, required: true }',
        '  account: { type: String, default: a }\n  since: { type: DateTime }',
      ),
      'endpoints/by_account.endpoint.yaml': 'pipe: by_account\ncache: 5s\nlimits: { max_rows: 10 }\n',
    };
    expect(changesOf(files)[0]!.what).toEqual([
      'params added: since',
      'params changed: account (required, default)',
      'cache 2s -> 5s',
      'limits max_rows none -> 10',
    ]);
    const removed = edit('pipes/by_account.pipe.yaml', /params:\n.*\n/, '');
    expect(
      changesOf({
        ...removed,
        'pipes/by_account.pipe.yaml': removed['pipes/by_account.pipe.yaml']!.replace('{{ account }}', "'a'"),
      })[0]!.what,
    ).toEqual(['SQL of node rows changed', 'params removed: account']);
  });

  it('lists an endpoint added or removed', () => {
    const added = { ...FILES, 'endpoints/again.endpoint.yaml': 'pipe: by_account\n' };
    expect(changesOf(added).map((c) => `${c.key} ${c.action}`)).toEqual(['endpoint:again add']);
    const { 'endpoints/by_account.endpoint.yaml': _, ...without } = FILES;
    expect(changesOf(without).map((c) => `${c.key} ${c.action} ${c.what.join()}`)).toEqual([
      'endpoint:by_account remove removed',
    ]);
  });

  it("says a copy pipe's schedule and SQL changed", () => {
    const files = edit('pipes/totals_copy.pipe.yaml', '"@hourly"', '"@daily"');
    files['pipes/totals_copy.pipe.yaml'] = files['pipes/totals_copy.pipe.yaml']!.replace(
      'FROM events FINAL',
      'FROM events FINAL WHERE n > 0',
    );
    expect(changesOf(files)).toEqual([
      expect.objectContaining({
        key: 'copy:totals_copy',
        what: ['schedule @hourly -> @daily', 'SQL of node t changed'],
        effect: expect.stringMatching(/copy pipe changes take effect when `tally serve` restarts/),
      }),
    ]);
  });

  it('says a dedup_key changed, and that running ingesters must be restarted', () => {
    const [c] = changesOf(
      edit('datasources/events.datasource.yaml', 'dedup_key: id', 'dedup_key: [id, account]'),
    );
    expect(c).toMatchObject({
      key: 'ingest:events',
      action: 'change',
      what: ['dedup_key id -> (id, account)'],
    });
    expect(c!.effect).toMatch(/^dedup_key of events: restart every `tally serve` that ingests it;/);
    expect(c!.effect).toMatch(/those still on the old key store nothing to events/);
  });

  it("says what of a data source's Kafka source and JSON paths changed", () => {
    const files = edit(
      'datasources/events.datasource.yaml',
      'kafka: { topic: events, start: earliest }',
      'kafka: { topic: events_v2, group: g, start: latest }',
    );
    files['datasources/events.datasource.yaml'] = files['datasources/events.datasource.yaml']!.replace(
      'json: $.n',
      'json: $.count',
    );
    const [c] = changesOf(files);
    expect(c!.what).toEqual([
      'kafka topic events -> events_v2',
      'kafka group default -> g',
      'kafka start earliest -> latest',
      'json paths changed: n',
    ]);
    expect(c!.effect).toMatch(/^ingestion changes take effect when `tally serve` restarts/);
  });

  it('leaves a new or removed data source to its table step', () => {
    const added = {
      ...FILES,
      'datasources/more.datasource.yaml':
        'columns:\n  - { name: id, type: String }\nengine: { sorting_key: [id] }\n',
    };
    expect(changesOf(added)).toEqual([]);
    const { 'datasources/totals.datasource.yaml': _, 'pipes/totals_copy.pipe.yaml': __, ...without } = FILES;
    expect(changesOf(without).map((c) => c.key)).toEqual(['copy:totals_copy']);
  });

  it('compares nothing with a record an older Tally wrote (no runtime key); everything is new without a record', () => {
    const ddlOnly = { 'datasource:events': {}, 'view:x': {} };
    expect(compareRuntime(specs(FILES), ddlOnly)).toEqual({ changes: [], firstRecorded: true });
    expect(compareRuntime(specs(FILES), undefined).changes.map((c) => `${c.key} ${c.action}`)).toEqual([
      'endpoint:by_account add',
      'copy:totals_copy add',
    ]);
  });
});

describe('the plan with runtime changes', () => {
  /** The live state and record a deploy of `p` leaves (`record`: what its record holds). */
  function deployed(
    p: Project,
    record: (specs: Record<string, unknown>) => Record<string, unknown> = (s) => s,
  ): { live: LiveState; deployments: DeploymentRecord[] } {
    const d = desiredState(p, ctx);
    const tables = new Map<string, LiveTable>();
    tables.set('tally_deployments', bareLiveTable('tally_deployments', 'ReplacingMergeTree'));
    for (const ds of d.datasources.values()) {
      for (const spec of [ds.table, ds.quarantine]) {
        tables.set(spec.name, {
          ...bareLiveTable(spec.name, spec.engine.type),
          sortingKey: spec.engine.sortingKey.join(', '),
          primaryKey: spec.engine.sortingKey.join(', '),
          partitionKey: spec.engine.partitionKey ?? '',
          columns: spec.columns.map((c) => ({
            name: c.name,
            type: c.type,
            defaultKind: c.default !== undefined ? 'DEFAULT' : '',
            defaultExpression: c.default ?? '',
            comment: c.comment ?? '',
          })),
        });
      }
    }
    const specsOf = record(d.resourceSpecs);
    return {
      live: { database: 'tally', databaseEngine: 'Ordinary', tables },
      deployments: [
        {
          id: '20261128060000000_prev',
          startedAt: '2026-11-28 06:00:00',
          status: 'succeeded',
          projectHash: d.projectHash,
          resourceHashes: Object.fromEntries(Object.keys(specsOf).map((k) => [k, d.resourceHashes[k]!])),
          resourceSpecs: specsOf,
          plan: [],
          steps: [],
          durationMs: 10,
          error: '',
        },
      ],
    };
  }

  const planOf = (p: Project, at: { live: LiveState; deployments: DeploymentRecord[] }) =>
    buildPlan({
      desired: desiredState(p, ctx),
      ...at,
      ctx,
      deployId: '20261128070000000_abcd',
      server: 'test',
      scratchDatabaseExists: false,
    });

  it('an endpoint SQL change alone: no steps, listed apart, and not "No changes"', () => {
    const before = deployed(load(FILES));
    expect(planOf(load(FILES), before)).toMatchObject({
      steps: [],
      runtimeChanges: [],
      recordsRuntime: true,
    });
    expect(formatPlan(planOf(load(FILES), before))).toMatch(/^No changes: /);

    const pl = planOf(load(edit('pipes/by_account.pipe.yaml', 'sum(n)', 'sum(n) + 0')), before);
    expect(pl.steps).toEqual([]);
    expect(pl.runtimeChanges.map((c) => c.key)).toEqual(['endpoint:by_account']);
    const text = formatPlan(pl);
    expect(text).not.toMatch(/No changes/);
    expect(text.split('\n')).toEqual([
      'No DDL changes: 2 data source(s) and 0 view(s) in `tally` are up to date (test); 1 change(s) without DDL take effect when `tally serve` restarts.',
      '',
      'Also changes (no DDL):',
      '  endpoint by_account: SQL of node total changed',
      '  -> endpoint changes take effect when `tally serve` restarts (it reads the files at start; `tally dev` reloads on save)',
    ]);
  });

  it('after a record without runtime resources: nothing listed, and a note that this deploy records them', () => {
    const old = deployed(load(FILES), (s) =>
      Object.fromEntries(Object.entries(s).filter(([k]) => runtimeKeyOf(k) === undefined)),
    );
    const pl = planOf(load(edit('pipes/by_account.pipe.yaml', 'sum(n)', 'sum(n) + 0')), old);
    expect(pl.runtimeChanges).toEqual([]);
    expect(pl.notes).toEqual([
      'endpoints, copy pipes and ingestion settings are not in the record of deployment 20261128060000000_prev (an earlier Tally): this deploy records them as they are, and later plans list their changes',
    ]);
    expect(formatPlan(pl)).toMatch(
      /^No changes: .*\nnote: endpoints, copy pipes and ingestion settings are not/,
    );
  });
});
