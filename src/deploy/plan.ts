/**
 * The planner: the project (what is wanted), the live database (what is there) and the last
 * recorded deployment (what Tally applied) in, ordered steps out. Pure: no I/O, so it is
 * unit-tested on fixtures.
 *
 * Order: recovery of an interrupted deploy (recover.ts), bookkeeping, views of removed pipes, tables (create,
 * alter, rebuild), views in dependency order (create + backfill, or recompute of a target),
 * removed data sources, old backups. Beside the steps: what changes without DDL (endpoints,
 * copy pipes, ingestion settings; runtime-changes.ts).
 */

import { shardTableName } from '../clickhouse/replicated-engine.ts';
import { TallyError } from '../errors.ts';
import { plural } from '../util/plural.ts';
import type { DeploymentRecord } from './bookkeeping.ts';
import { createDeploymentsTableSql, DEPLOYMENTS_TABLE } from './bookkeeping.ts';
import { runsOn } from './cluster-plan.ts';
import {
  alterSql,
  createTableSql,
  createTableSqls,
  createViewSql,
  type DdlContext,
  dropTableSql,
  qualified,
  redistributeSql,
  renameSql,
  storageName,
  type ViewSpec,
} from './ddl.ts';
import type { DesiredDatasource, DesiredState } from './desired-state.ts';
import type { LiveState, LiveTable } from './introspect.ts';
import {
  backupName,
  holdName,
  ingestStateOf,
  nameRole,
  nextName,
  nextPathName,
  scratchDatabaseName,
  seenTableName,
  shadowViewName,
} from './names.ts';
import {
  datasourceKey,
  type Plan,
  type ResourceAction,
  type ResourceKind,
  type ResourcePlan,
  type Step,
  viewKey,
} from './plan-types.ts';
import { planRecovery } from './recover.ts';
import { compareRuntime } from './runtime-changes.ts';
import { diffTable, type TableDiff } from './table-diff.ts';
import type { TableSpec } from './table-spec.ts';

export interface PlanInput {
  desired: DesiredState;
  live: LiveState;
  /** Newest first. */
  deployments: readonly DeploymentRecord[];
  ctx: DdlContext;
  deployId: string;
  server: string;
  scratchDatabaseExists: boolean;
}

export const MERGE_TREE =
  /^(Replicated)?(|Replacing|Aggregating|Summing|Collapsing|VersionedCollapsing|Graphite)MergeTree$/;

