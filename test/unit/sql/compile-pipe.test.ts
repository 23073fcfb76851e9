import { describe, expect, it } from 'vitest';
import { capabilitiesFor } from '../../../src/clickhouse/capabilities.ts';
import type { DataSource, Pipe } from '../../../src/project/model.ts';
import {
  compileNodeForCheck,
  compileNodesForCheck,
  compilePipe,
  sampleParams,
} from '../../../src/sql/compile-pipe.ts';
import { ParamError } from '../../../src/sql/param-error.ts';
import { resolveParams } from '../../../src/sql/parse-param-value.ts';
import { ex, ifPart, node, param, pipe, tpl, ty } from './helpers.ts';

const OLD = capabilitiesFor('18.16.1');
const NEW = capabilitiesFor('26.7.2.1');

function project(...pipes: Pipe[]) {
  const ds = (name: string) => ({ kind: 'datasource', name }) as DataSource;
  return {
    pipes: new Map(pipes.map((p) => [p.name, p])),
    datasources: new Map(['transactions', 'accounts'].map((n) => [n, ds(n)])),
  };
}

const balance = pipe(
  'balance',
  [param('account_id', ty('String'), { required: true }), param('as_of', ty('DateTime'))],
  [
    node('movements', [
      ...tpl('SELECT account_id, amount, timestamp FROM transactions WHERE account_id = {{ account_id }}'),
      ifPart([[ex.defined('as_of'), tpl(' AND timestamp <= {{ as_of }}')]]),
    ]),
    node('totals', 'SELECT account_id, sum(amount) AS balance FROM movements GROUP BY account_id'),
    node(
      'named',
      'SELECT t.account_id, t.balance, a.name FROM totals AS t LEFT JOIN accounts a USING account_id;\n',
    ),
  ],
);
const P = project(balance);

