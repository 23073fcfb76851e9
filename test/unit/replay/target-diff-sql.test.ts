import { describe, expect, it } from 'vitest';
import {
  aggregateFunctionOf,
  type DiffShape,
  diffQuery,
  diffSampleQuery,
  finalizedExpr,
  keyAndValues,
  readDiffRow,
} from '../../../src/replay/target-diff-sql.ts';

const state: DiffShape = {
  columns: [
    { name: 'subscription_id', type: 'UInt64' },
    { name: 'status', type: 'AggregateFunction(argMax, String, DateTime)' },
    { name: 'p50', type: 'AggregateFunction(quantiles(0.5, 0.9), Float64)' },
    { name: 'total', type: 'SimpleAggregateFunction(sum, UInt64)' },
    { name: 'note', type: 'String' },
  ],
  engine: { type: 'AggregatingMergeTree', sortingKey: ['subscription_id'] },
};

describe('finalized values per key', () => {
  it('reads the function (and its parameters) from an AggregateFunction type', () => {
    expect(aggregateFunctionOf('AggregateFunction(sum, Decimal(18, 2))')).toEqual({ name: 'sum' });
    expect(aggregateFunctionOf('AggregateFunction(argMax, String, DateTime)')).toEqual({ name: 'argMax' });
    expect(aggregateFunctionOf('AggregateFunction(quantiles(0.5, 0.9), Float64)')).toEqual({
      name: 'quantiles',
      params: '0.5, 0.9',
    });
    expect(aggregateFunctionOf('UInt64')).toBeUndefined();
  });

  it('reads a parameter in quotes whole: brackets, commas and an escaped quote in it', () => {
    // ClickHouse writes a quote inside a string as \'; the comma after it is still in the string.
    const type = "AggregateFunction(sequenceMatch('(?1).*(?2)\\', x'), DateTime, UInt8, UInt8)";
    expect(aggregateFunctionOf(type)).toEqual({ name: 'sequenceMatch', params: "'(?1).*(?2)\\', x'" });
  });

  it('merges states with <fn>Merge, simple aggregates with <fn>, other columns with any', () => {
    const [, status, p50, total, note] = state.columns;
    expect(finalizedExpr(status!, state)).toBe('argMaxMerge(`status`)');
    expect(finalizedExpr(p50!, state)).toBe('quantilesMerge(0.5, 0.9)(`p50`)');
    expect(finalizedExpr(total!, state)).toBe('sum(`total`)');
    expect(finalizedExpr(note!, state)).toBe('any(`note`)');
  });

  it('keeps every row of a plain table as the sorted list of its values', () => {
    const plain: DiffShape = {
      columns: [{ name: 'a', type: 'UInt8' }],
      engine: { type: 'MergeTree', sortingKey: [] },
    };
    expect(finalizedExpr(plain.columns[0]!, plain)).toBe('arraySort(groupArray(`a`))');
  });

  it('sums the summed columns of a SummingMergeTree', () => {
    const s: DiffShape = {
      columns: [
        { name: 'k', type: 'String' },
        { name: 'n', type: 'UInt64' },
        { name: 'label', type: 'String' },
      ],
      engine: { type: 'SummingMergeTree', sortingKey: ['k'] },
    };
    expect(finalizedExpr(s.columns[1]!, s)).toBe('sum(`n`)');
    expect(finalizedExpr(s.columns[2]!, s)).toBe('any(`label`)');
  });
});

describe('the diff query', () => {
  it('tags both sides, groups them by the key, and keeps the keys that differ (no JOIN: 18.16)', () => {
    const sql = diffQuery('`db`.`t`', '`db`.`t__tally_replay`', state);
    expect(sql).not.toMatch(/JOIN/);
    expect(sql).toContain(
      'SELECT `subscription_id` AS __k0, 1 AS __side, argMaxMerge(`status`) AS __v0, quantilesMerge(0.5, 0.9)(`p50`) AS __v1, sum(`total`) AS __v2, any(`note`) AS __v3 FROM `db`.`t` GROUP BY __k0',
    );
    expect(sql).toContain('UNION ALL SELECT `subscription_id` AS __k0, 2 AS __side');
    expect(sql).toMatch(
      /HAVING in_live = 0 OR in_shadow = 0 OR live___v0 != shadow___v0 OR .* OR live___v3 != shadow___v3$/,
    );
  });

  it('reads a ReplacingMergeTree with FINAL', () => {
    const r: DiffShape = {
      columns: [
        { name: 'id', type: 'String' },
        { name: 'v', type: 'UInt8' },
      ],
      engine: { type: 'ReplacingMergeTree', sortingKey: ['id'] },
    };
    expect(diffQuery('a', 'b', r)).toContain('FROM a FINAL GROUP BY __k0');
  });

  it('samples one kind in key order', () => {
    expect(diffSampleQuery('a', 'b', state, 'added', 5)).toMatch(/WHERE in_live = 0 ORDER BY __k0 LIMIT 5$/);
    expect(diffSampleQuery('a', 'b', state, 'changed', 2)).toMatch(
      /WHERE in_live > 0 AND in_shadow > 0 ORDER BY __k0 LIMIT 2$/,
    );
  });

  it('names a result row by the target columns', () => {
    expect(keyAndValues(state).keys).toEqual(['subscription_id']);
    const row = {
      __k0: '7',
      in_live: 1,
      in_shadow: 1,
      live___v0: 'suspended',
      shadow___v0: 'past_due',
      live___v1: [],
      shadow___v1: [],
      live___v2: 1,
      shadow___v2: 1,
      live___v3: '',
      shadow___v3: '',
    };
    expect(readDiffRow(row, state)).toEqual({
      key: { subscription_id: '7' },
      live: { status: 'suspended', p50: [], total: 1, note: '' },
      shadow: { status: 'past_due', p50: [], total: 1, note: '' },
    });
    expect(readDiffRow({ ...row, in_live: 0 }, state).live).toBeUndefined();
  });
});