export function buildPlan(input: PlanInput): Plan {
  const { desired, live, ctx, deployId } = input;
  const steps: Step[] = [];
  const notes: string[] = [];
  const add = (s: Omit<Step, 'n'>): number => {
    steps.push({ ...s, n: steps.length + 1 });
    return steps.length;
  };
  const latest = input.deployments[0];
  const applied = input.deployments.find((d) => d.status !== 'running');
  const appliedSpecs = applied?.resourceSpecs ?? {};
  const appliedHashes = applied?.resourceHashes ?? {};

  // 1. Recovery ------------------------------------------------------------------------------
  const recovery = planRecovery(live, input.deployments, ctx, input.scratchDatabaseExists);
  for (const s of recovery.steps) add(s);
  notes.push(...recovery.notes);
  const tables = recovery.tables;

  // 2. Bookkeeping ---------------------------------------------------------------------------
  if (!tables.has(DEPLOYMENTS_TABLE)) {
    add({
      kind: 'create-bookkeeping',
      resource: DEPLOYMENTS_TABLE,
      resourceKind: 'tally',
      what: `create table ${DEPLOYMENTS_TABLE}`,
      why: 'first deploy into this database',
      destructive: false,
      sql: [createDeploymentsTableSql(ctx)],
    });
  }

  // 3. Views of pipes that are gone (before tables change under them) ------------------------
  const wantedViews = new Map(desired.views.map((v) => [v.name, v]));
  const droppedViews: string[] = [];
  for (const t of tables.values()) {
    if (t.engine !== 'MaterializedView' || nameRole(t.name).role !== 'other' || wantedViews.has(t.name))
      continue;
    if (!(viewKey(t.name) in appliedSpecs)) {
      notes.push(
        `materialized view ${t.name} is not part of the project and was not created by Tally; left alone`,
      );
      continue;
    }
    droppedViews.push(t.name);
    add({
      kind: 'drop-view',
      resource: t.name,
      resourceKind: 'view',
      what: `drop view ${t.name}`,
      why: `its pipe is gone or no longer materialized; ${t.viewTarget ?? 'its target'} keeps its rows and stops updating`,
      destructive: false,
      sql: [dropTableSql(t.name, ctx)],
      names: [t.name],
    });
  }

  // 4. Decide the views first: a recomputed target is built fresh, so its own table steps fold in.
  const created = new Set<string>();
  for (const ds of desired.datasources.values()) if (!tables.has(ds.name)) created.add(ds.name);
  const recompute = new Set<string>();
  const recomputeWhy = new Map<string, string>();
  const additive = new Set<string>();
  for (const v of desired.views) {
    const lv = tables.get(v.name);
    if (lv && lv.engine !== 'MaterializedView') {
      throw new TallyError(
        'name-taken',
        `${ctx.database}.${v.name} exists and is a ${lv.engine}, not the materialized view of pipe ${v.pipe}`,
        {
          hint: 'rename the pipe, or drop that object',
        },
      );
    }
    if (!lv) {
      const targetRows = tables.get(v.target)?.rows ?? 0;
      if (created.has(v.target) || targetRows === 0) additive.add(v.name);
      else {
        recompute.add(v.target);
        recomputeWhy.set(
          v.target,
          `new view ${v.name} into ${v.target}, which already holds ${plural(targetRows, 'row')}`,
        );
      }
      continue;
    }
    const recorded = appliedHashes[viewKey(v.name)];
    const src = tables.get(v.source);
    const bound = (src?.renamedBack || src?.dependents.includes(v.name)) ?? false;
    let why: string | undefined;
    if (created.has(v.target)) why = `${v.target} is new and empty`;
    else if (recorded === undefined) why = `view ${v.name} exists but no deploy recorded it complete`;
    else if (recorded !== v.hash) why = `pipe ${v.pipe} changed`;
    else if (lv.viewTarget !== undefined && lv.viewTarget !== v.target)
      why = `target ${lv.viewTarget} -> ${v.target}`;
    else if (!bound) why = `view ${v.name} no longer fires on inserts into ${v.source}`;
    if (why) {
      recompute.add(v.target);
      if (!recomputeWhy.has(v.target)) recomputeWhy.set(v.target, why);
    }
  }
  // A view's target whose table must be rebuilt is recomputed instead where an INSERT does not
  // fire the views of tables that views write into (18.16): the rebuild's copy view would miss
  // every row the target's views write while the copy runs.
  if (!ctx.capabilities.viewsFireOnViewWrites) {
    // One view per target is enough to tell (and to name in the reason).
    const byTarget = new Map(desired.views.map((v) => [v.target, v]));
    for (const v of byTarget.values()) {
      const lt = tables.get(v.target);
      const ds = desired.datasources.get(v.target);
      if (recompute.has(v.target) || !lt || !ds) continue;
      const applied = (appliedSpecs[datasourceKey(ds.name)] as { table?: TableSpec } | undefined)?.table;
      const diff = diffTable(ds.table, lt, applied, ctx.capabilities, ctx.cluster !== undefined);
      if (diff.rebuild.length === 0) continue;
      recompute.add(v.target);
      recomputeWhy.set(
        v.target,
        `${diff.rebuild.join('; ')}: rebuilt from its views' sources, as ClickHouse ${ctx.capabilities.version} would not copy the rows ${v.pipe} writes during a copy`,
      );
    }
  }
  for (let grew = true; grew; ) {
    grew = false;
    for (const v of desired.views) {
      if (recompute.has(v.source) && !recompute.has(v.target)) {
        recompute.add(v.target);
        recomputeWhy.set(v.target, `its source ${v.source} is recomputed`);
        grew = true;
      }
    }
  }
  for (const v of desired.views) if (recompute.has(v.target)) additive.delete(v.name);

  // 5. Tables ----------------------------------------------------------------------------------
  const dsSteps = new Map<string, number[]>();
  const dsAction = new Map<string, ResourceAction>();
  const note = (ds: string, n: number, action: ResourceAction) => {
    dsSteps.set(ds, [...(dsSteps.get(ds) ?? []), n]);
    const rank: ResourceAction[] = ['unchanged', 'alter', 'rebuild', 'replace', 'create', 'drop'];
    const cur = dsAction.get(ds) ?? 'unchanged';
    if (rank.indexOf(action) > rank.indexOf(cur)) dsAction.set(ds, action);
  };
  const folded = new Map<string, string[]>();
  for (const ds of desired.datasources.values()) {
    const lt = tables.get(ds.name);
    if (!lt) {
      const n = add({
        kind: 'create-table',
        resource: ds.name,
        resourceKind: 'datasource',
        what: `create table ${ds.name}${tables.has(ds.quarantine.name) ? '' : ` and ${ds.quarantine.name}`}`,
        why: 'new data source',
        destructive: false,
        sql: [
          ...createTableSqls(ds.table, ctx, ds.shardingKey),
          ...(tables.has(ds.quarantine.name) ? [] : [createTableSql(ds.quarantine, ctx)]),
        ],
        tables: tables.has(ds.quarantine.name) ? [ds.table] : [ds.table, ds.quarantine],
      });
      note(ds.name, n, 'create');
    } else {
      checkTable(lt, ds.name, ctx);
      const appliedTable = (appliedSpecs[datasourceKey(ds.name)] as { table?: TableSpec } | undefined)?.table;
      const diff = diffTable(ds.table, lt, appliedTable, ctx.capabilities, ctx.cluster !== undefined);
      if (recompute.has(ds.name)) {
        if (diff.rebuild.length > 0 || diff.alters.length > 0)
          folded.set(ds.name, [...diff.rebuild, ...diff.alters.map((a) => a.what)]);
      } else if (diff.rebuild.length > 0) {
        note(ds.name, rebuildStep(ds, lt, diff), 'rebuild');
      } else if (diff.alters.length > 0) {
        const loses = diff.alters.flatMap((a) => (a.loses ? [a.loses] : []));
        const n = add({
          kind: 'alter-table',
          resource: ds.name,
          resourceKind: 'datasource',
          what: diff.alters.map((a) => a.what).join('; '),
          why: 'the data source file changed',
          // Dropping a column of an empty table loses nothing.
          destructive: loses.length > 0 && lt.rows > 0,
          ...(loses.length > 0 ? { loses } : {}),
          sql: [
            ...diff.alters.map((a) => alterSql(storageName(ds.name, ctx), a.command, ctx)),
            ...(ctx.sharded ? redistributeSql(ds.name, ctx, ds.shardingKey) : []),
          ],
          table: ds.name,
          alters: diff.alters,
        });
        note(ds.name, n, 'alter');
      } else if (ctx.sharded && lt.distributed && staleDistribution(lt, ds.shardingKey)) {
        // A redistribute that did not finish, or a new sharding key (rows already stored stay
        // where they are; new ones follow the new key).
        const n = add({
          kind: 'alter-table',
          resource: ds.name,
          resourceKind: 'datasource',
          what: `make the Distributed table ${ds.name} again over its shards' tables`,
          why: "its columns or sharding key differ from the shards' tables and the project",
          destructive: false,
          sql: redistributeSql(ds.name, ctx, ds.shardingKey),
          table: ds.name,
          alters: [],
        });
        note(ds.name, n, 'alter');
      }
      const lq = tables.get(ds.quarantine.name);
      if (!lq) {
        note(
          ds.name,
          add({
            kind: 'create-table',
            resource: ds.name,
            resourceKind: 'datasource',
            what: `create table ${ds.quarantine.name}`,
            why: 'every data source has a quarantine table',
            destructive: false,
            sql: [createTableSql(ds.quarantine, ctx)],
            tables: [ds.quarantine],
          }),
          'alter',
        );
      } else {
        const appliedQ = (appliedSpecs[datasourceKey(ds.name)] as { quarantine?: TableSpec } | undefined)
          ?.quarantine;
        const qd = diffTable(ds.quarantine, lq, appliedQ, ctx.capabilities, ctx.cluster !== undefined);
        const alters = qd.alters.filter((a) => !a.loses);
        if (alters.length > 0) {
          note(
            ds.name,
            add({
              kind: 'alter-table',
              resource: ds.name,
              resourceKind: 'datasource',
              what: `${ds.quarantine.name}: ${alters.map((a) => a.what).join('; ')}`,
              why: "Tally's quarantine layout changed",
              destructive: false,
              // Sharded: the table is one replicated table on every node, and ON CLUSTER would
              // send the ALTER to a replica of each shard; one replica passes it to the others.
              sql: alters.map((a) =>
                alterSql(ds.quarantine.name, a.command, ctx.sharded ? { ...ctx, cluster: undefined } : ctx),
              ),
              table: ds.quarantine.name,
              alters,
            }),
            'alter',
          );
        }
      }
    }
  }

  function rebuildStep(ds: DesiredDatasource, lt: LiveTable, diff: TableDiff): number {
    const lost = diff.droppedColumns.map((c) => `column ${c} of ${ds.name} (${plural(lt.rows, 'row')})`);
    return add({
      kind: 'rebuild-table',
      resource: ds.name,
      resourceKind: 'datasource',
      what: `rebuild ${ds.name}: copy ${lt.rows} rows into a new table and swap it in (old one kept as ${backupName(storageName(ds.name, ctx), deployId)})`,
      why: diff.rebuild.join('; '),
      destructive: lost.length > 0 && lt.rows > 0,
      ...(lost.length > 0 ? { loses: lost } : {}),
      sql: [
        createTableSql(ds.table, ctx, nextName(ds.name)),
        `-- copy ${ds.name} from a snapshot of its partitions (hard links); then hold it (RENAME TO ${holdName(ds.name)}) and copy the partitions written meanwhile`,
        renameSql(
          [
            [holdName(ds.name), backupName(ds.name, deployId)],
            [nextName(ds.name), ds.name],
          ],
          ctx,
        ),
      ],
      rows: lt.rows,
      tables: [ds.table],
      shardingKey: ds.shardingKey,
    });
  }

  // 6. Views -----------------------------------------------------------------------------------
  const viewSteps = new Map<string, number[]>();
  const viewAction = new Map<string, ResourceAction>();
  const recomputed = new Set<string>();
  for (const v of desired.views) {
    if (additive.has(v.name)) {
      const rows = tables.get(v.source)?.rows ?? 0;
      const a = add({
        kind: 'create-view',
        resource: v.name,
        resourceKind: 'view',
        what: `create view ${v.name}: ${v.source} -> ${v.target}`,
        why: tables.has(v.name) ? 'recreate' : `new materialized pipe ${v.pipe}`,
        destructive: false,
        sql: ctx.embedded
          ? [
              `-- close the write gate: ingestion in this process waits until the backfill is done`,
              createViewSql(v, ctx),
            ]
          : [
              `-- snapshot ${v.source}'s partitions (hard links); hold it: RENAME TO ${holdName(v.source)} (inserts meanwhile are refused and retried), refresh the partitions written since`,
              createViewSql(v, ctx),
              `-- release: RENAME ${holdName(v.source)} back to ${v.source}`,
            ],
        view: v,
      });
      const b = add({
        kind: 'backfill',
        resource: v.name,
        resourceKind: 'view',
        what: `backfill ${v.target} from the ${plural(rows, 'row')} ${v.source} held when the view was attached`,
        why: 'a new view must see the rows already there, exactly once',
        destructive: false,
        sql: ctx.embedded
          ? [
              `INSERT INTO ${qualified(ctx, v.target)} SELECT ... FROM ${qualified(ctx, v.source)}`,
              '-- open the write gate',
            ]
          : [
              `INSERT INTO ${qualified(ctx, v.target)} SELECT ... FROM <the snapshot of ${v.source} at the hold>`,
            ],
        rows,
        view: v,
      });
      viewSteps.set(v.name, [a, b]);
      viewAction.set(v.name, 'create');
      continue;
    }
    if (!recompute.has(v.target)) {
      viewAction.set(v.name, 'unchanged');
      continue;
    }
    if (recomputed.has(v.target)) continue;
    recomputed.add(v.target);
    const into = desired.views.filter((w) => w.target === v.target);
    const ds = desired.datasources.get(v.target);
    if (!ds)
      throw new TallyError(
        'unknown-target',
        `pipe ${v.pipe} materializes into ${v.target}, which is not a data source`,
      );
    // Rows read: each view reads its source (progress counts them all); shown per source, once.
    const rows = into.reduce((sum, w) => sum + (tables.get(w.source)?.rows ?? 0), 0);
    const sources = [...new Set(into.map((w) => w.source))]
      .map((s) => `${s} (${plural(tables.get(s)?.rows ?? 0, 'row')})`)
      .join(', ');
    const lt = tables.get(v.target);
    const extra = folded.get(v.target);
    const n = add({
      kind: 'replace-view',
      resource: v.target,
      resourceKind: 'datasource',
      also: into.map((w) => w.name),
      what: `recompute ${v.target} from ${sources} with view${into.length > 1 ? 's' : ''} ${into.map((w) => w.name).join(', ')}, then swap it in (old one kept as ${backupName(storageName(v.target, ctx), deployId)})`,
      why: `${recomputeWhy.get(v.target) ?? 'changed'}${extra ? `; also ${extra.join('; ')}` : ''}`,
      destructive: ds.ingested && (lt?.rows ?? 0) > 0,
      ...(ds.ingested && (lt?.rows ?? 0) > 0
        ? {
            loses: [
              `rows of ${v.target} that came from its Kafka topic, not from a view: the recompute keeps only what the views produce (${v.target} holds ${plural(lt?.rows ?? 0, 'row')} now; which came from Kafka cannot be told apart)`,
            ],
          }
        : {}),
      sql: [
        createTableSql(ds.table, ctx, nextName(v.target)),
        ...into.map(
          (w) =>
            `-- hold ${w.source}; attach ${shadowViewName(w.name)} TO ${nextName(v.target)}; release; backfill from its snapshot at the hold`,
        ),
        `-- hold again; swap: ${renameSql(
          [
            [v.target, backupName(v.target, deployId)],
            [nextName(v.target), v.target],
          ],
          ctx,
        )}; attach ${into.map((w) => w.name).join(', ')} TO ${v.target}; release`,
      ],
      rows,
      views: into,
      targetSpec: ds.table,
      shardingKey: ds.shardingKey,
    });
    note(v.target, n, 'rebuild');
    for (const w of into) {
      viewSteps.set(w.name, [n]);
      viewAction.set(w.name, tables.has(w.name) ? 'replace' : 'create');
    }
  }

  // 7. Data sources that are gone ---------------------------------------------------------------
  const droppedDs: string[] = [];
  const quarantineNames = new Set([...desired.datasources.values()].map((d) => d.quarantine.name));
  for (const t of tables.values()) {
    if (t.engine === 'MaterializedView' || nameRole(t.name).role !== 'other') continue;
    if (desired.datasources.has(t.name) || quarantineNames.has(t.name) || wantedViews.has(t.name)) continue;
    const spec = appliedSpecs[datasourceKey(t.name)] as { quarantine?: TableSpec } | undefined;
    if (!spec) {
      if (!isQuarantineOfRecorded(t.name, appliedSpecs)) {
        notes.push(
          `${t.engine === 'View' ? 'view' : 'table'} ${t.name} is not part of the project and was not created by Tally; left alone`,
        );
      }
      continue;
    }
    const q = spec.quarantine?.name;
    const lq = q ? tables.get(q) : undefined;
    const state = ingestStateOf(t.name, tables.keys());
    droppedDs.push(t.name);
    add({
      kind: 'drop-table',
      resource: t.name,
      resourceKind: 'datasource',
      what: `drop table ${t.name}${lq ? ` and ${lq.name}` : ''}${state.tables.length > 0 ? ', and its dedup keys' : ''}`,
      why: 'its data source file is gone',
      // An empty data source (and quarantine) loses nothing: no --allow-destructive needed.
      destructive: t.rows > 0 || (lq?.rows ?? 0) > 0,
      loses: [
        `data source ${t.name}: ${plural(t.rows, 'row')}`,
        ...(lq ? [`${lq.name}: ${plural(lq.rows, 'row')}`] : []),
      ],
      // Sharded: the shards' tables first, so a failure half-way leaves the Distributed table
      // (which the next plan still sees as the data source, and drops again).
      sql: [
        ...(ctx.sharded ? [dropTableSql(shardTableName(t.name), ctx)] : []),
        dropTableSql(t.name, ctx),
        ...(lq ? [dropTableSql(lq.name, ctx)] : []),
        // Its dedup keys and marks: a data source created again under the name starts clean.
        ...[...state.views, ...state.tables].map((n) => dropTableSql(n, ctx)),
        ...(ctx.sharded && state.tables.includes(seenTableName(t.name))
          ? [dropTableSql(shardTableName(seenTableName(t.name)), ctx)]
          : []),
      ],
      names: [t.name, ...(lq ? [lq.name] : [])],
      rows: t.rows,
    });
  }

  // 8. Backups of earlier deploys -----------------------------------------------------------------
  for (const t of tables.values()) {
    const role = nameRole(t.name);
    if (role.role !== 'backup' || role.deployId === deployId) continue;
    add({
      kind: 'drop-backup',
      resource: role.of,
      resourceKind: 'datasource',
      what: `drop backup ${t.name} (${plural(t.rows, 'row')})`,
      why: `kept from deployment ${role.deployId} until a later deploy succeeds`,
      destructive: false,
      sql: [dropTableSql(t.name, ctx)],
      names: [t.name],
    });
  }

  // Resources -------------------------------------------------------------------------------------
  const resources: ResourcePlan[] = [];
  const push = (name: string, kind: ResourceKind, action: ResourceAction, ns: number[]) =>
    resources.push({ name, kind, action, steps: ns });
  for (const ds of desired.datasources.values()) {
    push(ds.name, 'datasource', dsAction.get(ds.name) ?? 'unchanged', dsSteps.get(ds.name) ?? []);
  }
  for (const v of desired.views)
    push(v.name, 'view', viewAction.get(v.name) ?? 'unchanged', viewSteps.get(v.name) ?? []);
  for (const name of droppedViews)
    push(
      name,
      'view',
      'drop',
      steps.filter((s) => s.kind === 'drop-view' && s.resource === name).map((s) => s.n),
    );
  for (const name of droppedDs)
    push(
      name,
      'datasource',
      'drop',
      steps.filter((s) => s.kind === 'drop-table' && s.resource === name).map((s) => s.n),
    );

  // Runtime resources: no step, compared with what the applied deployment recorded ------------
  const runtime = compareRuntime(desired.resourceSpecs, applied?.resourceSpecs);
  if (runtime.firstRecorded) {
    notes.push(
      `endpoints, copy pipes and ingestion settings are not in the record of deployment ${applied!.id} (an earlier Tally): this deploy records them as they are, and later plans list their changes`,
    );
  }

  if (ctx.cluster) for (const s of steps) annotateForCluster(s, ctx, deployId);
  return {
    deployId,
    database: ctx.database,
    server: input.server,
    ...(ctx.cluster ? { cluster: ctx.cluster } : {}),
    steps,
    resources,
    changes: steps.length,
    notes,
    runtimeChanges: runtime.changes,
    recordsRuntime: true,
    projectHash: desired.projectHash,
    resourceHashes: desired.resourceHashes,
    resourceSpecs: desired.resourceSpecs,
    ...(latest
      ? { lastDeployment: { id: latest.id, status: latest.status, startedAt: latest.startedAt } }
      : {}),
  };
}

