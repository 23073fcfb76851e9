/**
 * `tally deploy`: plan the project against the live database, and apply the plan.
 *
 *   const plan = await planDeploy(project, engine);            // changes nothing
 *   const result = await applyDeploy(project, engine, { allowDestructive, onProgress });
 */

import type { Capabilities } from '../clickhouse/capabilities.ts';
import type { Engine } from '../clickhouse/engine.ts';
import { isShardedCluster } from '../clickhouse/replicated-engine.ts';
import { TallyError } from '../errors.ts';
import type { Project } from '../project/model.ts';
import { type ApplyOptions, applyPlan, type DeployResult, refusedByError } from './apply.ts';
import { DEPLOYMENTS_TABLE, type DeploymentRecord, readDeployments } from './bookkeeping.ts';
import { checkColumnTypes } from './column-types.ts';
import type { DdlContext, ViewSpec } from './ddl.ts';
import { stringLiteral, withLiveDatabase } from './ddl.ts';
import { acquireDeployLock, type DeployLock, type LockOptions } from './deploy-lock.ts';
import { type DesiredState, desiredState } from './desired-state.ts';
import { checkEndpointSettings } from './endpoint-settings.ts';
import { introspect, type LiveState } from './introspect.ts';
import { convertingRebuilds, markLossyConversions } from './lossy-conversions.ts';
import { newDeployId, scratchDatabaseName } from './names.ts';
import { buildPlan } from './plan.ts';
import type { Plan } from './plan-types.ts';
import { trialConversion } from './rebuild.ts';
import { checkTableTtl } from './table-ttl.ts';
import { checkViewChains } from './view-chains.ts';
import { checkViewSubquerySources } from './view-subquery-source.ts';
import { checkViewsOverChangedTables } from './view-types-check.ts';

export interface PlanOptions {
  /** Id of the deployment this plan is for (names its backups); default a new one. */
  deployId?: string;
}

/** The DDL context of a project on an engine: its database, cluster and capabilities. */
export function ddlContextFor(project: Pick<Project, 'config'>, engine: Engine): DdlContext {
  const cluster = project.config.clickhouse.cluster;
  return {
    database: engine.database,
    capabilities: engine.capabilities,
    ...(cluster ? { cluster } : {}),
    ...(isShardedCluster({ cluster, shards: engine.shards }) ? { sharded: true } : {}),
    ...(engine.backend === 'embedded' ? { embedded: true } : {}),
  };
}

/**
 * What of the project this server cannot hold at all (a column type or a TTL it lacks, a chain of
 * views it does not fire): a user error thrown before anything is created, the database included
 * (`tally deploy` runs it from createEngine's beforeCreatingDatabase, where only the version is
 * known: the views are compiled here then, under a stand-in database name).
 */
export function checkServerFits(
  project: Pick<Project, 'datasources' | 'pipes'>,
  capabilities: Capabilities,
  views: readonly ViewSpec[] = capabilities.major >= 19
    ? []
    : desiredState(project, { database: 'tally', capabilities }).views,
): void {
  checkColumnTypes(project, capabilities);
  checkTableTtl(project, capabilities);
  checkViewChains(project, views, capabilities);
  checkViewSubquerySources(project, views, capabilities);
}

/** What deploy would do, in order, and why. Reads the database; changes nothing. */
export async function planDeploy(project: Project, engine: Engine, opts: PlanOptions = {}): Promise<Plan> {
  return (await prepare(project, engine, opts)).plan;
}

/**
 * The plan, and what applying it would refuse that can be found without changing anything (the
 * checks apply runs before its first change): a view whose output no longer fits its target
 * after a column type change (tried in the scratch database), a rebuild whose conversion fails
 * on the stored rows. `tally deploy --check` prints both.
 */
export async function preflightDeploy(
  project: Project,
  engine: Engine,
): Promise<{ plan: Plan; refusals: TallyError[] }> {
  const { plan, ctx, live, desired } = await prepare(project, engine, {});
  const refusals: TallyError[] = [];
  const misfit = await checkViewsOverChangedTables(project, plan, desired, engine, ctx);
  if (misfit) refusals.push(misfit);
  for (const { step, select, converted } of convertingRebuilds(plan, live)) {
    await trialConversion(engine, ctx, step.resource, select, converted).catch((err: unknown) => {
      refusals.push(
        err instanceof TallyError
          ? err
          : new TallyError(
              'conversion-failed',
              `data source ${step.resource}: the rebuild's copy does not run: ${String((err as Error)?.message ?? err)}`,
            ),
      );
    });
  }
  return { plan, refusals };
}

/** Plans and applies; see apply.ts for what happens on refusal and failure. */
export async function applyDeploy(
  project: Project,
  engine: Engine,
  opts: ApplyOptions & { lock?: LockOptions } = {},
): Promise<DeployResult> {
  const deployId = newDeployId();
  const started = performance.now();
  // What no plan can fix is refused before the lock table is created.
  const checked = checkedDesiredState(project, engine);
  // Planned under the lock: a plan made while another deploy runs would redo its work.
  let lock: DeployLock;
  try {
    lock = await acquireDeployLock(engine, ddlContextFor(project, engine), deployId, opts.lock);
  } catch (err) {
    // A cluster node down: refused like any deploy that cannot run, with the plan it would have
    // run (read without the lock; nothing is applied).
    if (!(err instanceof TallyError && err.code === 'cluster-node-down')) throw err;
    const plan = await prepare(project, engine, { deployId }, checked).then(
      (p) => p.plan,
      () => {
        throw err;
      },
    );
    return refusedByError(plan, err, performance.now() - started);
  }
  try {
    const { plan, ctx, live, deployments, desired } = await prepare(project, engine, { deployId }, checked);
    const misfit = await checkViewsOverChangedTables(project, plan, desired, engine, ctx);
    if (misfit) return refusedByError(plan, misfit, performance.now() - started);
    const previous = deployments.find((d) => d.status !== 'running');
    return await applyPlan(plan, engine, ctx, live.databaseEngine === 'Atomic', previous, opts);
  } finally {
    await lock.release().catch(() => {});
  }
}

/** What the project wants on this engine, refused (thrown) when the server can never hold it. */
function checkedDesiredState(project: Project, engine: Engine): { ctx: DdlContext; desired: DesiredState } {
  const ctx = ddlContextFor(project, engine);
  const desired = desiredState(project, ctx);
  checkServerFits(project, ctx.capabilities, desired.views);
  return { ctx, desired };
}

async function prepare(
  project: Project,
  engine: Engine,
  opts: PlanOptions,
  { ctx, desired } = checkedDesiredState(project, engine),
): Promise<{
  plan: Plan;
  ctx: DdlContext;
  live: LiveState;
  deployments: DeploymentRecord[];
  desired: DesiredState;
}> {
  const [live, , scratch] = await Promise.all([
    introspect(engine),
    checkEndpointSettings(project, engine),
    engine.rows(
      `SELECT name FROM system.databases WHERE name = ${stringLiteral(scratchDatabaseName(ctx.database))}`,
    ),
  ]);
  const deployments = live.tables.has(DEPLOYMENTS_TABLE) ? await readDeployments(engine, ctx) : [];
  const planCtx = withLiveDatabase(ctx, live.databaseEngine);
  const plan = buildPlan({
    desired,
    live,
    deployments,
    ctx: planCtx,
    deployId: opts.deployId ?? newDeployId(),
    server: engine.description,
    scratchDatabaseExists: scratch.length > 0,
  });
  await markLossyConversions(plan, live, engine, planCtx);
  return { plan, ctx: planCtx, live, deployments, desired };
}
