/**
 * Pipe nodes checked by ClickHouse itself: each compiled node run as `SELECT * FROM (...) LIMIT 0`
 * against `database`, a refusal mapped back to the node's file and line. Used by `tally check
 * --sql` (on a scratch copy of the tables) and by `tally dev` before a reloaded project serves
 * (on the live tables), so a pipe ClickHouse refuses never replaces the last good one.
 */
import pMap from 'p-map';
import type { Engine } from '../clickhouse/engine.ts';
import { isTallyError, type Problem } from '../errors.ts';
import type { Project } from '../project/model.ts';
import { compileNodesForCheck } from './compile-pipe.ts';
import { conciseEngineError, locateEngineError } from './locate-engine-error.ts';

export async function checkPipeNodes(
  project: Project,
  engine: Engine,
  database: string,
  pipes: Iterable<string> = project.pipes.keys(),
  pipesAtOnce = PIPES_AT_ONCE,
): Promise<Problem[]> {
  // A few pipes at a time (a 500-pipe project is about 1,000 round trips); problems in pipe order.
  const each = await pMap(pipes, (name) => checkPipe(project, engine, database, name), {
    concurrency: pipesAtOnce,
  });
  return each.flat();
}

/** Pipes whose nodes are tried at the same time: enough to hide round trips, few for a server. */
const PIPES_AT_ONCE = 4;

async function checkPipe(
  project: Project,
  engine: Engine,
  database: string,
  name: string,
): Promise<Problem[]> {
  const problems: Problem[] = [];
  const pipe = project.pipes.get(name);
  if (!pipe) return problems;
  const compiled = compileNodesForCheck(project, pipe.name, {
    capabilities: engine.capabilities,
    database,
  });
  // A node that reads a refused one is refused with the same error: said once, at its cause.
  // Nodes come in pipe order, so `refused` holds those refused through others too.
  const refused = new Set<string>();
  const compileErrors = new Set<string>();
  for (const [i, node] of pipe.nodes.entries()) {
    const c = compiled[i]!;
    if (node.references.some((n) => refused.has(n))) {
      refused.add(node.name);
      continue;
    }
    if (c.error !== undefined) {
      // A template or param that does not compile: located, and not applied rather than an
      // unlocated throw; once (sample params the compiler refuses fail every node alike).
      if (!isTallyError(c.error)) throw c.error;
      refused.add(node.name);
      if (compileErrors.has(c.error.message)) continue;
      compileErrors.add(c.error.message);
      problems.push({
        severity: 'error',
        code: c.error.code,
        message: `node \`${node.name}\` of pipe \`${pipe.name}\` does not compile: ${c.error.message}`,
        location: c.error.location ?? node.sqlStart,
        ...(c.error.hint ? { hint: c.error.hint } : {}),
      });
      continue;
    }
    try {
      await engine.rows(`SELECT * FROM (\n${c.compiled!.sql}\n) LIMIT 0`, {
        params: { ...c.compiled!.params },
      });
    } catch (err) {
      refused.add(node.name);
      problems.push({
        severity: 'error',
        code: 'clickhouse-refused',
        message: `ClickHouse ${engine.capabilities.version} refused node \`${node.name}\` of pipe \`${pipe.name}\`: ${refusal(err)}`,
        location: locateEngineError([node], err) ?? node.sqlStart,
      });
    }
  }
  return problems;
}

/** The first line of ClickHouse's refusal, without the query it quotes, bounded. */
export function refusal(err: unknown): string {
  return conciseEngineError(err);
}
