import { describe, expect, it } from 'vitest';
import { checkStateTypes } from '../../../src/deploy/attach.ts';
import type { ViewSpec } from '../../../src/deploy/ddl.ts';

const view = { name: 'v', pipe: 'm_mv', target: 'm' } as ViewSpec;
const check = (produced: string, stored: string) => () =>
  checkStateTypes(view, [{ name: 'c', type: produced }], new Map([['c', stored]]));

describe('checkStateTypes', () => {
  it('refuses an aggregate state whose type differs from the stored one (no conversion between states)', () => {
    expect(
      check(
        'AggregateFunction(argMax, Nullable(String), DateTime)',
        'AggregateFunction(argMax, String, DateTime)',
      ),
    ).toThrow(
      'materialized pipe m_mv produces `c` as AggregateFunction(argMax, Nullable(String), DateTime), but data source m stores AggregateFunction(argMax, String, DateTime)',
    );
    expect(
      check('AggregateFunction(sum,Decimal(18, 2))', 'AggregateFunction(sum, Decimal(18, 2))'),
    ).not.toThrow();
  });

  it('takes a plain value into a SimpleAggregateFunction column (ClickHouse converts it like any)', () => {
    expect(check('Nullable(String)', 'SimpleAggregateFunction(anyLast, Nullable(String))')).not.toThrow();
    expect(check('UInt64', 'SimpleAggregateFunction(sum, UInt64)')).not.toThrow();
    expect(check('String', 'String')).not.toThrow();
  });
});
