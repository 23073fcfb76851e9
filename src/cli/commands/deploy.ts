/**
 * `tally deploy [--check] [--json] [--allow-destructive]`: prints the plan (and changes nothing)
 * with --check; otherwise applies it with progress lines and a summary per resource.
 * Exit 0 when deployed (or nothing to do), 1 when refused or the project is wrong (a view's SQL,
 * or a served pipe ClickHouse refuses on the tables deployed), 2 on a ClickHouse or internal error.
 */
import type { Engine } from '../../clickhouse/engine.ts';
import type { DeployResult } from '../../deploy/apply.ts';
import type { DeployEvent } from '../../deploy/apply-context.ts';
import { applyDeploy, preflightDeploy } from '../../deploy/deploy.ts';
import type { Plan, Step } from '../../deploy/plan-types.ts';
import type { RuntimeChange } from '../../deploy/runtime-changes.ts';
import { formatProblem, type Problem, TallyError } from '../../errors.ts';
import type { Project } from '../../project/model.ts';
import { checkServedPipes } from '../../runtime/check-served-pipes.ts';
import { plural } from '../../util/plural.ts';
import { failureDocument, table } from '../output.ts';
import { analyseProjectSql } from './check-sql.ts';

export interface DeployCommandArgs {
  project: Project;
  engine: Engine;
  check: boolean;
  json: boolean;
  allowDestructive: boolean;
  out: (s: string) => void;
  err: (s: string) => void;
}

export async function deployCommand(args: DeployCommandArgs): Promise<number> {
  const { project, engine, out, err } = args;
  try {
    if (args.check) {
      // What the deploy would refuse, and SQL this server refuses (a pipe's, an endpoint's):
      // found without changing the database (the SQL is tried in a scratch database).
      const { plan, refusals } = await preflightDeploy(project, engine);
      const problems: Problem[] = [
        ...refusals.map((e) => e.toProblem()),
        ...(await analyseProjectSql(project, engine)).filter((p) => p.severity === 'error'),
      ];
      if (args.json) out(JSON.stringify({ ...planJson(plan), problems }, null, 2));
      else {
        out(formatPlan(plan));
        for (const p of problems) err(formatProblem(p));
        if (problems.length > 0)
          err(`${problems.length} problem(s): \`tally deploy\` would be refused, or serve errors`);
      }
      return problems.length > 0 ? 1 : 0;
    }
    const result = await applyDeploy(project, engine, {
      allowDestructive: args.allowDestructive,
      onProgress: progressPrinter(args.json ? err : out),
      lock: {
        onWait: (c) =>
          err(
            `waiting for deploy ${c.id} by ${c.holder} (started ${c.ageS} s ago) to finish on ${engine.database}`,
          ),
      },
    });
    // A deploy that changed tables may have broken a pipe that reads them (a dropped or retyped
    // column), and a changed endpoint or copy pipe may not run: tried now on the tables as
    // deployed, so it is said here, not at the next request.
    const servedChanged =
      result.changes > 0 ||
      result.plan.runtimeChanges.some((c) => c.kind !== 'ingest' && c.action !== 'remove');
    const served = result.ok && servedChanged ? await checkServedPipes(project, engine) : [];
    if (args.json)
      out(JSON.stringify({ ...resultJson(result), ...(result.ok ? { problems: served } : {}) }, null, 2));
    else out(formatResult(result));
    if (result.refused) {
      err(result.error ?? 'refused');
      if (!args.allowDestructive && result.plan.steps.some((s) => s.destructive)) {
        err('run again with --allow-destructive to accept that');
      }
      // 2 when the refusal is ClickHouse's doing (a cluster node down), 1 when it is the project's.
      return result.exitCode || 1;
    }
    if (!result.ok) {
      err(result.error ?? 'deploy failed');
      return result.exitCode || 2;
    }
    if (served.length > 0) {
      for (const p of served) err(formatProblem(p));
      err(
        `deployed, but ClickHouse refuses ${plural(served.length, 'node')} of the pipes served on the tables now deployed: their endpoints answer errors, and \`tally serve\` does not start, until the pipes are fixed (\`tally deploy --check\` finds these before a deploy)`,
      );
      return 1;
    }
    return 0;
  } catch (e) {
    // With --json the failure is a document on stdout too, as for every other command.
    if (args.json) out(JSON.stringify(failureDocument(e)));
    err(
      e instanceof TallyError
        ? `error: ${e.format()}`
        : `internal error: ${String((e as Error)?.stack ?? e)}`,
    );
    return e instanceof TallyError ? e.exitCode : 2;
  }
}

