import { describe, expect, it } from 'vitest';
import { insertTarget } from '../../../src/deploy/hold.ts';

describe('insertTarget', () => {
  it('reads the target of qualified, unqualified and quoted INSERTs', () => {
    expect(insertTarget('INSERT INTO shop.tx (a, b) FORMAT JSONEachRow')).toEqual({
      database: 'shop',
      table: 'tx',
    });
    expect(insertTarget('  insert into tx SELECT 1')).toEqual({ table: 'tx' });
    expect(insertTarget('INSERT INTO `my db`.`t x` VALUES')).toEqual({ database: 'my db', table: 't x' });
    expect(insertTarget('INSERT INTO TABLE "d"."t" VALUES')).toEqual({ database: 'd', table: 't' });
  });

  it('does not take a longer name, a name in the data, or another statement for the table', () => {
    expect(insertTarget('INSERT INTO shop.tx_log FORMAT JSONEachRow')?.table).toBe('tx_log');
    expect(insertTarget("INSERT INTO other.t SELECT 'INSERT INTO shop.tx'")).toEqual({
      database: 'other',
      table: 't',
    });
    expect(insertTarget('SELECT * FROM tx')).toBeUndefined();
  });
});
