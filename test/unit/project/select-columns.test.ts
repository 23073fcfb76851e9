import { describe, expect, it } from 'vitest';
import { selectColumns } from '../../../src/project/select-columns.ts';

describe('selectColumns', () => {
  it.each([
    [
      'SELECT account_id, sumState(amount) AS balance, maxState(timestamp) AS updated_at FROM t GROUP BY account_id',
      ['account_id', 'balance', 'updated_at'],
    ],
    ['select a, b as c from t', ['a', 'c']],
    ['SELECT t.a, x.b AS bee FROM t', ['a', 'bee']],
    ['SELECT DISTINCT a FROM t', ['a']],
    ['SELECT 1 AS one', ['one']],
    ['SELECT count() c, sum(x) total FROM t', ['c', 'total']],
    ['SELECT `odd name`, "q" FROM t', ['odd name', 'q']],
    ['SELECT day, hour FROM t', ['day', 'hour']],
    ['SELECT CASE WHEN a THEN 1 ELSE 0 END AS flag FROM t', ['flag']],
    ['SELECT if(x, 1, 2) AS v, [1, 2] AS arr, (a, b) AS tup FROM t', ['v', 'arr', 'tup']],
    ['WITH r AS (SELECT z FROM q) SELECT a, b FROM r', ['a', 'b']],
    ['WITH 5 AS five SELECT five * 2 AS ten', ['ten']],
    ['SELECT a FROM t UNION ALL SELECT b FROM u', ['a']],
    ['SELECT {{ p }} AS v', ['v']],
    ['SELECT a, -- comment\n b /* c */ FROM t', ['a', 'b']],
  ])('%s', (sql, names) => {
    expect(selectColumns(sql)).toEqual(names);
  });

  it.each([
    'SELECT * FROM t',
    'SELECT t.* FROM t',
    'SELECT count() FROM t',
    'SELECT a + 1 FROM t',
    'SELECT CASE WHEN a THEN 1 END FROM t',
    'SELECT NULL',
    'SELECT x IS NULL FROM t',
    'SELECT a {% if defined(p) %}, b {% end %} FROM t',
    'SELECT {{ p }}',
    'INSERT INTO t VALUES (1)',
  ])('cannot tell for %s', (sql) => {
    expect(selectColumns(sql)).toBeUndefined();
  });
});
