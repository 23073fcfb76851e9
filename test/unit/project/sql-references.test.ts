import { describe, expect, it } from 'vitest';
import { referencedNames, sqlReferences } from '../../../src/project/sql-references.ts';

describe('sqlReferences', () => {
  it.each([
    ['SELECT * FROM transactions', ['transactions']],
    ['select * from transactions as t', ['transactions']],
    ['SELECT * FROM a AS x JOIN b USING (id)', ['a', 'b']],
    ['SELECT * FROM a x LEFT JOIN b y ON x.id = y.id', ['a', 'b']],
    ['SELECT * FROM a ANY LEFT JOIN b USING id', ['a', 'b']],
    ['SELECT * FROM a GLOBAL INNER JOIN b USING id', ['a', 'b']],
    ['SELECT * FROM a FINAL', ['a']],
    ['SELECT * FROM `my table`', ['my table']],
    ['SELECT * FROM "quoted"', ['quoted']],
    ['SELECT * FROM (SELECT * FROM inner_t) AS sub', ['inner_t']],
    ['SELECT * FROM (SELECT * FROM a) sub JOIN (SELECT * FROM b) AS s2 USING id', ['a', 'b']],
    ['SELECT * FROM numbers(10)', []],
    ['SELECT * FROM db.events', []],
    ['SELECT * FROM a, b', ['a']],
    ["SELECT 'FROM x' FROM a -- JOIN y\n/* FROM z */", ['a']],
    ["SELECT extract(DAY FROM ts), trim(BOTH ' ' FROM s), substring(s FROM 2) FROM a", ['a']],
    ['SELECT * FROM a ARRAY JOIN tags AS tag', ['a']],
    ['SELECT * FROM a LEFT ARRAY JOIN tags', ['a']],
    ['WITH recent AS (SELECT * FROM a) SELECT * FROM recent', ['a']],
    ['WITH r AS (SELECT 1 FROM a), s AS (SELECT 2 FROM b) SELECT * FROM r JOIN s USING x', ['a', 'b']],
    ['SELECT * FROM a WHERE id IN (SELECT id FROM b)', ['a', 'b']],
    ['SELECT * FROM a WHERE id IN allowed_ids', ['a', 'allowed_ids']],
    ['SELECT * FROM a WHERE id IN (1, 2)', ['a']],
    ['SELECT * FROM a WHERE id IN {{ ids }}', ['a']],
    ['SELECT * FROM a WHERE EXISTS(SELECT 1 FROM b)', ['a', 'b']],
    ['SELECT * FROM a {% if defined(x) %} JOIN b USING id {% end %}', ['a', 'b']],
    ['SELECT * FROM a UNION ALL SELECT * FROM a', ['a', 'a']],
  ])('%s', (sql, names) => {
    expect(sqlReferences(sql).map((r) => r.name)).toEqual(names);
  });

  it('gives offsets', () => {
    const sql = 'SELECT x\nFROM  movements m';
    const [r] = sqlReferences(sql);
    expect(r?.offset).toBe(sql.indexOf('movements'));
  });

  it('lists distinct names', () => {
    expect(referencedNames('SELECT * FROM a UNION ALL SELECT * FROM a JOIN b USING x')).toEqual(['a', 'b']);
  });
});