/**
 * The plan as an aligned table: one row per step, then what would be lost, then the changes
 * without DDL, then notes.
 */
export function formatPlan(plan: Plan): string {
  const lines: string[] = [];
  const views = plan.resources.filter((r) => r.kind === 'view').length;
  const sources = plan.resources.filter((r) => r.kind === 'datasource' && r.action !== 'drop').length;
  const upToDate = `${sources} data source(s) and ${views} view(s) in \`${plan.database}\` are up to date (${plan.server})`;
  if (plan.steps.length === 0 && plan.runtimeChanges.length === 0) {
    lines.push(`No changes: ${upToDate}.`);
  } else if (plan.steps.length === 0) {
    // Every runtime change takes effect at a restart of `tally serve` (dedup_key's adds to that).
    lines.push(
      `No DDL changes: ${upToDate}; ${plan.runtimeChanges.length} change(s) without DDL take effect when \`tally serve\` restarts.`,
    );
  } else {
    const on = plan.cluster ? ` (cluster ${plan.cluster})` : '';
    lines.push(`Plan for \`${plan.database}\` on ${plan.server}${on}: ${plan.steps.length} step(s)`);
    lines.push('');
    const where = (s: Plan['steps'][number]) => (plan.cluster ? [s.runsOn ?? ''] : []);
    lines.push(
      table(
        plan.steps.map((s) => [
          `${s.destructive ? '!' : ' '}${s.n}`,
          s.resource,
          s.kind,
          s.what,
          ...where(s),
          s.why,
        ]),
        [' #', 'resource', 'step', 'what', ...(plan.cluster ? ['runs on'] : []), 'why'],
      ),
    );
    const destructive = plan.steps.filter((s) => s.destructive);
    if (destructive.length > 0) {
      lines.push('');
      lines.push(
        `! ${destructive.length} destructive step(s), refused without --allow-destructive; they would lose:`,
      );
      for (const s of destructive) for (const l of s.loses ?? [s.what]) lines.push(`  - ${l} (step ${s.n})`);
    }
  }
  if (plan.runtimeChanges.length > 0) {
    lines.push('', ...formatRuntimeChanges(plan.runtimeChanges, 'Also changes (no DDL):'));
  }
  const unchanged = plan.resources.filter((r) => r.action === 'unchanged').map((r) => r.name);
  if (plan.steps.length > 0 && unchanged.length > 0) lines.push('', `Unchanged: ${unchanged.join(', ')}`);
  for (const n of plan.notes) lines.push(`note: ${n}`);
  return lines.join('\n');
}

