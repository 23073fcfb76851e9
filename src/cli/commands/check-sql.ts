import { createEngine, quoteIdent } from '../../clickhouse/create-engine.ts';
import type { Engine } from '../../clickhouse/engine.ts';
import { createTableSql } from '../../deploy/ddl.ts';
import { desiredState } from '../../deploy/desired-state.ts';
import type { Problem } from '../../errors.ts';
import type { Project } from '../../project/model.ts';
import { compileNodeForCheck } from '../../sql/index.ts';
import { engineErrorLine, locateEngineError } from '../../sql/locate-engine-error.ts';

/**
 * `tally check --sql`: creates the project's tables in a scratch database of the configured
 * ClickHouse, runs every compiled node as `SELECT * FROM (...) LIMIT 0`, and maps a refusal back
 * to the node's file and line. The scratch database is dropped afterwards.
 */
export async function analyseProjectSql(project: Project, engineIn?: Engine): Promise<Problem[]> {
  const engine = engineIn ?? (await createEngine(project.config.clickhouse, { cwd: project.root }));
  const scratch = `tally_check_${process.pid}_${Date.now().toString(36)}`;
  const ctx = { database: scratch, capabilities: engine.capabilities };
  const problems: Problem[] = [];
  try {
    await engine.command(`CREATE DATABASE IF NOT EXISTS ${quoteIdent(scratch)}`);
    for (const ds of desiredState(project, ctx).datasources.values()) {
      try {
        await engine.command(createTableSql(ds.table, ctx));
      } catch (err) {
        const source = project.datasources.get(ds.name);
        problems.push({
          severity: 'error',
          code: 'clickhouse-refused',
          message: `ClickHouse ${engine.capabilities.version} refused the table of \`${ds.name}\`: ${firstLine(err)}`,
          ...(source ? { location: source.loc } : {}),
        });
      }
    }
    for (const pipe of project.pipes.values()) {
      for (const node of pipe.nodes) {
        const compiled = compileNodeForCheck(project, pipe.name, node.name, {
          capabilities: engine.capabilities,
          database: scratch,
        });
        try {
          await engine.rows(`SELECT * FROM (\n${compiled.sql}\n) LIMIT 0`, {
            params: { ...compiled.params },
          });
        } catch (err) {
          problems.push({
            severity: 'error',
            code: 'clickhouse-refused',
            message: `ClickHouse ${engine.capabilities.version} refused node \`${node.name}\` of pipe \`${pipe.name}\`: ${firstLine(err)}`,
            location: locateEngineError([node], err) ?? node.sqlStart,
          });
        }
      }
    }
  } finally {
    await engine.command(`DROP DATABASE IF EXISTS ${quoteIdent(scratch)}`).catch(() => {});
    if (!engineIn) await engine.close();
  }
  return problems;
}

function firstLine(err: unknown): string {
  return engineErrorLine(err).slice(0, 400);
}
