/**
 * Applies a plan step by step. Refuses a plan with destructive steps unless allowed, naming what
 * would be lost. Records the deployment (running, then succeeded or failed with what each step
 * did). On a failure it stops, puts back whatever the failing step left half-done (recover.ts),
 * and reports which steps ran; the next deploy plans from what is there and finishes the job.
 */
import { EngineError, engineMessage } from '../clickhouse/engine-error.ts';
import { recordViewsRecomputed } from '../clickhouse/view-failure-log.ts';
import { TallyError } from '../errors.ts';
import type { ApplyContext, DeployEvent } from './apply-context.ts';
import { dropScratchDatabase } from './backfill.ts';
import {
  createDeploymentsTableSql,
  DEPLOYMENTS_TABLE,
  type DeploymentRecord,
  readDeployments,
  writeDeployment,
} from './bookkeeping.ts';
import { CLUSTER_ATOMIC_REFUSED, clusterRefusal } from './cluster-plan.ts';
import { clusterRebuildTable, clusterReplaceView } from './cluster-swap.ts';
import { clusterCreateView } from './cluster-view.ts';
import type { DdlContext } from './ddl.ts';
import { stableHash } from './hash.ts';
import { introspect } from './introspect.ts';
import {
  datasourceKey,
  type Plan,
  type ResourceAction,
  type ResourceKind,
  type Step,
  viewKey,
} from './plan-types.ts';
import { rebuildTable } from './rebuild.ts';
import { planRecovery } from './recover.ts';
import { runtimeKeyOf } from './runtime-specs.ts';
import { backfill, createView, replaceView } from './view-steps.ts';

export interface ApplyOptions {
  /** Run steps that lose data (dropping a data source, a rebuild that drops a column). */
  allowDestructive?: boolean;
  onProgress?: (e: DeployEvent) => void;
  /** Rows per backfill INSERT (default 100 million). */
  chunkRows?: number;
  /** How long a hold waits for running INSERTs (default 120 s). */
  holdTimeoutMs?: number;
  /**
   * Tests only: runs between a view's creation on a cluster and the check that its source was
   * not written meanwhile (a writer that resumes in that window, on demand).
   */
  afterClusterViewCreated?: () => Promise<void>;
  /**
   * Tests only: runs in a rebuild or recompute on a cluster between the last check that nothing
   * was written and the swap.
   */
  beforeClusterSwap?: () => Promise<void>;
}

export type StepStatus = 'done' | 'failed' | 'skipped';

export interface StepResult {
  n: number;
  kind: Step['kind'];
  resource: string;
  status: StepStatus;
  ms?: number;
  error?: string;
}

export type ResourceResultKind =
  | 'created'
  | 'altered'
  | 'rebuilt'
  | 'replaced'
  | 'dropped'
  | 'unchanged'
  | 'failed'
  | 'skipped';

export interface ResourceResult {
  name: string;
  kind: ResourceKind;
  result: ResourceResultKind;
  steps: number[];
  error?: string;
}

export interface DeployResult {
  deployId: string;
  /** Every step ran (or there was nothing to do). */
  ok: boolean;
  /** Nothing ran: destructive steps without allowDestructive. */
  refused: boolean;
  plan: Plan;
  steps: StepResult[];
  resources: ResourceResult[];
  /** Steps that ran. */
  changes: number;
  durationMs: number;
  /** Why it failed or was refused. */
  error?: string;
  /** For a CLI: 1 when the project is at fault (refused, a view's SQL), 2 for ClickHouse or internal errors. */
  exitCode: 0 | 1 | 2;
  /** How long writers were held off, per hold. */
  holds: Array<{ step: number; tables: readonly string[]; ms: number }>;
  /** What went wrong beside the steps, which all ran (a recompute that could not be recorded). */
  warnings?: string[];
}

