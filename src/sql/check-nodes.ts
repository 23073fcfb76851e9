/**
 * Pipe nodes checked by ClickHouse itself: each compiled node run as `SELECT * FROM (...) LIMIT 0`
 * against `database`, a refusal mapped back to the node's file and line. Used by `tally check
 * --sql` (on a scratch copy of the tables) and by `tally dev` before a reloaded project serves
 * (on the live tables), so a pipe ClickHouse refuses never replaces the last good one.
 */
import type { Engine } from '../clickhouse/engine.ts';
import type { Problem } from '../errors.ts';
import type { Project } from '../project/model.ts';
import { compileNodeForCheck } from './compile-pipe.ts';
import { engineErrorLine, locateEngineError } from './locate-engine-error.ts';

export async function checkPipeNodes(
  project: Project,
  engine: Engine,
  database: string,
  pipes: Iterable<string> = project.pipes.keys(),
): Promise<Problem[]> {
  const problems: Problem[] = [];
  for (const name of pipes) {
    const pipe = project.pipes.get(name);
    if (!pipe) continue;
    for (const node of pipe.nodes) {
      const compiled = compileNodeForCheck(project, pipe.name, node.name, {
        capabilities: engine.capabilities,
        database,
      });
      try {
        await engine.rows(`SELECT * FROM (\n${compiled.sql}\n) LIMIT 0`, { params: { ...compiled.params } });
      } catch (err) {
        problems.push({
          severity: 'error',
          code: 'clickhouse-refused',
          message: `ClickHouse ${engine.capabilities.version} refused node \`${node.name}\` of pipe \`${pipe.name}\`: ${refusal(err)}`,
          location: locateEngineError([node], err) ?? node.sqlStart,
        });
      }
    }
  }
  return problems;
}

/** The first line of ClickHouse's refusal, bounded. */
export function refusal(err: unknown): string {
  return engineErrorLine(err).slice(0, 400);
}
