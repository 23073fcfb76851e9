import { describe, expect, it } from 'vitest';
import { capabilitiesFor } from '../../../src/clickhouse/capabilities.ts';
import type { DeploymentRecord } from '../../../src/deploy/bookkeeping.ts';
import type { DdlContext, ViewSpec } from '../../../src/deploy/ddl.ts';
import { desiredState } from '../../../src/deploy/desired-state.ts';
import { bareLiveTable, type LiveState, type LiveTable } from '../../../src/deploy/introspect.ts';
import { buildPlan } from '../../../src/deploy/plan.ts';
import type { Plan } from '../../../src/deploy/plan-types.ts';
import type { TableSpec } from '../../../src/deploy/table-spec.ts';
import type { Project } from '../../../src/project/model.ts';
import { datasource, eventsProject, pipe, withDatasource, withPipe } from '../../support/model-builder.ts';

const ctx: DdlContext = { database: 'tally', capabilities: capabilitiesFor('18.16.1') };
const DEPLOY = '20261128070000000_abcd';

function liveTable(spec: TableSpec, rows = 0, patch: Partial<LiveTable> = {}): LiveTable {
  const e = spec.engine;
  return {
    name: spec.name,
    engine: e.type,
    engineFull: '',
    createQuery: '',
    engineArgs: e.version ?? (e.sumColumns ?? []).join(', '),
    partitionKey: e.partitionKey ?? '',
    sortingKey: e.sortingKey.join(', '),
    primaryKey: (e.primaryKey ?? e.sortingKey).join(', '),
    ...(e.ttl ? { ttl: e.ttl } : {}),
    settings: { index_granularity: '8192' },
    columns: spec.columns.map((c) => ({
      name: c.name,
      type: c.type,
      defaultKind: c.default !== undefined ? 'DEFAULT' : '',
      defaultExpression: c.default ?? '',
      comment: c.comment ?? '',
    })),
    dependents: [],
    rows,
    ...patch,
  };
}

function liveView(v: ViewSpec): LiveTable {
  return bareLiveTable(v.name, 'MaterializedView', { viewTarget: v.target });
}

/** The live state a successful deploy of `p` leaves, with a record of it. */
function deployed(
  p: Project,
  rows: Record<string, number> = {},
): { live: LiveState; deployments: DeploymentRecord[] } {
  const d = desiredState(p, ctx);
  const tables = new Map<string, LiveTable>();
  tables.set('tally_deployments', {
    ...liveTable({
      name: 'tally_deployments',
      role: 'bookkeeping',
      columns: [],
      engine: { type: 'ReplacingMergeTree', sortingKey: ['id'], settings: {} },
    }),
  });
  for (const ds of d.datasources.values()) {
    tables.set(ds.name, liveTable(ds.table, rows[ds.name] ?? 0));
    tables.set(ds.quarantine.name, liveTable(ds.quarantine));
  }
  for (const v of d.views) {
    tables.set(v.name, liveView(v));
    const src = tables.get(v.source)!;
    tables.set(v.source, { ...src, dependents: [...src.dependents, v.name] });
  }
  return {
    live: { database: 'tally', databaseEngine: 'Ordinary', tables },
    deployments: [
      {
        id: '20261128060000000_prev',
        startedAt: '2026-11-28 06:00:00',
        status: 'succeeded',
        projectHash: d.projectHash,
        resourceHashes: d.resourceHashes,
        resourceSpecs: d.resourceSpecs,
        plan: [],
        steps: [],
        durationMs: 10,
        error: '',
      },
    ],
  };
}

function plan(p: Project, live: LiveState, deployments: DeploymentRecord[] = [], scratch = false): Plan {
  return buildPlan({
    desired: desiredState(p, ctx),
    live,
    deployments,
    ctx,
    deployId: DEPLOY,
    server: 'test',
    scratchDatabaseExists: scratch,
  });
}

const kinds = (pl: Plan) => pl.steps.map((s) => `${s.kind}:${s.resource}`);

