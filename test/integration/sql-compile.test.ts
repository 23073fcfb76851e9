// Compiled node chains run on the real engines: nested subqueries on both back ends, CTEs where
// the server has them, with the same answers.
import { beforeAll, expect, it } from 'vitest';
import type { DataSource } from '../../src/project/model.ts';
import { compilePipe } from '../../src/sql/compile-pipe.ts';
import type { ValueMode } from '../../src/sql/render-template.ts';
import { forEachBackend } from '../support/backends.ts';
import { ex, ifPart, node, param, pipe, tpl, ty } from '../unit/sql/helpers.ts';

const balance = pipe(
  'balance',
  [
    param('account_id', ty('String'), { required: true }),
    param('as_of', ty('DateTime')),
    param('kinds', ty('Array', ty('String')), { default: ['credit', 'debit'] }),
  ],
  [
    node('movements', [
      ...tpl(
        'SELECT account_id, amount, timestamp, transactions.type AS kind FROM transactions\n' +
          'WHERE account_id = {{ account_id }} AND has({{ kinds }}, type)',
      ),
      ifPart([[ex.defined('as_of'), tpl(' AND timestamp <= {{ as_of }}')]]),
      ...tpl('\n-- the movements of one account'),
    ]),
    node(
      'totals',
      'SELECT account_id, sum(amount) AS balance, count() AS n FROM movements GROUP BY account_id',
    ),
    node(
      'named',
      'SELECT t.account_id AS account_id, t.balance AS balance, t.n AS n, a.name AS name\n' +
        'FROM totals AS t LEFT JOIN accounts AS a ON a.account_id = t.account_id\n' +
        "WHERE t.account_id IN (SELECT account_id FROM movements) AND 'FROM totals' != ''",
    ),
  ],
);

const union = pipe(
  'union',
  [],
  [
    node('a', 'SELECT 1 AS x'),
    node('b', 'WITH 10 AS k SELECT x * k AS x FROM a'),
    node('c', 'SELECT x FROM a UNION ALL SELECT x FROM b'),
    node('d', 'SELECT sum(x) AS s FROM c'),
  ],
);

const top = pipe(
  'top',
  [
    param('n', ty('UInt32'), { default: 2 }),
    param('skip', ty('UInt64'), { default: 1 }),
    param('q', ty('Float64'), { default: 0.5 }),
  ],
  [
    node(
      'ranked',
      'SELECT account_id, amount FROM transactions ORDER BY amount DESC, account_id LIMIT {{ skip }}, {{ n }}',
    ),
    node(
      'stats',
      'SELECT quantile({{ q }})(toFloat64(amount)) AS median, count() AS n, {{ n }} AS asked FROM ranked',
    ),
  ],
);

// The documented Array pattern: `IN {{ ids }}` (18.16 refuses an array after IN).
const picked = pipe(
  'picked',
  [param('ids', ty('Array', ty('String'))), param('n', ty('Array', ty('Int64')))],
  [
    node(
      'q',
      tpl(
        'SELECT transaction_id FROM transactions WHERE transaction_id IN {{ ids }} AND toInt64(amount) NOT IN {{ n }} ORDER BY transaction_id',
      ),
    ),
  ],
);

const PROJECT = {
  pipes: new Map([
    [picked.name, picked],
    [balance.name, balance],
    [union.name, union],
    [top.name, top],
  ]),
  datasources: new Map(
    ['transactions', 'accounts'].map((n) => [n, { kind: 'datasource', name: n } as DataSource]),
  ),
};

