/**
 * `tally replay <materialized pipe>`: recompute the pipe's target from the whole event log with
 * the pipe as it is now, into a shadow table beside the live one, and compare the two per key.
 *
 *   const r = await replayPipe(project, engine, 'subscription_state_mv', { sample: 5, onProgress });
 *   // r.diff.counts = { added, removed, changed }; the shadow is dropped again
 *   const a = await applyReplay(project, engine, 'subscription_state_mv');   // swap it in, exactly
 *
 * The shadow is filled the way deploy backfills (deploy/backfill.ts): the sources' partitions are
 * hard-linked into a snapshot and the views' own SELECTs run over it, in chunks with progress.
 * Applying reuses deploy's `replace-view` step as it is (deploy/view-steps.ts): the target is
 * recomputed beside the live one while writers keep inserting, and swapped in under a write
 * hold, so a row inserted meanwhile is counted once, by the snapshot or by the views. On a
 * cluster that step needs the sources' writers paused (deploy/cluster-swap.ts).
 */
import type { Engine } from '../clickhouse/engine.ts';
import type { DeployResult } from '../deploy/apply.ts';
import { applyPlan } from '../deploy/apply.ts';
import type { DeployEvent } from '../deploy/apply-context.ts';
import { validateView } from '../deploy/attach.ts';
import {
  type BackfillProgress,
  dropScratchDatabase,
  fillFromSnapshot,
  prepareSnapshots,
  takeSnapshot,
} from '../deploy/backfill.ts';
import { DEPLOYMENTS_TABLE, readDeployments } from '../deploy/bookkeeping.ts';
import {
  createTableSql,
  type DdlContext,
  dropTableSql,
  qualified,
  storageName,
  type ViewSpec,
} from '../deploy/ddl.ts';
import { ddlContextFor, planDeploy } from '../deploy/deploy.ts';
import { acquireDeployLock, type LockOptions } from '../deploy/deploy-lock.ts';
import { desiredState } from '../deploy/desired-state.ts';
import { introspect } from '../deploy/introspect.ts';
import { backupName, newDeployId, nextName, nextPathName, scratchDatabaseName } from '../deploy/names.ts';
import type { Plan, ResourcePlan, Step } from '../deploy/plan-types.ts';
import { fillFromShards, snapshotShards, viewOverShards } from '../deploy/shard-snapshot.ts';
import type { TableSpec } from '../deploy/table-spec.ts';
import { fillingView } from '../deploy/view-query-error.ts';
import { querySourceSwapped } from '../deploy/view-spec.ts';
import { TallyError } from '../errors.ts';
import type { Project } from '../project/model.ts';
import { didYouMean } from '../util/did-you-mean.ts';
import { compareTables, type TargetDiff } from './compare-tables.ts';

/** The shadow table a replay fills: `<target>__tally_replay`. */
export function replayTableName(target: string): string {
  return `${target}__tally_replay`;
}

export interface ReplayOptions {
  /** Samples per kind of difference (default 10). */
  sample?: number;
  /** Rows per INSERT of the fill (default 100 million; smaller gives finer progress). */
  chunkRows?: number;
  onProgress?: (p: BackfillProgress) => void;
  /** The fill is done and the comparison starts (it reports nothing until it is done). */
  onCompare?: () => void;
  /** Keep the shadow table (for inspection); default drop it. */
  keepShadow?: boolean;
}

export interface ReplayResult {
  pipe: string;
  target: string;
  /** The views that feed the target (the pipe's, and any other pipe into the same target). */
  views: string[];
  shadow: string;
  /** Event rows the fill read (the sources' snapshot). */
  rowsRead: number;
  fillMs: number;
  diff: TargetDiff;
  shadowKept: boolean;
}

/** What a replay works on: the pipe's view, every view into its target, the target's table. */
export interface ReplayTarget {
  pipe: string;
  target: string;
  views: ViewSpec[];
  spec: TableSpec;
  ingested: boolean;
  ctx: DdlContext;
}