describe('planner', () => {
  it('plans a first deploy into an empty database in dependency order', () => {
    const pl = plan(eventsProject(), { database: 'tally', databaseEngine: 'Ordinary', tables: new Map() });
    expect(kinds(pl)).toEqual([
      'create-bookkeeping:tally_deployments',
      'create-table:events',
      'create-table:totals',
      'create-view:totals_mv',
      'backfill:totals_mv',
    ]);
    expect(pl.steps.some((s) => s.destructive)).toBe(false);
    expect(pl.resources.map((r) => `${r.name}:${r.action}`)).toEqual([
      'events:create',
      'totals:create',
      'totals_mv:create',
    ]);
  });

  it('orders a view after the view that fills its source', () => {
    const p0 = eventsProject();
    const top = datasource('top', {
      columns: [
        { name: 'account', type: 'String' },
        { name: 'n', type: 'AggregateFunction(count)' },
      ],
      engine: 'AggregatingMergeTree',
      sortingKey: ['account'],
    });
    const p = withPipe(
      withPipe(
        withDatasource(p0, 'top', top),
        'top_mv',
        pipe('top_mv', 'SELECT account, countState() AS n FROM totals GROUP BY account', 'top'),
      ),
      'totals_mv',
      p0.pipes.get('totals_mv'),
    );
    // top_mv comes first in the project, but reads totals, which totals_mv fills.
    const ordered = new Map([
      ['top_mv', p.pipes.get('top_mv')!],
      ['totals_mv', p.pipes.get('totals_mv')!],
    ]);
    const pl = plan(
      { ...p, pipes: ordered },
      { database: 'tally', databaseEngine: 'Ordinary', tables: new Map() },
    );
    expect(kinds(pl).filter((k) => k.startsWith('create-view'))).toEqual([
      'create-view:totals_mv',
      'create-view:top_mv',
    ]);
  });

  it('finds nothing to do when the database matches the last deploy', () => {
    const p = eventsProject();
    const { live, deployments } = deployed(p, { events: 100 });
    const pl = plan(p, live, deployments);
    expect(pl.steps).toEqual([]);
    expect(pl.resources.length).toBeGreaterThan(0);
    expect(pl.resources.filter((r) => r.action !== 'unchanged')).toEqual([]);
  });

  it('ignores how ClickHouse reformats what the last deploy applied', () => {
    const p = withDatasource(
      eventsProject(),
      'events',
      datasource('events', {
        columns: [
          { name: 'id', type: 'UInt64' },
          { name: 'ts', type: 'DateTime' },
        ],
        sortingKey: ['id'],
        ttl: 'ts + INTERVAL 1 DAY',
      }),
    );
    const { live, deployments } = deployed(withPipe(p, 'totals_mv', undefined));
    const ev = live.tables.get('events')!;
    live.tables.set('events', { ...ev, ttl: 'ts + toIntervalDay(1)', sortingKey: '(id)' });
    const c = { ...ctx, capabilities: capabilitiesFor('26.7.2.1') };
    const pl = buildPlan({
      desired: desiredState(withPipe(p, 'totals_mv', undefined), c),
      live,
      deployments,
      ctx: c,
      deployId: DEPLOY,
      server: 'test',
      scratchDatabaseExists: false,
    });
    expect(pl.steps).toEqual([]);
  });

  it('adds a column with ALTER ... AFTER, changes defaults and comments in place', () => {
    const p1 = eventsProject();
    const { live, deployments } = deployed(p1);
    const p2 = withDatasource(
      p1,
      'events',
      datasource('events', {
        columns: [
          { name: 'id', type: 'UInt64' },
          { name: 'account', type: 'String', comment: 'who' },
          { name: 'channel', type: 'String', default: "'web'" },
          { name: 'amount', type: 'Decimal(18, 2)' },
          { name: 'ts', type: 'DateTime' },
        ],
        sortingKey: ['account', 'id'],
        partitionKey: 'toYYYYMM(ts)',
      }),
    );
    const pl = plan(p2, live, deployments);
    expect(kinds(pl)).toEqual(['alter-table:events']);
    expect(pl.steps[0]!.sql).toEqual([
      "ALTER TABLE `tally`.`events` COMMENT COLUMN `account` 'who'",
      "ALTER TABLE `tally`.`events` ADD COLUMN `channel` String DEFAULT 'web' AFTER `account`",
    ]);
    expect(pl.steps[0]!.destructive).toBe(false);
  });

  it('widens a type in place but rebuilds for a key column or a narrowing', () => {
    const p1 = eventsProject();
    const { live, deployments } = deployed(p1, { events: 42 });
    const cols = (id: string, amount: string) => [
      { name: 'id', type: id },
      { name: 'account', type: 'String' },
      { name: 'amount', type: amount },
      { name: 'ts', type: 'DateTime' },
    ];
    const mk = (id: string, amount: string) =>
      withDatasource(
        p1,
        'events',
        datasource('events', {
          columns: cols(id, amount),
          sortingKey: ['account', 'id'],
          partitionKey: 'toYYYYMM(ts)',
        }),
      );
    const widen = plan(mk('UInt64', 'Decimal(20, 2)'), live, deployments);
    expect(widen.steps.map((s) => s.kind)).toEqual(['alter-table']);
    expect(widen.steps[0]!.sql).toEqual([
      'ALTER TABLE `tally`.`events` MODIFY COLUMN `amount` Decimal(20, 2)',
    ]);
    const key = plan(mk('UInt32', 'Decimal(18, 2)'), live, deployments);
    expect(key.steps.map((s) => s.kind)).toEqual(['rebuild-table']);
    expect(key.steps[0]!.why).toMatch(/column id UInt64 -> UInt32 \(a key column\)/);
    const narrow = plan(mk('UInt64', 'Float32'), live, deployments);
    expect(narrow.steps.map((s) => s.kind)).toEqual(['rebuild-table']);
    expect(narrow.steps[0]!.rows).toBe(42);
  });

  it('marks dropping a column destructive, in an ALTER or in a rebuild', () => {
    const p1 = eventsProject();
    const { live, deployments } = deployed(p1, { events: 7 });
    const fewer = [
      { name: 'id', type: 'UInt64' },
      { name: 'account', type: 'String' },
      { name: 'ts', type: 'DateTime' },
    ];
    const alter = plan(
      withDatasource(
        p1,
        'events',
        datasource('events', { columns: fewer, sortingKey: ['account', 'id'], partitionKey: 'toYYYYMM(ts)' }),
      ),
      live,
      deployments,
    );
    expect(alter.steps.map((s) => [s.kind, s.destructive, s.loses])).toEqual([
      ['alter-table', true, ['column amount of events (7 rows)']],
    ]);
    const rebuild = plan(
      withDatasource(
        p1,
        'events',
        datasource('events', { columns: fewer, sortingKey: ['id'], partitionKey: 'toYYYYMM(ts)' }),
      ),
      live,
      deployments,
    );
    expect(rebuild.steps.map((s) => [s.kind, s.destructive, s.loses])).toEqual([
      ['rebuild-table', true, ['column amount of events (7 rows)']],
    ]);
    expect(rebuild.steps[0]!.sql.at(-1)).toBe(
      'RENAME TABLE `tally`.`events__tally_hold` TO `tally`.`events__backup_20261128070000000_abcd`, `tally`.`events__tally_next` TO `tally`.`events`',
    );
  });

  it('recomputes a target when its pipe changed, and the targets of views that read it', () => {
    const p1 = eventsProject();
    const top = datasource('top', {
      columns: [
        { name: 'account', type: 'String' },
        { name: 'n', type: 'AggregateFunction(count)' },
      ],
      engine: 'AggregatingMergeTree',
      sortingKey: ['account'],
    });
    const withTop = withPipe(
      withDatasource(p1, 'top', top),
      'top_mv',
      pipe('top_mv', 'SELECT account, countState() AS n FROM totals GROUP BY account', 'top'),
    );
    const { live, deployments } = deployed(withTop, { events: 10, totals: 3, top: 3 });
    const changed = withPipe(
      withTop,
      'totals_mv',
      pipe(
        'totals_mv',
        'SELECT account, sumState(amount) AS total, countState() AS n FROM events WHERE amount > 0 GROUP BY account',
        'totals',
      ),
    );
    const pl = plan(changed, live, deployments);
    expect(kinds(pl)).toEqual(['replace-view:totals', 'replace-view:top']);
    expect(pl.steps[0]!.why).toBe('pipe totals_mv changed');
    expect(pl.steps[1]!.why).toBe('its source totals is recomputed');
    expect(pl.resources.find((r) => r.name === 'totals_mv')!.action).toBe('replace');
    expect(pl.resources.find((r) => r.name === 'top_mv')!.action).toBe('replace');
  });

  it('recomputes rather than adds when a new view writes into a target that has rows', () => {
    const p1 = eventsProject();
    const { live, deployments } = deployed(withPipe(p1, 'totals_mv', undefined), { events: 10, totals: 5 });
    expect(kinds(plan(p1, live, deployments))).toEqual(['replace-view:totals']);
    live.tables.set('totals', { ...live.tables.get('totals')!, rows: 0 });
    expect(kinds(plan(p1, live, deployments))).toEqual(['create-view:totals_mv', 'backfill:totals_mv']);
  });

  it('recomputes when a view exists but no deploy recorded it complete, or it stopped firing', () => {
    const p = eventsProject();
    const { live, deployments } = deployed(p, { events: 10, totals: 5 });
    const unrecorded = { ...deployments[0]!, resourceHashes: {} };
    expect(plan(p, live, [unrecorded]).steps[0]!.why).toMatch(/no deploy recorded it complete/);
    live.tables.set('events', { ...live.tables.get('events')!, dependents: [] });
    expect(plan(p, live, deployments).steps[0]!.why).toMatch(/no longer fires/);
  });

  it('flags recomputing a target that is also ingested from Kafka', () => {
    const p1 = eventsProject();
    const t = p1.datasources.get('totals')!;
    const p = withDatasource(p1, 'totals', {
      ...t,
      kafka: { topic: 't', start: 'earliest', metadata: [], loc: t.loc },
    });
    const { live, deployments } = deployed(p, { events: 10, totals: 5 });
    const changed = withPipe(
      p,
      'totals_mv',
      pipe(
        'totals_mv',
        'SELECT account, sumState(amount) AS total, countState() AS n FROM events WHERE 1 GROUP BY account',
        'totals',
      ),
    );
    const step = plan(changed, live, deployments).steps[0]!;
    expect(step.destructive).toBe(true);
    expect(step.loses![0]).toMatch(/rows of totals that came from its Kafka topic, not from a view/);
  });

  it('drops what Tally created and the project no longer has; leaves the rest alone', () => {
    const p1 = eventsProject();
    const { live, deployments } = deployed(p1, { events: 1234, totals: 5 });
    live.tables.set(
      'mine',
      liveTable({
        name: 'mine',
        role: 'datasource',
        columns: [{ name: 'x', type: 'UInt8' }],
        engine: { type: 'MergeTree', sortingKey: ['x'], settings: {} },
      }),
    );
    const p2 = withDatasource(
      withDatasource(withPipe(p1, 'totals_mv', undefined), 'totals', undefined),
      'events',
      p1.datasources.get('events'),
    );
    const gone = withDatasource(p2, 'events', undefined);
    const pl = plan(gone, live, deployments);
    expect(kinds(pl)).toEqual(['drop-view:totals_mv', 'drop-table:events', 'drop-table:totals']);
    expect(pl.steps[1]).toMatchObject({
      destructive: true,
      loses: ['data source events: 1234 rows', 'events_quarantine: 0 rows'],
      sql: ['DROP TABLE IF EXISTS `tally`.`events`', 'DROP TABLE IF EXISTS `tally`.`events_quarantine`'],
    });
    expect(pl.steps[0]!.destructive).toBe(false);
    expect(pl.notes).toEqual([
      'table mine is not part of the project and was not created by Tally; left alone',
    ]);
  });

  it('cleans up after an interrupted deploy first', () => {
    const p = eventsProject();
    const { live, deployments } = deployed(p, { events: 10, totals: 5 });
    const ev = live.tables.get('events')!;
    live.tables.delete('events');
    live.tables.set('events__tally_hold', { ...ev, name: 'events__tally_hold', dependents: [] });
    live.tables.set('totals__tally_next', { ...live.tables.get('totals')!, name: 'totals__tally_next' });
    live.tables.set('totals_mv__tally_next', {
      ...liveView({ name: 'totals_mv__tally_next', target: 'totals__tally_next' } as ViewSpec),
    });
    const crashed: DeploymentRecord = { ...deployments[0]!, id: '20261128065900000_xxxx', status: 'running' };
    const pl = plan(p, live, [crashed, deployments[0]!], true);
    expect(pl.steps.map((s) => s.what)).toEqual([
      'drop totals_mv__tally_next',
      'drop totals__tally_next',
      'rename events__tally_hold back to events',
      'drop database tally__tally_backfill',
    ]);
    expect(pl.notes[0]).toMatch(/did not finish/);
  });

  it('restores a table caught in the middle of a swap from its backup', () => {
    const p = eventsProject();
    const { live, deployments } = deployed(p, { events: 10, totals: 5 });
    const tot = live.tables.get('totals')!;
    live.tables.delete('totals');
    live.tables.set('totals__backup_20261128065900000_xxxx', {
      ...tot,
      name: 'totals__backup_20261128065900000_xxxx',
    });
    const failed: DeploymentRecord = { ...deployments[0]!, id: '20261128065900000_xxxx', status: 'failed' };
    const pl = plan(p, live, [failed, deployments[0]!]);
    expect(kinds(pl)).toEqual(['recover:totals']);
  });

  it('drops backups of earlier deploys', () => {
    const p = eventsProject();
    const { live, deployments } = deployed(p);
    live.tables.set('events__backup_20261127000000000_abcd', {
      ...live.tables.get('events')!,
      name: 'events__backup_20261127000000000_abcd',
    });
    const pl = plan(p, live, deployments);
    expect(kinds(pl)).toEqual(['drop-backup:events']);
    expect(pl.steps[0]!.destructive).toBe(false);
  });

  it('refuses a name taken by something else', () => {
    const p = eventsProject();
    const { live, deployments } = deployed(p);
    live.tables.set('events', { ...live.tables.get('events')!, engine: 'View' });
    expect(() => plan(p, live, deployments)).toThrow(/exists and is a View/);
  });
});
