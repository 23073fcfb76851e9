/**
 * A column type change in a data source changes what the views reading it produce: an
 * aggregate state over a wider Decimal is another state type, which the view's target column
 * cannot store. ClickHouse would then refuse every insert into the source in the view, after
 * the rows had landed in the source: the log and its snapshot part ways. So before anything
 * changes, the changed tables are created empty, as the project has them, in the scratch
 * database, and each view reading them (or writing into them) runs there with LIMIT 0.
 */
import { quoteIdent } from '../clickhouse/create-engine.ts';
import type { Engine } from '../clickhouse/engine.ts';
import { TallyError } from '../errors.ts';
import type { Project } from '../project/model.ts';
import { checkStateTypes, type OutputColumn } from './attach.ts';
import { dropScratchDatabase } from './backfill.ts';
import { createTableSql, type DdlContext, stringLiteral, type ViewSpec } from './ddl.ts';
import type { DesiredState } from './desired-state.ts';
import { scratchDatabaseName } from './names.ts';
import type { Plan } from './plan-types.ts';

/** The refusal, or undefined when every view over a changed table still fits its target. */
export async function checkViewsOverChangedTables(
  project: Pick<Project, 'datasources'>,
  plan: Plan,
  desired: DesiredState,
  engine: Engine,
  ctx: DdlContext,
): Promise<TallyError | undefined> {
  const changed = new Set(
    plan.steps
      .filter(
        (s) =>
          (s.kind === 'alter-table' || s.kind === 'rebuild-table') &&
          s.resourceKind === 'datasource' &&
          (s.table ?? s.resource) === s.resource,
      )
      .map((s) => s.resource),
  );
  const views = desired.views.filter((v) => changed.has(v.target) || v.reads.some((r) => changed.has(r)));
  if (views.length === 0) return undefined;
  const scratch = scratchDatabaseName(ctx.database);
  // A plain table of this node: the check needs the columns' types, not replication.
  const scratchCtx: DdlContext = { ...ctx, database: scratch, cluster: undefined, sharded: undefined };
  try {
    await engine.command(`CREATE DATABASE IF NOT EXISTS ${quoteIdent(scratch)}`);
    const made = new Set<string>();
    for (const v of views) {
      for (const t of [...v.reads, v.target]) {
        if (!changed.has(t) || made.has(t)) continue;
        await engine.command(`DROP TABLE IF EXISTS ${quoteIdent(scratch)}.${quoteIdent(t)}`);
        await engine.command(createTableSql(desired.datasources.get(t)!.table, scratchCtx));
        made.add(t);
      }
    }
    for (const v of views) {
      const problem = await checkOne(engine, v, ctx.database, scratch, changed);
      if (problem) return describe(project, v, changed, problem);
    }
    return undefined;
  } finally {
    await dropScratchDatabase(engine, ctx).catch(() => {});
  }
}

async function checkOne(
  engine: Engine,
  view: ViewSpec,
  database: string,
  scratch: string,
  changed: ReadonlySet<string>,
): Promise<TallyError | undefined> {
  let query = view.query;
  for (const t of view.reads) {
    if (!changed.has(t)) continue;
    query = query
      .split(`${quoteIdent(database)}.${quoteIdent(t)}`)
      .join(`${quoteIdent(scratch)}.${quoteIdent(t)}`);
  }
  const targetDb = changed.has(view.target) ? scratch : database;
  const [stored, produced] = await Promise.all([
    engine.rows<{ name: string; type: string }>(
      `SELECT name, type FROM system.columns WHERE database = ${stringLiteral(targetDb)} AND table = ${stringLiteral(view.target)}`,
    ),
    engine.query(`SELECT * FROM (${query}) LIMIT 0`).then(
      (r) => r.meta as OutputColumn[],
      (err: Error) => err,
    ),
  ]);
  if (produced instanceof Error) {
    return new TallyError(
      'invalid-view',
      `the SQL of materialized pipe ${view.pipe} no longer runs: ${produced.message}`,
    );
  }
  try {
    checkStateTypes(view, produced, new Map(stored.map((c) => [c.name, c.type])));
    return undefined;
  } catch (err) {
    return err as TallyError;
  }
}

function describe(
  project: Pick<Project, 'datasources'>,
  view: ViewSpec,
  changed: ReadonlySet<string>,
  problem: TallyError,
): TallyError {
  const files = [...view.reads, view.target]
    .filter((t, i, all) => changed.has(t) && all.indexOf(t) === i)
    .map((t) => project.datasources.get(t)?.file ?? t);
  return new TallyError(
    'invalid-view',
    `refusing to deploy: after the change to ${files.join(' and ')}, ${problem.message}`,
    {
      exitCode: 1,
      hint: `keep the column's type, or cast it in ${view.pipe}'s SELECT to the type it had, so that the state keeps its type (e.g. sumState(CAST(amount AS Decimal(18, 2))))`,
    },
  );
}
