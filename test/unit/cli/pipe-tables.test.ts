import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandPipeTables } from '../../../src/cli/pipe-tables.ts';
import { capabilitiesFor } from '../../../src/clickhouse/capabilities.ts';
import { loadProjectOrThrow } from '../../../src/project/load-project.ts';

const example = loadProjectOrThrow(resolve(import.meta.dirname, '..', '..', '..'), { env: {} });
const expand = (sql: string) =>
  expandPipeTables(sql, example, { capabilities: capabilitiesFor('18.16.1'), database: 'tally', params: [] });

describe('tally sql: pipe names as tables', () => {
  it('leaves a column named like a pipe alone (`balance` after a comma in the SELECT list)', () => {
    const sql =
      'SELECT snapshot_at, balance FROM balance_snapshots WHERE account_id IN (1, 2) ORDER BY snapshot_at, balance';
    expect(expand(sql)).toEqual({ sql, uses: [] });
    const nested = 'SELECT * FROM (SELECT snapshot_at, balance FROM balance_snapshots) AS s';
    expect(expand(nested).uses).toEqual([]);
  });

  it('reads a pipe named in a FROM list, after FROM, JOIN or a comma there', () => {
    expect(expand('SELECT count() FROM balance_snapshots AS s, balance').uses.map((u) => u.pipe)).toEqual([
      'balance',
    ]);
    expect(expand('SELECT * FROM (SELECT 1 AS x), balances_snapshot').uses.map((u) => u.pipe)).toEqual([
      'balances_snapshot',
    ]);
    expect(expand('SELECT * FROM balance').uses.map((u) => u.pipe)).toEqual(['balance']);
  });
});