forEachBackend('compiled chains', (ctx) => {
  const chains = (): Array<'subquery' | 'cte'> =>
    ctx.engine.capabilities.cte ? ['subquery', 'cte'] : ['subquery'];
  const modes = (): ValueMode[] =>
    ctx.engine.capabilities.queryParams ? ['literal', 'params'] : ['literal'];

  beforeAll(async () => {
    await ctx.engine.command(
      'CREATE TABLE transactions (transaction_id String, timestamp DateTime, account_id String, type String, amount Decimal(18, 2)) ENGINE = MergeTree ORDER BY (account_id, timestamp)',
    );
    await ctx.engine.command(
      'CREATE TABLE accounts (account_id String, name String) ENGINE = MergeTree ORDER BY account_id',
    );
    await ctx.engine.insert('transactions', [
      {
        transaction_id: 't1',
        timestamp: '2024-03-01 10:00:00',
        account_id: 'a1',
        type: 'credit',
        amount: 100,
      },
      {
        transaction_id: 't2',
        timestamp: '2024-03-05 10:00:00',
        account_id: 'a1',
        type: 'debit',
        amount: -30.5,
      },
      { transaction_id: 't3', timestamp: '2024-03-09 10:00:00', account_id: 'a1', type: 'fee', amount: -1 },
      { transaction_id: 't4', timestamp: '2024-03-02 10:00:00', account_id: 'a2', type: 'credit', amount: 7 },
    ]);
    await ctx.engine.insert('accounts', [{ account_id: 'a1', name: "Ann O'Neil" }]);
  });

  it('the balance chain gives the same rows in every chain and value mode', async () => {
    for (const chain of chains()) {
      for (const values of modes()) {
        const opts = { capabilities: ctx.engine.capabilities, database: ctx.database, chain, values };
        const now = await ctx.engine.rows(compilePipe(PROJECT, 'balance', { account_id: 'a1' }, opts).sql, {
          params: compilePipe(PROJECT, 'balance', { account_id: 'a1' }, opts).params,
        });
        expect(now.map((r) => ({ ...r, balance: Number(r.balance), n: Number(r.n) }))).toEqual([
          { account_id: 'a1', balance: 69.5, n: 2, name: "Ann O'Neil" },
        ]);
        const q = compilePipe(
          PROJECT,
          'balance',
          { account_id: 'a1', as_of: '2024-03-02T00:00:00Z', kinds: 'credit,debit,fee' },
          opts,
        );
        const then = await ctx.engine.rows<{ balance: unknown }>(q.sql, { params: q.params });
        expect(then.map((r) => Number(r.balance))).toEqual([100]);
      }
    }
  });

  it('an Array param after IN selects its values in every value mode; the empty array selects none', async () => {
    for (const values of modes()) {
      const opts = { capabilities: ctx.engine.capabilities, database: ctx.database, values };
      const ids = async (raw: Record<string, string>) => {
        const q = compilePipe(PROJECT, 'picked', raw, opts);
        const rows = await ctx.engine.rows<{ transaction_id: string }>(q.sql, { params: q.params });
        return rows.map((r) => r.transaction_id);
      };
      expect(await ids({ ids: 't1,t3,zz', n: '' }), values).toEqual(['t1', 't3']);
      expect(await ids({ ids: 't1,t3,t4', n: '7,-1' }), values).toEqual(['t1']);
      expect(await ids({ ids: 't2', n: '-1' }), values).toEqual(['t2']);
      expect(await ids({ ids: '', n: '' }), values).toEqual([]);
    }
  });

  it('any node compiles and runs on its own', async () => {
    for (const chain of chains()) {
      const q = compilePipe(
        PROJECT,
        'balance',
        { account_id: 'a2' },
        {
          capabilities: ctx.engine.capabilities,
          database: ctx.database,
          chain,
          node: 'totals',
        },
      );
      const rows = await ctx.engine.rows<{ account_id: string; n: unknown }>(q.sql, { params: q.params });
      expect(rows.map((r) => [r.account_id, Number(r.n)])).toEqual([['a2', 1]]);
    }
  });

  it('numbers are bare where ClickHouse takes only a literal (LIMIT, aggregate parameters)', async () => {
    for (const chain of chains()) {
      for (const values of modes()) {
        const q = compilePipe(
          PROJECT,
          'top',
          { n: '2', q: '0.5' },
          { capabilities: ctx.engine.capabilities, database: ctx.database, chain, values },
        );
        const res = await ctx.engine.query<{ median: unknown; n: unknown; asked: unknown }>(q.sql, {
          params: q.params,
        });
        expect(
          res.data.map((r) => [Number(r.median), Number(r.n), Number(r.asked)]),
          `${chain} ${values}`,
        ).toEqual([[3, 2, 2]]);
        expect(res.meta.find((m) => m.name === 'asked')?.type).toBe('UInt32');
      }
    }
  });

  it('a node with its own WITH and a UNION ALL reading earlier nodes', async () => {
    for (const chain of chains()) {
      const q = compilePipe(
        PROJECT,
        'union',
        {},
        { capabilities: ctx.engine.capabilities, database: ctx.database, chain },
      );
      const rows = await ctx.engine.rows<{ s: unknown }>(q.sql);
      expect(
        rows.map((r) => Number(r.s)),
        chain,
      ).toEqual([11]);
      // The union itself as the compiled node: the WITH list must reach its second SELECT.
      const c = compilePipe(
        PROJECT,
        'union',
        {},
        { capabilities: ctx.engine.capabilities, database: ctx.database, chain, node: 'c' },
      );
      const xs = await ctx.engine.rows<{ x: unknown }>(c.sql);
      expect(
        xs.map((r) => Number(r.x)).sort((a, b) => a - b),
        chain,
      ).toEqual([1, 10]);
    }
  });
});