function checkTable(lt: LiveTable, name: string, ctx: DdlContext): void {
  if (!MERGE_TREE.test(lt.engine)) {
    throw new TallyError(
      'name-taken',
      `${ctx.database}.${name} exists and is a ${lt.engine}, not the table of data source ${name}`,
      {
        hint: 'drop or rename that object, or rename the data source',
      },
    );
  }
}

function isQuarantineOfRecorded(name: string, specs: Record<string, unknown>): boolean {
  return Object.values(specs).some(
    (s) => (s as { quarantine?: { name?: string } })?.quarantine?.name === name,
  );
}

/**
 * The outline of a rebuild or recompute on a cluster (cluster-swap.ts): the same protocol with
 * one snapshot per node (replicas) or a copy per shard (shards).
 */
function swapOutline(step: Step, ctx: DdlContext, deployId: string): void {
  const spec =
    step.kind === 'rebuild-table'
      ? step.tables?.[0]
      : step.kind === 'replace-view'
        ? step.targetSpec
        : undefined;
  if (!spec) return;
  const t = spec.name;
  const store = (x: string) => storageName(x, ctx);
  const reads = step.views ? [...new Set(step.views.map((v) => v.source))] : [t];
  step.sql = [
    `-- wait for INSERTs into ${reads.join(', ')} on any node; their block numbers must not move for 1 s; ${ctx.sharded ? 'each shard copies its rows ON CLUSTER' : 'SYSTEM SYNC REPLICA, snapshot on this node'}`,
    createTableSql(spec, ctx, nextName(t), nextPathName(t, deployId)),
    `INSERT INTO ${qualified(ctx, nextName(t))} SELECT ... FROM ${ctx.sharded ? "<the shards' copies>" : `<snapshot of ${reads.join(', ')}>`}; -- block numbers unchanged, or drop it and stop`,
    `${step.views ? `-- drop the views into ${t} ON CLUSTER; ` : ''}${renameSql(
      [
        [store(t), backupName(store(t), deployId)],
        [store(nextName(t)), store(t)],
      ],
      ctx,
    )}${ctx.sharded ? `; -- then ${t}'s Distributed table made again over them` : ''}`,
    ...(step.views ?? []).map((v) => createViewSql(v, ctx)),
  ];
}