/** Finds the materialized pipe and its target; a user error when it is not one. */
export function replayTarget(project: Project, engine: Engine, pipe: string): ReplayTarget {
  const ctx = ddlContextFor(project, engine);
  const desired = desiredState(project, ctx);
  const own = desired.views.find((v) => v.pipe === pipe);
  if (!own) {
    const p = project.pipes.get(pipe);
    const materialized = desired.views.map((v) => v.pipe);
    // A data source's name: replay works on the pipes that fill or read it, so name those.
    const feeding = desired.views.filter((v) => v.target === pipe).map((v) => v.pipe);
    const reading = desired.views.filter((v) => v.source === pipe).map((v) => v.pipe);
    const datasource = !p && project.datasources.has(pipe);
    throw new TallyError(
      'not-materialized',
      p?.copy
        ? `pipe ${pipe} is a copy pipe (\`copy: { to: ${p.copy.to} }\`), not a materialized one: its snapshots are written by \`tally snapshot run ${pipe}\`, tick by tick, not replayed`
        : p
          ? `pipe ${pipe} is not materialized (it has no \`materialize: { to }\`): there is no target to replay`
          : datasource
            ? `${pipe} is a data source, not a pipe: replay names the materialized pipe that fills a table${feeding.length > 0 ? ` (${pipe} is filled by ${feeding.join(', ')})` : reading.length > 0 ? ` (materialized pipes reading ${pipe}: ${reading.join(', ')})` : ''}`
            : `there is no pipe ${pipe}${didYouMean(pipe, materialized)}`,
      { hint: `materialized pipes: ${materialized.join(', ') || 'none'}` },
    );
  }
  const ds = desired.datasources.get(own.target);
  if (!ds)
    throw new TallyError('internal', `target ${own.target} of ${pipe} is not a data source`, { exitCode: 2 });
  return {
    pipe,
    target: own.target,
    views: desired.views.filter((v) => v.target === own.target),
    spec: ds.table,
    ingested: ds.ingested,
    ctx,
  };
}

/** Builds the shadow, compares it with the live target, and drops it (unless kept). */
export async function replayPipe(
  project: Project,
  engine: Engine,
  pipe: string,
  opts: ReplayOptions = {},
): Promise<ReplayResult> {
  const t = replayTarget(project, engine, pipe);
  await checkLiveTarget(engine, t);
  const { ctx, spec } = t;
  const shadow = replayTableName(t.target);
  const sources = [...new Set(t.views.map((v) => v.source))];
  // On a cluster the comparison runs on this node: the shadow is a plain table of this node, and
  // the node first fetches every part the other replicas have of what it reads.
  const local: DdlContext = { ...ctx, cluster: undefined, sharded: undefined };
  if (ctx.cluster)
    for (const table of [...sources, t.target])
      await engine.command(`SYSTEM SYNC REPLICA ${qualified(ctx, storageName(table, ctx))}`);
  await engine.command(dropTableSql(shadow, local));
  await engine.command(createTableSql(spec, local, shadow));
  // Checked against the shadow: the pipe as it is now must fit the table as the project has it.
  const columns = new Map<string, Awaited<ReturnType<typeof validateView>>>();
  try {
    for (const v of t.views) columns.set(v.name, await validateView(engine, v, shadow));
  } catch (err) {
    await engine.command(dropTableSql(shadow, local)).catch(() => {});
    throw err;
  }
  const started = performance.now();
  let rowsRead = 0;
  try {
    try {
      const names = (v: ViewSpec) => columns.get(v.name)!.map((c) => c.name);
      if (ctx.sharded) {
        // Several shards: every node copies its shard's rows; the shadow is filled from all.
        for (const s of sources) await snapshotShards({ engine, ctx }, s);
        for (const v of t.views) {
          const fill = {
            label: v.name,
            source: v.source,
            into: shadow,
            columns: names(v),
            query: viewOverShards(ctx, v),
          };
          rowsRead += await fillingView(
            v,
            fillFromShards({ engine, ctx }, fill, opts.onProgress ?? (() => {})),
          );
        }
      } else {
        const pre = await prepareSnapshots(engine, ctx, sources);
        const scratch = scratchDatabaseName(ctx.database);
        for (const v of t.views) {
          // No hold: the snapshot is the log as of now; the diff says so (writers may add more).
          const snapshot = await takeSnapshot(engine, ctx, pre.get(v.source)!, v.source);
          const filled = await fillingView(
            v,
            fillFromSnapshot(
              engine,
              snapshot,
              qualified(ctx, shadow),
              names(v),
              querySourceSwapped(v, ctx.database, scratch),
              {
                label: v.name,
                ...(opts.chunkRows ? { chunkRows: opts.chunkRows } : {}),
                ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
              },
            ),
          );
          rowsRead += filled.rows;
        }
      }
    } finally {
      await dropScratchDatabase(engine, ctx).catch(() => {});
    }
    const fillMs = performance.now() - started;
    opts.onCompare?.();
    const diff = await compareTables(engine, qualified(ctx, t.target), qualified(ctx, shadow), spec, {
      sample: opts.sample ?? 10,
    });
    return {
      pipe,
      target: t.target,
      views: t.views.map((v) => v.name),
      shadow,
      rowsRead,
      fillMs,
      diff,
      shadowKept: Boolean(opts.keepShadow),
    };
  } finally {
    if (!opts.keepShadow) await engine.command(dropTableSql(shadow, local)).catch(() => {});
  }
}