export function formatResult(r: DeployResult): string {
  const lines: string[] = [];
  const counts = new Map<string, number>();
  for (const res of r.resources) counts.set(res.result, (counts.get(res.result) ?? 0) + 1);
  const summary = [...counts].map(([k, n]) => `${n} ${k}`).join(', ');
  const secs = (r.durationMs / 1000).toFixed(r.durationMs < 10_000 ? 2 : 1);
  if (r.refused) lines.push(`Nothing deployed (${summary}).`);
  else if (r.ok) lines.push(`Deployed ${r.deployId} in ${secs} s: ${r.changes} step(s) ran; ${summary}.`);
  else {
    const ran = r.steps.filter((s) => s.status === 'done').map((s) => s.n);
    lines.push(
      `Deploy ${r.deployId} failed after ${secs} s. Steps that ran: ${ran.length > 0 ? ran.join(', ') : 'none'}.`,
    );
  }
  lines.push(
    table(
      r.resources.map((res) => [res.name, res.kind, res.result]),
      ['resource', 'kind', 'result'],
    ),
  );
  if (r.holds.length > 0) {
    const longest = Math.max(...r.holds.map((h) => h.ms));
    lines.push(`Writers were held ${r.holds.length} time(s), the longest for ${longest.toFixed(0)} ms.`);
  }
  for (const w of r.warnings ?? []) lines.push(`warning: ${w}`);
  if (r.ok && r.plan.recordsRuntime && r.plan.runtimeChanges.length > 0) {
    lines.push(...formatRuntimeChanges(r.plan.runtimeChanges, 'Recorded without DDL:'));
  }
  return lines.join('\n');
}

const RUNTIME_LABEL: Record<RuntimeChange['kind'], string> = {
  endpoint: 'endpoint',
  copy: 'copy pipe',
  ingest: 'ingestion of',
};

/** `endpoint balance: SQL of node q changed; cache 2s -> 5s`. */
export function runtimeChangeLine(c: RuntimeChange): string {
  return `${RUNTIME_LABEL[c.kind]} ${c.name}: ${c.what.join('; ')}`;
}

/** One line per endpoint, copy pipe or data source saying what changed, then when each kind takes effect. */
export function formatRuntimeChanges(changes: readonly RuntimeChange[], heading: string): string[] {
  return [
    heading,
    ...changes.map((c) => `  ${runtimeChangeLine(c)}`),
    ...[...new Set(changes.map((c) => c.effect))].map((e) => `  -> ${e}`),
  ];
}

/** Prints a line per step start and end, holds, and a progress bar for backfills (at most one a second). */
export function progressPrinter(print: (s: string) => void): (e: DeployEvent) => void {
  let lastBar = 0;
  let total = 0;
  // A backfill with nothing to copy reports done at its start and its end: one line for it.
  let complete = new Set<string>();
  return (e) => {
    switch (e.type) {
      case 'step-start':
        complete = new Set();
        total = Math.max(total, e.step.n);
        print(`[${e.step.n}] ${e.step.what} ...`);
        break;
      case 'step-done':
        print(`[${e.step.n}] done in ${ms(e.ms)}`);
        break;
      case 'step-failed':
        print(`[${e.step.n}] FAILED: ${e.error}`);
        break;
      case 'hold':
        print(
          e.database
            ? `    writers held off every table of the database (embedded write gate, for ${e.tables.join(', ')}) for ${ms(e.ms)}`
            : `    writers held off ${e.tables.join(', ')} for ${ms(e.ms)}`,
        );
        break;
      case 'backfill': {
        const now = performance.now();
        const p = e.progress;
        const last = p.rowsDone >= p.rowsTotal;
        if (!last && now - lastBar < 1000) break;
        if (last && complete.has(p.label)) break;
        if (last) complete.add(p.label);
        lastBar = now;
        print(
          `    ${p.label} ${bar(p.rowsTotal === 0 ? 1 : p.rowsDone / p.rowsTotal)} ${p.rowsDone.toLocaleString('en-US')}/${p.rowsTotal.toLocaleString('en-US')} rows${p.etaMs !== undefined && !last ? `, ETA ${ms(p.etaMs)}` : ''}`,
        );
        break;
      }
    }
  };
}

function bar(fraction: number, width = 24): string {
  const full = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}

function ms(n: number): string {
  return n < 1000 ? `${Math.round(n)} ms` : `${(n / 1000).toFixed(1)} s`;
}

function stepJson({ tables, alters, view, views, targetSpec, ...s }: Step) {
  return s;
}

export function planJson(plan: Plan) {
  return { ...plan, steps: plan.steps.map(stepJson), resourceSpecs: undefined };
}

export function resultJson(r: DeployResult) {
  return { ...r, plan: planJson(r.plan) };
}
