import { describe, expect, it } from 'vitest';
import { capabilitiesFor } from '../../../src/clickhouse/capabilities.ts';
import { createDeploymentsTableSql } from '../../../src/deploy/bookkeeping.ts';
import {
  addColumnCmd,
  alterSql,
  attachViewSql,
  commentColumnCmd,
  createTableSql,
  createViewSql,
  type DdlContext,
  dropTableSql,
  modifyColumnTypeCmd,
  modifyDefaultCmd,
  modifyTtlCmd,
  renameSql,
  withLiveDatabase,
} from '../../../src/deploy/ddl.ts';
import { quarantineSpecFor, tableSpecFor } from '../../../src/deploy/table-spec.ts';
import { viewSpecFor } from '../../../src/deploy/view-spec.ts';
import { datasource, eventsProject, pipe, project } from '../../support/model-builder.ts';

const old: DdlContext = { database: 'tally', capabilities: capabilitiesFor('18.16.1') };
const cur: DdlContext = { database: 'tally', capabilities: capabilitiesFor('26.7.2.1') };
const cluster: DdlContext = { ...old, cluster: 'main' };

const transactions = datasource('transactions', {
  columns: [
    { name: 'transaction_id', type: 'String' },
    { name: 'timestamp', type: 'DateTime' },
    { name: 'account_id', type: 'String' },
    { name: 'amount', type: 'Decimal(18, 2)', comment: "Signed: money in is positive, it's money" },
    { name: 'currency', type: 'String', default: "'USD'" },
  ],
  engine: 'ReplacingMergeTree',
  sortingKey: ['account_id', 'timestamp', 'transaction_id'],
  partitionKey: 'toYYYYMM(timestamp)',
});

