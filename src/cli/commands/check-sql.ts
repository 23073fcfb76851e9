import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createEngine, quoteIdent } from '../../clickhouse/create-engine.ts';
import type { Engine } from '../../clickhouse/engine.ts';
import { checkColumnTypes } from '../../deploy/column-types.ts';
import { createTableSql } from '../../deploy/ddl.ts';
import { desiredState } from '../../deploy/desired-state.ts';
import { checkTableTtl } from '../../deploy/table-ttl.ts';
import { type Problem, type SourceLocation, TallyError } from '../../errors.ts';
import { locateTableRefusal } from '../../project/locate-table-refusal.ts';
import type { Project } from '../../project/model.ts';
import { checkPipeNodes, refusal } from '../../sql/check-nodes.ts';

/**
 * `tally check --sql`: creates the project's tables in a scratch database of the configured
 * ClickHouse, runs every compiled node as `SELECT * FROM (...) LIMIT 0`, and maps a refusal back
 * to the node's file and line. The scratch database is dropped afterwards.
 */
export async function analyseProjectSql(project: Project, engineIn?: Engine): Promise<Problem[]> {
  const scratch = `tally_check_${process.pid}_${Date.now().toString(36)}`;
  // Connected to the scratch database: a check leaves nothing behind, not even the project's
  // own database (which connecting to it would create).
  const engine = engineIn ?? (await createEngine({ ...project.config.clickhouse, database: scratch }));
  const ctx = { database: scratch, capabilities: engine.capabilities };
  const problems: Problem[] = [];
  try {
    // A type (or a table TTL) this server lacks is said as deploy says it (where, version, hint),
    // and alone: the tables and queries after it would only fail because of it.
    try {
      checkColumnTypes(project, engine.capabilities);
      checkTableTtl(project, engine.capabilities);
    } catch (err) {
      if (!(err instanceof TallyError)) throw err;
      return [err.toProblem()];
    }
    await engine.command(`CREATE DATABASE IF NOT EXISTS ${quoteIdent(scratch)}`);
    // The scratch database is ours, not the user's: its name is noise in a message.
    const unscratched = (text: string) =>
      text.replaceAll(`${scratch}.`, '').replaceAll(scratch, 'the project');
    const refusedTables = new Set<string>();
    for (const ds of desiredState(project, ctx).datasources.values()) {
      try {
        await engine.command(createTableSql(ds.table, ctx));
      } catch (err) {
        refusedTables.add(ds.name);
        const source = project.datasources.get(ds.name);
        const text = unscratched(refusal(err));
        const at = source && locateIn(project.root, source.file, text);
        problems.push({
          severity: 'error',
          code: 'clickhouse-refused',
          message: `ClickHouse ${engine.capabilities.version} refused the table of \`${ds.name}\`: ${text}`,
          ...(at ? { location: at } : source ? { location: source.loc } : {}),
          hint: 'pipes that read it are not checked until ClickHouse takes it',
        });
      }
    }
    // A pipe reading a table that could not be made would only fail for that, once per node.
    const checkable = [...project.pipes.values()]
      .filter((p) => !p.nodes.some((n) => n.references.some((r) => refusedTables.has(r))))
      .map((p) => p.name);
    for (const p of await checkPipeNodes(project, engine, scratch, checkable)) {
      problems.push({ ...p, message: unscratched(p.message) });
    }
  } finally {
    await engine.command(`DROP DATABASE IF EXISTS ${quoteIdent(scratch)}`).catch(() => {});
    if (!engineIn) await engine.close();
  }
  return problems;
}

/** The refusal's place in the data source file, read again (the model keeps no key locations). */
function locateIn(root: string, file: string, message: string): SourceLocation | undefined {
  try {
    return locateTableRefusal(readFileSync(join(root, file), 'utf8'), file, message);
  } catch {
    return undefined;
  }
}