/** Whether a sharded data source's Distributed table lags its shards' columns or the wanted sharding key. */
function staleDistribution(lt: LiveTable, shardingKey: string): boolean {
  const flat = (s: string) => s.replace(/[`\s]/g, '');
  const columns = lt.columns.map((c) => `${c.name} ${c.type}`).join(', ');
  return (
    lt.distributed!.columns !== columns || !flat(lt.distributed!.engineFull).endsWith(`${flat(shardingKey)})`)
  );
}

/** Where each step runs on a cluster, and the protocols that replace the hold there. */
function annotateForCluster(step: Step, ctx: DdlContext, deployId: string): void {
  step.runsOn = runsOn(step.kind, ctx.cluster!, ctx.sharded);
  swapOutline(step, ctx, deployId);
  if (ctx.sharded) {
    if (step.kind === 'create-view' && step.view) {
      const v = step.view;
      step.sql = [
        `-- wait for INSERTs into ${v.source} on any node; its block numbers on every shard must not move for 1 s`,
        `CREATE TABLE ${qualified({ database: scratchDatabaseName(ctx.database) }, `${v.source}__snapshot`)} ON CLUSTER ${ctx.cluster} ENGINE = MergeTree ORDER BY tuple() AS SELECT * FROM ${qualified(ctx, shardTableName(v.source))}; -- and a Distributed table over them`,
        createViewSql(v, ctx),
        `-- wait for INSERTs running on any node; block numbers again: unchanged, or drop the view and stop`,
      ];
    }
    if (step.kind === 'backfill' && step.view) {
      step.sql = [
        `INSERT INTO ${qualified(ctx, step.view.target)} SELECT ... FROM ${qualified({ database: scratchDatabaseName(ctx.database) }, step.view.source)}; -- Distributed over the shards' copies`,
      ];
    }
    return;
  }
  if (step.kind === 'create-view' && step.view) {
    const v = step.view;
    step.sql = [
      `SYSTEM SYNC REPLICA ${qualified(ctx, v.source)}; -- block numbers of ${v.source} on every node; snapshot its parts on this node`,
      createViewSql(v, ctx),
      `-- wait for INSERTs running on any node; block numbers again: unchanged, or drop the view and try again`,
    ];
  }
}

export type { ViewSpec };
