/**
 * The materialized views a project wants: one per materialized pipe, its node chain compiled to
 * one SELECT (nested subqueries, which every server accepts in a view) over `db`.`table` names.
 */
import { quoteIdent } from '../clickhouse/create-engine.ts';
import { TallyError } from '../errors.ts';
import type { Pipe, Project } from '../project/model.ts';
import { compilePipe } from '../sql/compile-pipe.ts';
import type { DdlContext, ViewSpec } from './ddl.ts';
import { stableHash } from './hash.ts';
import { viewName } from './names.ts';

/** Every materialized pipe of the project as a view spec, in pipe order. */
export function viewSpecsFor(project: Pick<Project, 'pipes' | 'datasources'>, ctx: DdlContext): ViewSpec[] {
  const out: ViewSpec[] = [];
  for (const pipe of project.pipes.values()) {
    if (pipe.materialize) out.push(viewSpecFor(project, pipe, ctx));
  }
  return out;
}

export function viewSpecFor(
  project: Pick<Project, 'pipes' | 'datasources'>,
  pipe: Pipe,
  ctx: DdlContext,
): ViewSpec {
  const target = pipe.materialize!.to;
  const { sql } = compilePipe(
    project,
    pipe.name,
    {},
    {
      capabilities: ctx.capabilities,
      database: ctx.database,
      chain: 'subquery',
      values: 'literal',
    },
  );
  const reads = readsOf(project, pipe);
  const source = triggerSource(project, pipe);
  return {
    name: viewName(project, pipe.name),
    pipe: pipe.name,
    file: pipe.file,
    target,
    source,
    reads: [source, ...reads.filter((r) => r !== source)],
    query: sql,
    // What the view computes: its nodes' SQL and where it writes (not the compiled text, so a
    // change in how Tally compiles does not recompute every snapshot).
    hash: stableHash({ nodes: pipe.nodes.map((n) => [n.name, n.sql]), target }),
    nodes: pipe.nodes,
  };
}

/**
 * The data source whose inserts fire the view: ClickHouse takes the first table of the
 * outermost FROM, following subqueries inwards; for a node chain, the first name the last node
 * reads, followed through earlier nodes.
 */
export function triggerSource(project: Pick<Project, 'datasources'>, pipe: Pipe): string {
  const byName = new Map(pipe.nodes.map((n) => [n.name, n]));
  let node = pipe.nodes[pipe.nodes.length - 1];
  const seen = new Set<string>();
  while (node && !seen.has(node.name)) {
    seen.add(node.name);
    const first = node.references[0];
    if (first === undefined) break;
    if (project.datasources.has(first)) return first;
    node = byName.get(first);
  }
  throw new TallyError(
    'view-without-source',
    `materialized pipe ${pipe.name} reads no data source in its first FROM; a materialized view fires on inserts into one`,
    { location: pipe.loc },
  );
}

function readsOf(project: Pick<Project, 'datasources'>, pipe: Pipe): string[] {
  const names = new Set<string>();
  for (const n of pipe.nodes) for (const r of n.references) if (project.datasources.has(r)) names.add(r);
  return [...names];
}

/**
 * The view's query reading `replacement` (a database) instead of the source's own database, for
 * the source's first occurrence: how a backfill points the same SELECT at a part-filtered view.
 */
export function querySourceSwapped(view: ViewSpec, database: string, replacementDatabase: string): string {
  return querySourceAt(view, database, replacementDatabase, view.source);
}

/** The view's query reading `table` of the same database instead of its source (first occurrence). */
export function querySourceRenamed(view: ViewSpec, database: string, table: string): string {
  return querySourceAt(view, database, database, table);
}

function querySourceAt(view: ViewSpec, database: string, toDatabase: string, toTable: string): string {
  const from = `${quoteIdent(database)}.${quoteIdent(view.source)}`;
  const at = view.query.indexOf(from);
  if (at < 0) {
    throw new TallyError(
      'view-source-not-found',
      `the compiled query of pipe ${view.pipe} does not read ${from}`,
    );
  }
  const to = `${quoteIdent(toDatabase)}.${quoteIdent(toTable)}`;
  return view.query.slice(0, at) + to + view.query.slice(at + from.length);
}