export async function applyPlan(
  plan: Plan,
  engine: ApplyContext['engine'],
  ctx: DdlContext,
  atomic: boolean,
  previous: DeploymentRecord | undefined,
  opts: ApplyOptions = {},
): Promise<DeployResult> {
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const steps: StepResult[] = plan.steps.map((s) => ({
    n: s.n,
    kind: s.kind,
    resource: s.resource,
    status: 'skipped',
  }));
  const holds: DeployResult['holds'] = [];
  const warnings: string[] = [];
  const finish = (
    extra: Partial<DeployResult> & Pick<DeployResult, 'ok' | 'refused' | 'exitCode'>,
  ): DeployResult => ({
    deployId: plan.deployId,
    plan,
    steps,
    resources: resourceResults(plan, steps),
    changes: steps.filter((s) => s.status === 'done').length,
    durationMs: performance.now() - started,
    holds,
    ...(warnings.length > 0 ? { warnings } : {}),
    ...extra,
  });

  const destructive = plan.steps.filter((s) => s.destructive);
  if (destructive.length > 0 && !opts.allowDestructive) {
    const lines = destructive.map((s) => `  - step ${s.n} (${s.what}): ${(s.loses ?? [s.what]).join('; ')}`);
    return refusedResult(
      plan,
      // How to accept it is the caller's to say (a flag of `tally deploy`, a restart of dev).
      `refusing to deploy: ${destructive.length} step(s) would lose data:\n${lines.join('\n')}`,
      1,
      performance.now() - started,
    );
  }
  if (ctx.cluster && atomic) {
    const unsupported = plan.steps.find((s) => CLUSTER_ATOMIC_REFUSED.includes(s.kind));
    if (unsupported) {
      return refusedResult(plan, clusterRefusal(unsupported, ctx.cluster), 1, performance.now() - started);
    }
  }

  // Every node answering on a cluster was checked when the lock was taken (deploy-lock.ts): both
  // callers, applyDeploy and replay, hold it.
  await engine.command(createDeploymentsTableSql(ctx));
  const record = (
    status: DeploymentRecord['status'],
    hashes: Record<string, string>,
    specs: Record<string, unknown>,
    error = '',
  ) =>
    writeDeployment(engine, ctx, {
      id: plan.deployId,
      startedAt,
      status,
      projectHash: status === 'succeeded' ? plan.projectHash : stableHash(hashes),
      resourceHashes: hashes,
      resourceSpecs: specs,
      plan: plan.steps.map(({ tables, alters, view, views, targetSpec, shardingKey, ...s }) => s),
      steps,
      durationMs: performance.now() - started,
      error,
    });
  await record('running', previous?.resourceHashes ?? {}, previous?.resourceSpecs ?? {});

  const ac: ApplyContext = {
    engine,
    ctx,
    deployId: plan.deployId,
    atomic,
    ...(opts.chunkRows ? { chunkRows: opts.chunkRows } : {}),
    ...(opts.holdTimeoutMs !== undefined ? { holdTimeoutMs: opts.holdTimeoutMs } : {}),
    ...(opts.afterClusterViewCreated ? { afterClusterViewCreated: opts.afterClusterViewCreated } : {}),
    ...(opts.beforeClusterSwap ? { beforeClusterSwap: opts.beforeClusterSwap } : {}),
    pending: new Map(),
    emit: (e) => {
      if (e.type === 'hold') holds.push({ step: e.step.n, tables: e.tables, ms: e.ms });
      opts.onProgress?.(e);
    },
  };
  let failure: string | undefined;
  let exitCode: 1 | 2 = 2;
  try {
    for (const step of plan.steps) {
      const i = step.n - 1;
      ac.emit({ type: 'step-start', step });
      const t0 = performance.now();
      try {
        const healed = viewsHealedBy(step);
        const began = Date.now();
        await runStep(ac, step);
        if (healed.length > 0) {
          const note = await recordViewsRecomputed(engine, healed, began).catch(
            (err: unknown) =>
              `could not record in tally_view_failures that ${healed.join(', ')} ${healed.length > 1 ? 'no longer miss' : 'no longer misses'} rows (${engineMessage(err)}): /health may list ${healed.length > 1 ? 'them' : 'it'} until the next recompute`,
          );
          if (note) warnings.push(`step ${step.n}: ${note}`);
        }
        steps[i] = { ...steps[i]!, status: 'done', ms: performance.now() - t0 };
        ac.emit({ type: 'step-done', step, ms: performance.now() - t0 });
      } catch (err) {
        const sql =
          err instanceof EngineError ? ` [while running: ${err.sql.replace(/\s+/g, ' ').slice(0, 200)}]` : '';
        const message = `${err instanceof TallyError ? err.format() : String((err as Error)?.message ?? err)}${sql}`;
        steps[i] = { ...steps[i]!, status: 'failed', ms: performance.now() - t0, error: message };
        ac.emit({ type: 'step-failed', step, error: message });
        failure = `step ${step.n} (${step.what}) failed: ${message}`;
        exitCode = err instanceof TallyError ? err.exitCode : 2;
        break;
      }
    }
    if (failure) {
      const trouble = await recoverNow(ac).catch((err: Error) => err.message);
      if (trouble)
        failure += `\nrecovery after the failure did not complete: ${trouble} (the next deploy retries it)`;
    }
  } finally {
    // A create-view whose backfill never ran: let ingestion write again.
    for (const p of ac.pending.values()) p.reopenGate?.();
    await dropScratchDatabase(engine, ctx).catch(() => {});
  }

  const result = finish({
    ok: failure === undefined,
    refused: false,
    exitCode: failure === undefined ? 0 : exitCode,
    ...(failure ? { error: failure } : {}),
  });
  const applied = appliedAfter(previous, plan, result.resources, failure === undefined);
  await record(failure ? 'failed' : 'succeeded', applied.hashes, applied.specs, failure ?? '');
  return result;
}