export interface ApplyReplayOptions {
  onProgress?: (e: DeployEvent) => void;
  chunkRows?: number;
  holdTimeoutMs?: number;
  lock?: LockOptions;
}

/**
 * Recomputes the target with the current logic and swaps it in: deploy's replace-view step for
 * this one target, applied and recorded like a deploy (so the next `tally deploy` sees the views
 * as applied). The old table stays as `<target>__backup_<deploy id>` until the next successful
 * deploy, as after any recompute. Other pending changes of the project are left to `tally
 * deploy`; a change to the target's own table or a view that does not exist yet must be deployed first.
 */
export async function applyReplay(
  project: Project,
  engine: Engine,
  pipe: string,
  opts: ApplyReplayOptions = {},
): Promise<DeployResult> {
  const t = replayTarget(project, engine, pipe);
  if (t.ingested) {
    throw new TallyError(
      'replay-ingested-target',
      `data source ${t.target} also takes events from Kafka: recomputing it from its views would lose them`,
      { hint: 'replay only targets that are filled by materialized pipes alone' },
    );
  }
  // Under the deploy lock: a deploy running meanwhile would see the swap half done.
  const lock = await acquireDeployLock(engine, t.ctx, newDeployId(), opts.lock);
  try {
    return await replayUnderLock(project, engine, pipe, t, opts);
  } finally {
    await lock.release().catch(() => {});
  }
}

