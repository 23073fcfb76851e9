/**
 * Recovery: what an interrupted deploy (crash, restart, failure half-way) leaves behind is
 * recognisable by name (names.ts), so the next deploy, or the failing one itself, puts it right
 * before anything else: half-built tables and views are dropped, held tables renamed back, a
 * table caught in the middle of a swap gets its backup back, the backfill scratch database goes.
 * Every action is safe to repeat.
 */
import { isShardTable, logicalName, shardTableName } from '../clickhouse/replicated-engine.ts';
import { dropScratchDatabaseSql } from './backfill.ts';
import type { DeploymentRecord } from './bookkeeping.ts';
import { DEPLOYMENTS_TABLE } from './bookkeeping.ts';
import { type DdlContext, dropTableSql, renameSql } from './ddl.ts';
import type { LiveState, LiveTable } from './introspect.ts';
import { gateName, nameRole, scratchDatabaseName } from './names.ts';
import type { Step } from './plan-types.ts';

export interface Recovery {
  steps: Array<Omit<Step, 'n'>>;
  notes: string[];
  /** The tables as they will be once the steps have run. */
  tables: Map<string, LiveTable>;
}

export function planRecovery(
  live: LiveState,
  deployments: readonly DeploymentRecord[],
  ctx: DdlContext,
  scratchDatabaseExists: boolean,
  /** The deployment recovering after its own failure: its record says running, which is no news. */
  self?: string,
): Recovery {
  const steps: Recovery['steps'] = [];
  const notes: string[] = [];
  const tables = new Map(live.tables);
  const latest = deployments[0];
  if (latest?.status === 'running' && latest.id !== self) {
    notes.push(
      `deployment ${latest.id} (started ${latest.startedAt} UTC) did not finish; its leftovers are cleaned up first`,
    );
  }
  // Views first: a half-built view must not fire while tables are put back.
  const all = [...live.tables.values()].sort(
    (a, b) => Number(b.engine === 'MaterializedView') - Number(a.engine === 'MaterializedView'),
  );
  for (const t of all) {
    const role = nameRole(t.name);
    if (role.role !== 'next') continue;
    steps.push({
      kind: 'recover',
      resource: role.of,
      resourceKind: t.engine === 'MaterializedView' ? 'view' : 'datasource',
      what: `drop ${t.name}`,
      why: 'half-built by an interrupted deploy',
      destructive: false,
      // Sharded: a next table folded from its Distributed table has a table per shard too.
      sql: [
        dropTableSql(t.name, ctx),
        ...(ctx.sharded && t.engine !== 'MaterializedView' && !isShardTable(t.name)
          ? [dropTableSql(shardTableName(t.name), ctx)]
          : []),
      ],
      names: [t.name],
    });
    tables.delete(t.name);
  }
  for (const t of live.tables.values()) {
    const role = nameRole(t.name);
    if (role.role !== 'hold') continue;
    const inPlace = tables.get(role.of);
    if (inPlace?.engine === 'Merge') {
      // The gate of an Ordinary database's hold still has the name: swap the table back in.
      steps.push({
        kind: 'recover',
        resource: role.of,
        resourceKind: 'datasource',
        what: `put ${t.name} back in place of its gate`,
        why: 'held by an interrupted deploy: inserts into it fail until it is back',
        destructive: false,
        sql: [
          renameSql(
            [
              [role.of, gateName(role.of)],
              [t.name, role.of],
            ],
            ctx,
          ),
          dropTableSql(gateName(role.of), ctx),
        ],
        names: [t.name, role.of],
      });
      tables.delete(t.name);
      tables.set(role.of, { ...t, name: role.of, renamedBack: true });
      continue;
    }
    if (inPlace) {
      notes.push(`both ${role.of} and ${t.name} exist; left alone (rename or drop one by hand)`);
      continue;
    }
    steps.push({
      kind: 'recover',
      resource: role.of,
      resourceKind: 'datasource',
      what: `rename ${t.name} back to ${role.of}`,
      why: 'held by an interrupted deploy: inserts into it fail until it is back',
      destructive: false,
      sql: [renameSql([[t.name, role.of]], ctx)],
      names: [t.name, role.of],
    });
    tables.delete(t.name);
    tables.set(role.of, { ...t, name: role.of, renamedBack: true });
  }
  if (latest && latest.status !== 'succeeded') {
    for (const t of live.tables.values()) {
      const role = nameRole(t.name);
      // Sharded: the backup is of a shard table (`<t>__tally_shard`), which the planner sees as `t`.
      if (role.role !== 'backup' || role.deployId !== latest.id) continue;
      if (tables.has(role.of) || (ctx.sharded && tables.has(logicalName(role.of)))) continue;
      steps.push({
        kind: 'recover',
        resource: role.of,
        resourceKind: 'datasource',
        what: `rename ${t.name} back to ${role.of}`,
        why: `deployment ${latest.id} stopped in the middle of swapping ${role.of}`,
        destructive: false,
        sql: [renameSql([[t.name, role.of]], ctx)],
        names: [t.name, role.of],
      });
      tables.delete(t.name);
      tables.set(role.of, { ...t, name: role.of, renamedBack: true });
    }
  }
  if (scratchDatabaseExists) {
    steps.push({
      kind: 'recover',
      resource: DEPLOYMENTS_TABLE,
      resourceKind: 'tally',
      what: `drop database ${scratchDatabaseName(ctx.database)}`,
      why: 'backfill snapshots left by an interrupted deploy',
      destructive: false,
      // Sharded: the snapshots were made on every node (shard-snapshot.ts).
      sql: [dropScratchDatabaseSql(ctx)],
    });
  }
  return { steps, notes, tables };
}
