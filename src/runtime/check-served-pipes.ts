/**
 * The SQL a running Tally will send, tried against the tables as deployed: the pipes endpoints
 * serve and the copy pipes the scheduler runs (materialized pipes are views: deploy creates them,
 * so ClickHouse has taken them already). Run when `tally serve` / `tally dev` start and after a
 * `tally deploy` that changed tables, so a pipe that reads a dropped or retyped column is named
 * with its file and line then, not at its first request.
 */
import { quoteIdent } from '../clickhouse/create-engine.ts';
import type { Engine } from '../clickhouse/engine.ts';
import type { Problem } from '../errors.ts';
import type { Project } from '../project/model.ts';
import { checkPipeNodes } from '../sql/check-nodes.ts';
import { quoteString } from '../sql/render-literal.ts';
import { plural } from '../util/plural.ts';

/** Pipes whose SQL runs outside a view: an endpoint's, a copy pipe's. In project order. */
export function servedPipeNames(project: Pick<Project, 'pipes' | 'endpoints'>): string[] {
  const endpointPipes = new Set([...project.endpoints.values()].map((e) => e.pipe));
  return [...project.pipes.values()].filter((p) => endpointPipes.has(p.name) || p.copy).map((p) => p.name);
}

/**
 * Problems ClickHouse finds in the served pipes, against `engine.database`. When data source
 * tables are missing (the project was not deployed there) that is the one problem: every pipe
 * would be refused for it.
 */
export async function checkServedPipes(
  project: Project,
  engine: Engine,
  pipesAtOnce?: number,
): Promise<Problem[]> {
  const names = [...project.datasources.keys()];
  if (names.length > 0) {
    const rows = await engine.rows<{ name: string }>(
      `SELECT name FROM system.tables WHERE database = ${quoteString(engine.database)} AND name IN (${names.map(quoteString).join(', ')})`,
    );
    const present = new Set(rows.map((r) => r.name));
    const missing = names.filter((n) => !present.has(n));
    if (missing.length > 0) {
      const shown =
        missing.slice(0, 5).join(', ') + (missing.length > 5 ? `, ... (${missing.length - 5} more)` : '');
      return [
        {
          severity: 'error',
          code: 'not-deployed',
          message: `${plural(missing.length, 'data source table')} of the project ${missing.length === 1 ? 'is' : 'are'} missing from ${quoteIdent(engine.database)} on ${engine.description}: ${shown}`,
          hint: 'deploy the project first: `tally deploy` (or `tally serve --deploy`)',
        },
      ];
    }
  }
  return checkPipeNodes(project, engine, engine.database, servedPipeNames(project), pipesAtOnce);
}