async function replayUnderLock(
  project: Project,
  engine: Engine,
  pipe: string,
  t: ReturnType<typeof replayTarget>,
  opts: ApplyReplayOptions,
): Promise<DeployResult> {
  await checkLiveTarget(engine, t);
  const base = await planDeploy(project, engine);
  const viewNames = new Set(t.views.map((v) => v.name));
  const mine = (s: Step) =>
    s.resource === t.target || viewNames.has(s.resource) || (s.also ?? []).some((a) => viewNames.has(a));
  // A backup of an earlier recompute is the next deploy's to drop; anything else must deploy first.
  const blocking = base.steps.filter((s) => mine(s) && s.kind !== 'replace-view' && s.kind !== 'drop-backup');
  if (blocking.length > 0) {
    throw new TallyError(
      'replay-needs-deploy',
      `${t.target} or its views need a deploy first: ${blocking.map((s) => s.what).join('; ')}`,
      { hint: 'run `tally deploy` (it recomputes a target whose view changed by itself), then replay' },
    );
  }
  const recover = base.steps.filter((s) => s.kind === 'recover' || s.kind === 'create-bookkeeping');
  const planned = base.steps.find((s) => s.kind === 'replace-view' && s.resource === t.target);
  const replace: Step = planned ?? {
    n: 0,
    kind: 'replace-view',
    resource: t.target,
    resourceKind: 'datasource',
    also: t.views.map((v) => v.name),
    what: `recompute ${t.target} from ${[...new Set(t.views.map((v) => v.source))].join(', ')} with ${t.views.map((v) => v.name).join(', ')}, then swap it in (old one kept as ${backupName(t.target, base.deployId)})`,
    why: `tally replay ${pipe}`,
    destructive: false,
    sql: [createTableSql(t.spec, t.ctx, nextName(t.target), nextPathName(t.target, base.deployId))],
    views: t.views,
    targetSpec: t.spec,
  };
  const steps = [...recover, replace].map((s, i) => ({ ...s, n: i + 1 }));
  const n = steps.length;
  const resources: ResourcePlan[] = [
    { name: t.target, kind: 'datasource', action: 'replace', steps: [n] },
    ...t.views.map((v): ResourcePlan => ({ name: v.name, kind: 'view', action: 'replace', steps: [n] })),
  ];
  // One recompute, not a deploy of the project: endpoints and the like stay as last deployed.
  const plan: Plan = {
    ...base,
    steps,
    resources,
    changes: steps.length,
    notes: [],
    runtimeChanges: [],
    recordsRuntime: false,
  };
  const live = await introspect(engine);
  const deployments = live.tables.has(DEPLOYMENTS_TABLE) ? await readDeployments(engine, t.ctx) : [];
  return applyPlan(
    plan,
    engine,
    t.ctx,
    live.databaseEngine === 'Atomic',
    deployments.find((d) => d.status !== 'running'),
    {
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.chunkRows ? { chunkRows: opts.chunkRows } : {}),
      ...(opts.holdTimeoutMs !== undefined ? { holdTimeoutMs: opts.holdTimeoutMs } : {}),
    },
  );
}

/** The live target must exist with the columns the project gives it (else: deploy first). */
async function checkLiveTarget(engine: Engine, t: ReplayTarget): Promise<void> {
  const live = await introspect(engine);
  const table = live.tables.get(t.target);
  if (!table) {
    throw new TallyError(
      'replay-needs-deploy',
      `data source ${t.target} is not deployed in \`${t.ctx.database}\``,
      {
        hint: 'run `tally deploy` first',
      },
    );
  }
  const have = table.columns.map((c) => `${c.name} ${c.type}`).join(', ');
  const want = t.spec.columns.map((c) => `${c.name} ${c.type}`).join(', ');
  if (norm(have) !== norm(want)) {
    const live = new Map(table.columns.map((c) => [c.name, c.type]));
    const wanted = new Map(t.spec.columns.map((c) => [c.name, c.type]));
    const differences = [
      ...t.spec.columns.filter((c) => !live.has(c.name)).map((c) => `missing column ${c.name}`),
      ...table.columns
        .filter((c) => !wanted.has(c.name))
        .map((c) => `column ${c.name} is not in the project`),
      ...t.spec.columns
        .filter((c) => live.has(c.name) && norm(live.get(c.name)!) !== norm(c.type))
        .map((c) => `column ${c.name} is ${live.get(c.name)}, the project says ${c.type}`),
    ];
    throw new TallyError(
      'replay-needs-deploy',
      `the live ${t.target} differs from the project: ${differences.length > 0 ? differences.join('; ') : `column order (${have})`}`,
      { hint: 'run `tally deploy` to change the table, then replay' },
    );
  }
}

function norm(s: string): string {
  return s.replace(/\s+/g, '');
}