describe('compilePipe: subqueries (every server)', () => {
  it('nests earlier nodes as aliased subqueries and qualifies data sources', () => {
    const q = compilePipe(P, 'balance', { account_id: "a'1" }, { capabilities: OLD, database: 'tally' });
    expect(q.sql).toBe(
      'SELECT t.account_id, t.balance, a.name FROM (SELECT account_id, sum(amount) AS balance FROM (' +
        "SELECT account_id, amount, timestamp FROM `tally`.`transactions` WHERE account_id = 'a\\'1'" +
        ') AS movements GROUP BY account_id) AS t LEFT JOIN `tally`.`accounts` a USING account_id',
    );
    expect(q.params).toEqual({});
    expect(Object.isFrozen(q)).toBe(true);
  });

  it('compiles up to any node', () => {
    const q = compilePipe(
      P,
      'balance',
      { account_id: 'a', as_of: '0' },
      { capabilities: OLD, database: 'db', node: 'totals' },
    );
    expect(q.sql).toBe(
      'SELECT account_id, sum(amount) AS balance FROM (SELECT account_id, amount, timestamp FROM `db`.`transactions` ' +
        "WHERE account_id = 'a' AND timestamp <= toDateTime(0)) AS movements GROUP BY account_id",
    );
    expect(() =>
      compilePipe(P, 'balance', { account_id: 'a' }, { capabilities: OLD, database: 'db', node: 'total' }),
    ).toThrow('pipe balance has no node "total"; did you mean "totals"?');
    expect(() => compilePipe(P, 'balanse', {}, { capabilities: OLD, database: 'db' })).toThrow(
      'no pipe named "balanse"; did you mean "balance"?',
    );
  });

  it('uses server-side parameters where asked, merged over nodes', () => {
    const q = compilePipe(
      P,
      'balance',
      { account_id: 'a', as_of: '0' },
      {
        capabilities: NEW,
        database: 'db',
        chain: 'subquery',
        node: 'totals',
      },
    );
    expect(q.sql).toContain(
      'WHERE account_id = {account_id:String} AND timestamp <= {as_of:DateTime}) AS movements',
    );
    expect(q.params).toEqual({ account_id: 'a', as_of: '0000000000' });
  });

  it('takes what resolveParams returned (defined() follows the request)', () => {
    const resolved = resolveParams(balance, { account_id: 'a', as_of: '1' });
    const q = compilePipe(P, 'balance', resolved, { capabilities: OLD, database: 'db', node: 'movements' });
    expect(q.sql).toBe(
      "SELECT account_id, amount, timestamp FROM `db`.`transactions` WHERE account_id = 'a' AND timestamp <= toDateTime(1)",
    );
    expect(() => compilePipe(P, 'balance', {}, { capabilities: OLD, database: 'db' })).toThrow(ParamError);
  });

  it('refuses a param given without one it requires, naming the missing one; either or both alone are fine', () => {
    const paged = pipe(
      'paged',
      [param('before', ty('DateTime')), param('before_id', ty('String'), { requires: ['before'] })],
      [node('q', tpl('SELECT 1'))],
    );
    let err: unknown;
    try {
      resolveParams(paged, { before_id: 'x' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ParamError);
    expect(err).toMatchObject({ code: 'missing-param', param: 'before' });
    expect((err as Error).message).toMatch(
      /^param "before_id" is given without "before", which it requires: give before too \(DateTime as /,
    );
    expect(() => resolveParams(paged, {})).not.toThrow();
    expect(() => resolveParams(paged, { before: '1' })).not.toThrow();
    expect(resolveParams(paged, { before: '1', before_id: 'x' }).given).toEqual(
      new Set(['before', 'before_id']),
    );
  });
});

describe('compilePipe: CTEs (servers that have them)', () => {
  it('puts the nodes the target reads in a WITH list, in pipe order', () => {
    const q = compilePipe(
      P,
      'balance',
      { account_id: 'a' },
      { capabilities: NEW, database: 'tally', values: 'literal' },
    );
    expect(q.sql).toBe(
      "WITH movements AS (SELECT account_id, amount, timestamp FROM `tally`.`transactions` WHERE account_id = 'a'), " +
        'totals AS (SELECT account_id, sum(amount) AS balance FROM movements GROUP BY account_id)\n' +
        'SELECT t.account_id, t.balance, a.name FROM totals AS t LEFT JOIN `tally`.`accounts` a USING account_id',
    );
  });

  it('is the default where supported, and refused where not', () => {
    expect(compilePipe(P, 'balance', { account_id: 'a' }, { capabilities: NEW, database: 'd' }).sql).toMatch(
      /^WITH movements AS/,
    );
    expect(() =>
      compilePipe(P, 'balance', { account_id: 'a' }, { capabilities: OLD, database: 'd', chain: 'cte' }),
    ).toThrow(/no common table expressions/);
  });

  it('joins a node’s own WITH list, and leaves out nodes the target does not read', () => {
    const p = pipe(
      'w',
      [],
      [
        node('a', 'SELECT 1 AS x'),
        node('unused', 'SELECT 2 AS x'),
        node('b', 'WITH 2 AS k SELECT x * k AS y FROM a'),
      ],
    );
    expect(compilePipe(project(p), 'w', {}, { capabilities: NEW, database: 'd' }).sql).toBe(
      'WITH a AS (SELECT 1 AS x), 2 AS k SELECT x * k AS y FROM a',
    );
    expect(compilePipe(project(p), 'w', {}, { capabilities: NEW, database: 'd', node: 'a' }).sql).toBe(
      'SELECT 1 AS x',
    );
  });
});

describe('compilePipe: what is not a reference', () => {
  it('leaves node names in strings, comments, columns, qualified names and table functions alone', () => {
    const p = pipe(
      'x',
      [],
      [
        node('movements', 'SELECT 1 AS movements'),
        node(
          'out',
          "SELECT movements, 'FROM movements' AS s, `movements`.movements AS c -- FROM movements\n" +
            'FROM movements /* JOIN movements */ JOIN other.movements USING movements\n' +
            'JOIN numbers(1) ON 1 WHERE extract(DAY FROM movements) > 0 AND x IN movements',
        ),
      ],
    );
    expect(compilePipe(project(p), 'x', {}, { capabilities: OLD, database: 'd' }).sql).toBe(
      "SELECT movements, 'FROM movements' AS s, `movements`.movements AS c -- FROM movements\n" +
        'FROM (SELECT 1 AS movements) AS movements /* JOIN movements */ JOIN other.movements USING movements\n' +
        'JOIN numbers(1) ON 1 WHERE extract(DAY FROM movements) > 0 AND x IN (SELECT 1 AS movements)',
    );
  });

  it('keeps the query’s own alias, quoted names and FINAL', () => {
    const p = pipe(
      'x',
      [],
      [
        node('m', 'SELECT 1 AS v'),
        node('out', 'SELECT * FROM `m` x JOIN m AS y ON 1 JOIN m ON 1 JOIN transactions FINAL ON 1'),
      ],
    );
    expect(compilePipe(project(p), 'x', {}, { capabilities: OLD, database: 'd' }).sql).toBe(
      'SELECT * FROM (SELECT 1 AS v) x JOIN (SELECT 1 AS v) AS y ON 1 JOIN (SELECT 1 AS v) AS m ON 1 JOIN `d`.`transactions` FINAL ON 1',
    );
  });

  it('a node reads only earlier nodes; a trailing comment does not swallow the parenthesis', () => {
    const p = pipe(
      'x',
      [],
      [node('a', 'SELECT 1 AS v -- the first\n;\n-- done'), node('b', 'SELECT * FROM a')],
    );
    expect(compilePipe(project(p), 'x', {}, { capabilities: OLD, database: 'd' }).sql).toBe(
      'SELECT * FROM (SELECT 1 AS v) AS a',
    );
    const later = pipe('y', [], [node('a', 'SELECT * FROM b'), node('b', 'SELECT 1')]);
    expect(compilePipe(project(later), 'y', {}, { capabilities: OLD, database: 'd', node: 'a' }).sql).toBe(
      'SELECT * FROM b',
    );
  });

  it('refuses a node with two statements', () => {
    const p = pipe('x', [], [node('a', 'SELECT 1; DROP TABLE t')]);
    expect(() => compilePipe(project(p), 'x', {}, { capabilities: OLD, database: 'd' })).toThrow(
      expect.objectContaining({ code: 'multiple-statements' }),
    );
  });

  it('a value can never become a reference or a second statement', () => {
    const p = pipe(
      'x',
      [param('s', ty('String'))],
      [node('a', 'SELECT 1 AS v'), node('b', 'SELECT {{ s }} AS v FROM a')],
    );
    const q = compilePipe(
      project(p),
      'x',
      { s: "'; SELECT * FROM a; --" },
      { capabilities: OLD, database: 'd' },
    );
    expect(q.sql).toBe("SELECT '\\'; SELECT * FROM a; --' AS v FROM (SELECT 1 AS v) AS a");
  });
});

describe('compilePipe: query size', () => {
  it('names the param whose value makes the query too long for max_query_size', () => {
    const p = pipe('x', [param('s', ty('String'))], [node('a', 'SELECT {{ s }}')]);
    expect(() =>
      compilePipe(project(p), 'x', { s: '\x01'.repeat(65536) }, { capabilities: OLD, database: 'd' }),
    ).toThrow(
      expect.objectContaining({
        code: 'invalid-param',
        param: 's',
        message: expect.stringContaining('max_query_size of 262144'),
      }),
    );
    expect(
      compilePipe(project(p), 'x', { s: '\x01'.repeat(65536) }, { capabilities: NEW, database: 'd' }).params,
    ).toEqual({
      s: '\x01'.repeat(65536),
    });
  });
});

describe('compileNodeForCheck', () => {
  const ps = [
    param('s', ty('String'), { required: true }),
    param('n', ty('Int32'), { required: true, min: 5 }),
    param('d', ty('Decimal', 9, 2), { required: true }),
    param('cur', ty('String'), { required: true, enum: ['EUR', 'USD'] }),
    param('day', ty('Date'), { required: true }),
    param('t', ty('DateTime'), { required: true }),
    param('b', ty('Bool'), { required: true }),
    param('ids', ty('Array', ty('UInt64')), { required: true }),
    param('opt', ty('Nullable', ty('String')), { required: true }),
    param('lim', ty('UInt8'), { default: 3 }),
    param('maybe', ty('String')),
  ];
  const p = pipe('check', ps, [
    node('a', [
      ...tpl('SELECT {{s}}, {{n}}, {{d}}, {{cur}}, {{day}}, {{t}}, {{b}}, {{ids}}, {{opt}}, {{lim}}'),
      ifPart([[ex.defined('maybe'), tpl(', {{ maybe }}')]]),
    ]),
    node('b', 'SELECT * FROM a'),
  ]);
  const now = new Date('2024-03-11T12:30:45.678Z');

  it('uses defaults, and samples of the type for required params', () => {
    expect(sampleParams(p, now).values).toEqual({
      s: '',
      n: 5,
      d: '0',
      cur: 'EUR',
      day: '2024-03-11',
      t: '2024-03-11 12:30:45',
      b: false,
      ids: [],
      opt: null,
      lim: 3,
    });
    const q = compileNodeForCheck(project(p), 'check', 'a', { capabilities: OLD, database: 'd', now });
    expect(q.sql).toBe(
      "SELECT '', toInt32(5), CAST('0' AS Decimal(9, 2)), 'EUR', toDate('2024-03-11'), toDateTime(1710160245), 0, " +
        'CAST([] AS Array(UInt64)), CAST(NULL AS Nullable(String)), toUInt8(3)',
    );
  });

  it('reports an optional param used outside {% if defined %}', () => {
    const bad = pipe('bad', [param('maybe', ty('String'))], [node('a', 'SELECT {{ maybe }}')]);
    expect(() => compileNodeForCheck(project(bad), 'bad', 'a', { capabilities: OLD, database: 'd' })).toThrow(
      /param "maybe" has no value, and node a uses \{\{ maybe \}\}/,
    );
  });
});

describe('compileNodesForCheck', () => {
  it('compiles every node to the SQL compileNodeForCheck gives it alone', () => {
    const opts = { capabilities: OLD, database: 'd' };
    const all = compileNodesForCheck(P, 'balance', opts);
    expect(all.map((r) => r.node)).toEqual(['movements', 'totals', 'named']);
    for (const r of all) {
      expect(r.error).toBeUndefined();
      expect(r.compiled?.sql).toBe(compileNodeForCheck(P, 'balance', r.node, opts).sql);
    }
    expect(all[2]!.compiled?.sql).toContain('FROM (SELECT account_id, sum(amount)');
  });

  it('gives a broken node its error, and every node reading it the same error; earlier nodes compile', () => {
    const broken = pipe(
      'broken',
      [param('maybe', ty('String'))],
      [
        node('first', 'SELECT 1 AS x'),
        node('second', 'SELECT x, {{ maybe }} FROM first'),
        node('third', 'SELECT * FROM second'),
        node('apart', 'SELECT * FROM first'),
      ],
    );
    const results = compileNodesForCheck(project(broken), 'broken', { capabilities: OLD, database: 'd' });
    const errors = results.map((r) =>
      r.error === undefined ? undefined : String((r.error as Error).message),
    );
    expect(errors[0]).toBeUndefined();
    expect(errors[1]).toMatch(/param "maybe" has no value, and node second uses \{\{ maybe \}\}/);
    expect(errors[2]).toBe(errors[1]);
    expect(errors[3]).toBeUndefined();
  });
});
