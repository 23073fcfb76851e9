import { describe, expect, it } from 'vitest';
import { capabilitiesFor } from '../../../src/clickhouse/capabilities.ts';
import { engineCall, onClusterClause } from '../../../src/clickhouse/replicated-engine.ts';
import { CLUSTER_ATOMIC_REFUSED, clusterRefusal, runsOn } from '../../../src/deploy/cluster-plan.ts';
import {
  addColumnCmd,
  createTableSql,
  createTableSqls,
  createViewSql,
  type DdlContext,
  type ViewSpec,
} from '../../../src/deploy/ddl.ts';
import { nameRole } from '../../../src/deploy/names.ts';
import type { Step } from '../../../src/deploy/plan-types.ts';
import { shardingKeyFor, type TableSpec } from '../../../src/deploy/table-spec.ts';
import { entriesBehind } from '../../../src/ingest/replica-caught-up.ts';
import { eventsProject } from '../../support/model-builder.ts';

const cluster: DdlContext = { database: 'tally', capabilities: capabilitiesFor('18.16.1'), cluster: 'c' };

const spec: TableSpec = {
  name: 't',
  role: 'datasource',
  columns: [{ name: 'a', type: 'String' }],
  engine: { type: 'MergeTree', sortingKey: ['a'], settings: {} },
};

describe('deploy on a cluster', () => {
  it('says where each step runs', () => {
    expect(runsOn('create-table', 'c')).toBe('every node (ON CLUSTER c)');
    expect(runsOn('alter-table', 'c')).toBe('every node (ON CLUSTER c)');
    expect(runsOn('drop-table', 'c')).toBe('every node (ON CLUSTER c)');
    expect(runsOn('create-view', 'c')).toMatch(/^every node/);
    expect(runsOn('backfill', 'c')).toBe('this node; replicas fetch the rows');
    for (const k of CLUSTER_ATOMIC_REFUSED)
      expect(runsOn(k, 'c')).toMatch(/^every node .*writers paused: checked$/);
  });

  it('refuses the swaps in an Atomic database with the step, the reason and what to do', () => {
    const step = {
      n: 3,
      kind: 'rebuild-table',
      resource: 'transactions',
      what: 'rebuild table transactions',
      why: 'sorting key (a) -> (b)',
    } as Step;
    const message = clusterRefusal(step, 'c');
    expect(message).toContain('step 3 (rebuild table transactions)');
    expect(message).toContain('sorting key (a) -> (b)');
    expect(message).toContain('clickhouse.cluster = c');
    expect(message).toMatch(/this one is Atomic/);
    expect(message).toMatch(/hint: make the change additive/);
  });

  it('writes Replicated engines and no column comments (18.16 refuses the second replica with them)', () => {
    const sql = createTableSql(
      {
        name: 't',
        role: 'datasource',
        columns: [{ name: 'a', type: 'String', comment: 'why' }],
        engine: { type: 'SummingMergeTree', sumColumns: ['a'], sortingKey: ['a'], settings: {} },
      },
      cluster,
    );
    expect(sql).toContain(
      "ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/tally/t', '{replica}', (`a`))",
    );
    expect(sql).not.toContain('COMMENT');
    expect(addColumnCmd({ name: 'b', type: 'String', comment: 'x' }, 'a', false)).toBe(
      'ADD COLUMN `b` String AFTER `a`',
    );
    expect(engineCall('MergeTree', [], { database: 'd', table: 't' })).toBe('MergeTree()');
    // A table built to be swapped in keeps the ZooKeeper path it was created with.
    expect(createTableSql({ ...spec, name: 't' }, cluster, 't__tally_next', 't__tally_next_x')).toContain(
      "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/tally/t__tally_next_x', '{replica}')",
    );
    expect(onClusterClause(undefined)).toBe('');
  });
});

describe('replica catch-up', () => {
  it('counts log entries not pulled yet and INSERTs not fetched yet', () => {
    expect(entriesBehind(0, 0, 0)).toBe(0);
    expect(entriesBehind(5, 4, 0)).toBe(0);
    expect(entriesBehind(3, 4, 0)).toBe(2);
    expect(entriesBehind(5, 4, 3)).toBe(3);
  });
});

describe('deploy on a sharded cluster', () => {
  const sharded: DdlContext = { ...cluster, sharded: true };
  const view: ViewSpec = {
    name: 'totals_mv',
    pipe: 'totals_mv',
    target: 'totals',
    source: 't',
    reads: ['t'],
    query: 'SELECT a, count() AS n FROM `tally`.`t` GROUP BY a',
    hash: 'h',
  };

  it('splits a data source: a table per shard, and a Distributed table by its sharding key', () => {
    const [local, dist] = createTableSqls(spec, sharded, 'cityHash64(`a`)');
    expect(local).toContain('CREATE TABLE IF NOT EXISTS `tally`.`t__tally_shard` ON CLUSTER `c`');
    expect(local).toContain(
      "ReplicatedMergeTree('/clickhouse/tables/{shard}/tally/t__tally_shard', '{replica}')",
    );
    expect(dist).toBe(
      'CREATE TABLE IF NOT EXISTS `tally`.`t` ON CLUSTER `c` AS `tally`.`t__tally_shard` ENGINE = Distributed(`c`, `tally`, `t__tally_shard`, cityHash64(`a`))',
    );
    // Anything else is kept whole on every node: one path for the cluster, a replica per node.
    expect(createTableSqls({ ...spec, role: 'quarantine' }, sharded, 'rand()')).toEqual([
      expect.stringContaining("ReplicatedMergeTree('/clickhouse/tables/all/tally/t', '{shard}-{replica}')"),
    ]);
    expect(createTableSqls(spec, cluster, 'rand()')).toHaveLength(1);
  });

  it("fires views on the shards' tables and writes the shards' tables", () => {
    expect(createViewSql(view, sharded)).toBe(
      'CREATE MATERIALIZED VIEW IF NOT EXISTS `tally`.`totals_mv` ON CLUSTER `c` TO `tally`.`totals__tally_shard`\nAS SELECT a, count() AS n FROM `tally`.`t__tally_shard` GROUP BY a',
    );
    expect(createViewSql(view, cluster)).toContain(
      'TO `tally`.`totals`\nAS SELECT a, count() AS n FROM `tally`.`t` GROUP BY a',
    );
  });

  it('spreads rows by the dedup key, else the sorting key, else at random', () => {
    const base = eventsProject().datasources.values().next().value!;
    expect(shardingKeyFor({ ...base, dedupKey: ['id', 'kind'] })).toBe('cityHash64(`id`, `kind`)');
    expect(
      shardingKeyFor({ ...base, dedupKey: undefined, engine: { ...base.engine, sortingKey: ['at'] } }),
    ).toBe('cityHash64(`at`)');
    expect(shardingKeyFor({ ...base, dedupKey: undefined, engine: { ...base.engine, sortingKey: [] } })).toBe(
      'rand()',
    );
  });

  it('says where the swaps and the backfill run', () => {
    expect(runsOn('replace-view', 'c', true)).toMatch(/each shard copies its rows; writers paused: checked$/);
    expect(runsOn('backfill', 'c', true)).toMatch(/^every shard/);
    // Half-built tables of a sharded swap are known to recovery, with their tables per shard.
    expect(nameRole('t__tally_next__tally_shard')).toEqual({ role: 'next', of: 't' });
    expect(nameRole('t__tally_shard__backup_20261128221500000_ab12')).toEqual({
      role: 'backup',
      of: 't__tally_shard',
      deployId: '20261128221500000_ab12',
    });
  });
});