describe('DDL text', () => {
  it('creates a data source table', () => {
    expect(createTableSql(tableSpecFor(transactions), old)).toBe(
      [
        'CREATE TABLE IF NOT EXISTS `tally`.`transactions`',
        '(',
        '  `transaction_id` String,',
        '  `timestamp` DateTime,',
        '  `account_id` String,',
        "  `amount` Decimal(18, 2) COMMENT 'Signed: money in is positive, it\\'s money',",
        "  `currency` String DEFAULT 'USD'",
        ')',
        'ENGINE = ReplacingMergeTree()',
        'PARTITION BY toYYYYMM(timestamp)',
        'ORDER BY (`account_id`, `timestamp`, `transaction_id`)',
      ].join('\n'),
    );
  });

  it('renders engine parameters, primary key, TTL and settings', () => {
    const ds = datasource('snap', {
      columns: [
        { name: 'k', type: 'String' },
        { name: 'v', type: 'UInt64' },
        { name: 'd', type: 'DateTime' },
      ],
      engine: 'ReplacingMergeTree',
      version: 'v',
      sortingKey: ['k', 'toDate(d)'],
      primaryKey: ['k'],
      ttl: 'd + INTERVAL 30 DAY',
      settings: { index_granularity: 1024, storage_policy: 'hot' },
    });
    expect(createTableSql(tableSpecFor(ds), cur).split('\n').slice(-5)).toEqual([
      'ENGINE = ReplacingMergeTree(`v`)',
      'ORDER BY (`k`, toDate(d))',
      'PRIMARY KEY (`k`)',
      'TTL d + INTERVAL 30 DAY',
      "SETTINGS index_granularity = 1024, storage_policy = 'hot'",
    ]);
  });

  it('creates the quarantine table beside it', () => {
    expect(createTableSql(quarantineSpecFor(transactions), old)).toBe(
      [
        'CREATE TABLE IF NOT EXISTS `tally`.`transactions_quarantine`',
        '(',
        "  `received_at` DateTime COMMENT 'when Tally refused the event (UTC)',",
        "  `raw` String COMMENT 'the event exactly as received',",
        "  `reason` String COMMENT 'every problem found, one per line',",
        "  `columns` Array(String) COMMENT 'the columns that failed',",
        "  `source` String COMMENT '\\'kafka\\', \\'http\\' or \\'append\\'',",
        "  `topic` String COMMENT 'Kafka topic (empty for http)',",
        "  `partition` Int32 COMMENT 'Kafka partition (-1 for http)',",
        "  `offset` Int64 COMMENT 'Kafka offset (-1 for http)',",
        "  `request_id` String COMMENT 'HTTP request id or append run id (empty for kafka)'",
        ')',
        'ENGINE = MergeTree()',
        'PARTITION BY toYYYYMM(received_at)',
        'ORDER BY (`received_at`)',
      ].join('\n'),
    );
  });

  it('on a cluster: ON CLUSTER and a Replicated engine with the table path and replica macro', () => {
    const sql = createTableSql(tableSpecFor(transactions), cluster);
    expect(sql.split('\n')[0]).toBe('CREATE TABLE IF NOT EXISTS `tally`.`transactions` ON CLUSTER `main`');
    expect(sql).toContain(
      "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/tally/transactions', '{replica}')",
    );
    const agg = datasource('totals', {
      columns: [
        { name: 'k', type: 'String' },
        { name: 'v', type: 'UInt64' },
      ],
      engine: 'ReplacingMergeTree',
      version: 'v',
    });
    expect(createTableSql(tableSpecFor(agg), cluster)).toContain(
      "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/tally/totals', '{replica}', `v`)",
    );
    expect(
      renameSql(
        [
          ['a', 'b'],
          ['c', 'd'],
        ],
        cluster,
      ),
    ).toBe('RENAME TABLE `tally`.`a` TO `tally`.`b`, `tally`.`c` TO `tally`.`d` ON CLUSTER `main`');
    expect(dropTableSql('x', cluster)).toBe('DROP TABLE IF EXISTS `tally`.`x` ON CLUSTER `main`');
    // Atomic database on a cluster (current servers): drops wait, so the name can be reused at once.
    const atomic = withLiveDatabase(cluster, 'Atomic');
    expect(dropTableSql('x', atomic)).toBe('DROP TABLE IF EXISTS `tally`.`x` ON CLUSTER `main` SYNC');
    expect(withLiveDatabase(cluster, 'Ordinary')).toBe(cluster);
    expect(
      withLiveDatabase({ database: 'tally', capabilities: cluster.capabilities }, 'Atomic').syncDrops,
    ).toBe(undefined);
    expect(alterSql('x', addColumnCmd({ name: 'c', type: 'String' }, 'b'), cluster)).toBe(
      'ALTER TABLE `tally`.`x` ON CLUSTER `main` ADD COLUMN `c` String AFTER `b`',
    );
    expect(createDeploymentsTableSql(cluster)).toContain(
      "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/tally/tally_deployments', '{replica}', `version`)",
    );
    const p = eventsProject();
    const view = viewSpecFor(p, p.pipes.get('totals_mv')!, cluster);
    expect(createViewSql(view, cluster).split('\n')[0]).toBe(
      'CREATE MATERIALIZED VIEW IF NOT EXISTS `tally`.`totals_mv` ON CLUSTER `main` TO `tally`.`totals`',
    );
  });

  it('quotes every name, even hostile ones', () => {
    const ctx: DdlContext = { database: 'my`db', capabilities: capabilitiesFor('18.16.1') };
    expect(dropTableSql('a`b\\c', ctx)).toBe('DROP TABLE IF EXISTS `my\\`db`.`a\\`b\\\\c`');
  });

  it('creates and attaches materialized views', () => {
    const p = eventsProject();
    const view = viewSpecFor(p, p.pipes.get('totals_mv')!, old);
    expect(view).toMatchObject({
      name: 'totals_mv',
      pipe: 'totals_mv',
      source: 'events',
      target: 'totals',
      reads: ['events'],
    });
    expect(createViewSql(view, old)).toBe(
      'CREATE MATERIALIZED VIEW IF NOT EXISTS `tally`.`totals_mv` TO `tally`.`totals`\nAS SELECT account, sumState(amount) AS total, countState() AS n FROM `tally`.`events` GROUP BY account',
    );
    const cols = [
      { name: 'account', type: 'String' },
      { name: 'total', type: 'AggregateFunction(sum, Decimal(18, 2))' },
    ];
    expect(attachViewSql('totals_mv', 'totals', cols, view.query, old)).toBe(
      [
        'ATTACH MATERIALIZED VIEW `tally`.`totals_mv` TO `tally`.`totals`',
        '(',
        '  `account` String,',
        '  `total` AggregateFunction(sum, Decimal(18, 2))',
        ')',
        'AS SELECT account, sumState(amount) AS total, countState() AS n FROM `tally`.`events` GROUP BY account',
      ].join('\n'),
    );
    expect(
      attachViewSql('v', 't', cols, 'SELECT 1', cur, '6b1d2c1e-0000-4000-8000-000000000001').split('\n')[0],
    ).toBe("ATTACH MATERIALIZED VIEW `tally`.`v` UUID '6b1d2c1e-0000-4000-8000-000000000001' TO `tally`.`t`");
  });

  it('names a view after its pipe, or <pipe>_mv when the pipe shares its name with its data source', () => {
    const ds = datasource('balances', { columns: [{ name: 'k', type: 'String' }] });
    const src = datasource('tx', { columns: [{ name: 'k', type: 'String' }] });
    const p = project({ datasources: [ds, src], pipes: [pipe('balances', 'SELECT k FROM tx', 'balances')] });
    expect(viewSpecFor(p, p.pipes.get('balances')!, old).name).toBe('balances_mv');
  });

  it('follows a node chain to the data source that fires the view', () => {
    const src = datasource('tx', {
      columns: [
        { name: 'k', type: 'String' },
        { name: 'v', type: 'UInt64' },
      ],
    });
    const dim = datasource('dim', { columns: [{ name: 'k', type: 'String' }] });
    const out = datasource('out', {
      columns: [
        { name: 'k', type: 'String' },
        { name: 'n', type: 'UInt64' },
      ],
    });
    const p = project({
      datasources: [src, dim, out],
      pipes: [
        pipe(
          'chain',
          ['SELECT k, v FROM tx WHERE k IN (SELECT k FROM dim)', 'SELECT k, sum(v) AS n FROM n0 GROUP BY k'],
          'out',
        ),
      ],
    });
    const view = viewSpecFor(p, p.pipes.get('chain')!, old);
    expect(view.source).toBe('tx');
    expect(view.reads).toEqual(['tx', 'dim']);
    expect(view.query).toContain('FROM (SELECT k, v FROM `tally`.`tx`');
  });

  it('renders ALTER commands, restating defaults where 18.16 would drop them', () => {
    const c = { name: 'currency', type: 'LowCardinality(String)', default: "'USD'", comment: 'ISO code' };
    expect(modifyColumnTypeCmd(c)).toBe("MODIFY COLUMN `currency` LowCardinality(String) DEFAULT 'USD'");
    expect(modifyDefaultCmd(c, old.capabilities)).toBe("MODIFY COLUMN `currency` DEFAULT 'USD'");
    const bare = { name: 'currency', type: 'String' };
    expect(modifyDefaultCmd(bare, old.capabilities)).toBe('MODIFY COLUMN `currency` String');
    expect(modifyDefaultCmd(bare, cur.capabilities)).toBe('MODIFY COLUMN `currency` REMOVE DEFAULT');
    expect(commentColumnCmd(c)).toBe("COMMENT COLUMN `currency` 'ISO code'");
    expect(modifyTtlCmd('d + INTERVAL 1 DAY')).toBe('MODIFY TTL d + INTERVAL 1 DAY');
    expect(modifyTtlCmd(undefined)).toBe('REMOVE TTL');
  });
});

