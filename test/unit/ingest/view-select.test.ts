import { describe, expect, it } from 'vitest';
import { viewSelectOf } from '../../../src/ingest/crash-recovery.ts';

describe('viewSelectOf', () => {
  it('reads the SELECT after a column list with brackets and quoted names', () => {
    expect(
      viewSelectOf(
        "CREATE MATERIALIZED VIEW db.v TO db.t (`a AS b` String, `s` AggregateFunction(sum, Decimal(18, 2))) AS SELECT a, sumState(x) AS s FROM db.src WHERE y = ' AS ' GROUP BY a",
      ),
    ).toBe("SELECT a, sumState(x) AS s FROM db.src WHERE y = ' AS ' GROUP BY a");
  });

  it('works without a column list (18.16) and across line breaks', () => {
    expect(viewSelectOf('CREATE MATERIALIZED VIEW db.v TO db.t\n  AS\n  SELECT 1 AS one FROM db.s')).toBe(
      'SELECT 1 AS one FROM db.s',
    );
  });

  it('says nothing for a statement without AS', () => {
    expect(viewSelectOf('CREATE TABLE db.t (a String) ENGINE = Memory')).toBeUndefined();
  });
});
