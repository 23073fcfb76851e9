import { describe, expect, it } from 'vitest';
import { locateTableRefusal } from '../../../src/project/locate-table-refusal.ts';

const FILE = [
  'columns:',
  '  - { name: id, type: String }',
  '  - { name: at, type: DateTime, default_expr: nowww() }',
  'engine:',
  '  sorting_key: [id, 5]',
  '  partition_key: toYYYYMM(tiem)  # tiem, not at',
].join('\n');

const at = (message: string) => locateTableRefusal(FILE, 'd.datasource.yaml', message);

describe('locateTableRefusal', () => {
  it('finds the name ClickHouse could not resolve, as 18.16 and current servers say it', () => {
    expect(
      at("Missing columns: 'tiem' while processing: 'toYYYYMM(tiem)', available columns: 'id' 'at'"),
    ).toEqual({
      file: 'd.datasource.yaml',
      line: 6,
      col: 27,
    });
    expect(at('Unknown identifier: tiem')).toMatchObject({ line: 6, col: 27 });
    expect(at('Function with name `nowww` does not exist. In scope SELECT ...')).toMatchObject({
      line: 3,
      col: 47,
    });
    expect(at('Unknown function nowww')).toMatchObject({ line: 3 });
  });

  it("falls back to the key a refusal names, and to nothing (the caller's file start) otherwise", () => {
    expect(at('Sorting key cannot contain constants.')).toEqual({
      file: 'd.datasource.yaml',
      line: 5,
      col: 3,
    });
    expect(at('Partition key cannot contain constants')).toMatchObject({ line: 6 });
    expect(at('Too many parts')).toBeUndefined();
  });

  it("skips a column's own declaration: the declared name is not the misuse", () => {
    expect(at("Missing columns: 'at' while processing")).toBeUndefined();
  });
});