describe('Kafka coordinates for exactly-once ingestion', () => {
  const cols = [
    { name: 'id', type: 'String' },
    { name: 'amount', type: 'Int64' },
  ];

  it('stores __partition and __offset for a Kafka data source without dedup_key', () => {
    const spec = tableSpecFor(datasource('clicks', { columns: cols, kafka: true }));
    expect(spec.columns.map((c) => [c.name, c.type, c.default])).toEqual([
      ['id', 'String', undefined],
      ['amount', 'Int64', undefined],
      ['__partition', 'Int32', '-1'],
      ['__offset', 'Int64', '-1'],
    ]);
  });

  it('adds nothing with a dedup_key, without Kafka, or when the user lists them', () => {
    const keyed = { ...datasource('a', { columns: cols, kafka: true }), dedupKey: ['id'] };
    expect(tableSpecFor(keyed).columns.map((c) => c.name)).toEqual(['id', 'amount']);
    expect(tableSpecFor(datasource('b', { columns: cols })).columns.map((c) => c.name)).toEqual([
      'id',
      'amount',
    ]);
    const listed = datasource('c', { columns: [...cols, { name: '__offset', type: 'Int64' }], kafka: true });
    expect(tableSpecFor(listed).columns.map((c) => c.name)).toEqual([
      'id',
      'amount',
      '__offset',
      '__partition',
    ]);
  });
});
