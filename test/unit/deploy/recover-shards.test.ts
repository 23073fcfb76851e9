import { describe, expect, it } from 'vitest';
import { capabilitiesFor } from '../../../src/clickhouse/capabilities.ts';
import type { DeploymentRecord } from '../../../src/deploy/bookkeeping.ts';
import type { DdlContext } from '../../../src/deploy/ddl.ts';
import { bareLiveTable, type LiveState, type LiveTable } from '../../../src/deploy/introspect.ts';
import { planRecovery } from '../../../src/deploy/recover.ts';

const sharded: DdlContext = {
  database: 'db',
  capabilities: capabilitiesFor('18.16.1'),
  cluster: 'c',
  sharded: true,
};

function table(name: string, engine = 'ReplicatedMergeTree'): LiveTable {
  return bareLiveTable(name, engine);
}

function live(...tables: LiveTable[]): LiveState {
  return { database: 'db', databaseEngine: 'Ordinary', tables: new Map(tables.map((t) => [t.name, t])) };
}

const failed = { id: '20261128221500000_ab12', status: 'failed', startedAt: '' } as DeploymentRecord;

describe('recovery on a sharded cluster', () => {
  it('drops a half-built next table with its table per shard, ON CLUSTER, and the scratch database everywhere', () => {
    // As introspection folds it: the next Distributed table and its shards' table are one entry.
    const r = planRecovery(live(table('t'), table('t__tally_next')), [failed], sharded, true);
    expect(r.steps.flatMap((s) => s.sql)).toEqual([
      'DROP TABLE IF EXISTS `db`.`t__tally_next` ON CLUSTER `c`',
      'DROP TABLE IF EXISTS `db`.`t__tally_next__tally_shard` ON CLUSTER `c`',
      'DROP DATABASE IF EXISTS `db__tally_backfill` ON CLUSTER `c`',
    ]);
    // Unfolded (its Distributed table already gone): the shards' table alone, once.
    const alone = planRecovery(
      live(table('t'), table('t__tally_next__tally_shard')),
      [failed],
      sharded,
      false,
    );
    expect(alone.steps.flatMap((s) => s.sql)).toEqual([
      'DROP TABLE IF EXISTS `db`.`t__tally_next__tally_shard` ON CLUSTER `c`',
    ]);
  });

  it('leaves the backup of a shard table alone while the data source it belongs to is there', () => {
    const backup = table('t__tally_shard__backup_20261128221500000_ab12');
    expect(planRecovery(live(table('t'), backup), [failed], sharded, false).steps).toEqual([]);
    // Its data source gone half-way through a swap: the backup is put back in place.
    expect(planRecovery(live(backup), [failed], sharded, false).steps.flatMap((s) => s.sql)).toEqual([
      'RENAME TABLE `db`.`t__tally_shard__backup_20261128221500000_ab12` TO `db`.`t__tally_shard` ON CLUSTER `c`',
    ]);
  });
});