async function runStep(ac: ApplyContext, step: Step): Promise<void> {
  switch (step.kind) {
    case 'rebuild-table':
      return ac.ctx.cluster ? clusterRebuildTable(ac, step) : rebuildTable(ac, step);
    case 'create-view':
      return ac.ctx.cluster ? clusterCreateView(ac, step) : createView(ac, step);
    case 'backfill':
      return backfill(ac, step);
    case 'replace-view':
      return ac.ctx.cluster ? clusterReplaceView(ac, step) : replaceView(ac, step);
    case 'recover':
    case 'create-bookkeeping':
    case 'create-table':
    case 'alter-table':
    case 'drop-view':
    case 'drop-table':
    case 'drop-backup':
      for (const sql of step.sql) await ac.engine.command(sql);
      return;
  }
}

/**
 * The views a step heals: a recomputed target holds every row of its sources, those its views
 * once failed on too, and a dropped view misses nothing any more. Either ends the view's entry in
 * /health's `views_missing_rows` (clickhouse/view-failure-log.ts).
 */
export function viewsHealedBy(step: Pick<Step, 'kind' | 'resource' | 'also'>): string[] {
  if (step.kind === 'replace-view') return step.also ?? [];
  if (step.kind === 'drop-view') return [step.resource];
  return [];
}

/** Puts back what a failed step left half-done; returns a description of what could not be. */
async function recoverNow(ac: ApplyContext): Promise<string | undefined> {
  const live = await introspect(ac.engine);
  const deployments = live.tables.has(DEPLOYMENTS_TABLE) ? await readDeployments(ac.engine, ac.ctx, 1) : [];
  const { steps, notes } = planRecovery(live, deployments, ac.ctx, false, ac.deployId);
  for (const s of steps) for (const sql of s.sql) await ac.engine.command(sql);
  return notes.length > 0 ? notes.join('; ') : undefined;
}

const DONE: Record<ResourceAction, ResourceResultKind> = {
  create: 'created',
  alter: 'altered',
  rebuild: 'rebuilt',
  replace: 'replaced',
  drop: 'dropped',
  unchanged: 'unchanged',
};

/** A deploy refused before any step ran: nothing changed. */
export function refusedResult(plan: Plan, error: string, exitCode: 1 | 2, durationMs: number): DeployResult {
  const steps: StepResult[] = plan.steps.map((s) => ({
    n: s.n,
    kind: s.kind,
    resource: s.resource,
    status: 'skipped',
  }));
  return {
    deployId: plan.deployId,
    plan,
    steps,
    resources: resourceResults(plan, steps),
    changes: 0,
    durationMs,
    holds: [],
    ok: false,
    refused: true,
    exitCode,
    error,
  };
}

/** The same for a TallyError met before any step (a cluster node down): its message and code. */
export function refusedByError(plan: Plan, err: unknown, durationMs: number): DeployResult {
  const e = err as TallyError;
  return refusedResult(plan, e.format?.() ?? String(err), e.exitCode === 1 ? 1 : 2, durationMs);
}

function resourceResults(plan: Plan, steps: readonly StepResult[]): ResourceResult[] {
  return plan.resources.map((r) => {
    const mine = r.steps.map((n) => steps[n - 1]!);
    const failed = mine.find((s) => s.status === 'failed');
    const result: ResourceResultKind = failed
      ? 'failed'
      : mine.every((s) => s.status === 'done')
        ? DONE[r.action]
        : 'skipped';
    return {
      name: r.name,
      kind: r.kind,
      result,
      steps: r.steps,
      ...(failed?.error ? { error: failed.error } : {}),
    };
  });
}

/**
 * What is applied after this deploy: the previous record, updated for every resource that
 * completed, and, when the deploy succeeded, for the project's runtime resources (they need no
 * step: a deploy with nothing else to do records them too).
 */
function appliedAfter(
  previous: DeploymentRecord | undefined,
  plan: Plan,
  resources: readonly ResourceResult[],
  succeeded: boolean,
): { hashes: Record<string, string>; specs: Record<string, unknown> } {
  const hashes = { ...(previous?.resourceHashes ?? {}) };
  const specs = { ...(previous?.resourceSpecs ?? {}) };
  for (const r of resources) {
    const key = r.kind === 'view' ? viewKey(r.name) : datasourceKey(r.name);
    if (r.result === 'dropped') {
      delete hashes[key];
      delete specs[key];
    } else if (r.result !== 'failed' && r.result !== 'skipped' && plan.resourceHashes[key] !== undefined) {
      hashes[key] = plan.resourceHashes[key]!;
      specs[key] = plan.resourceSpecs[key];
    }
  }
  if (succeeded && plan.recordsRuntime) {
    for (const key of Object.keys(hashes)) if (runtimeKeyOf(key)) delete hashes[key];
    for (const key of Object.keys(specs)) if (runtimeKeyOf(key)) delete specs[key];
    for (const [key, hash] of Object.entries(plan.resourceHashes)) {
      if (!runtimeKeyOf(key)) continue;
      hashes[key] = hash;
      specs[key] = plan.resourceSpecs[key];
    }
  }
  return { hashes, specs };
}
