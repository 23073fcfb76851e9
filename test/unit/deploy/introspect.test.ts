import { describe, expect, it } from 'vitest';
import { reattachSql } from '../../../src/deploy/attach.ts';
import { parseEngineFull, viewTargetOf } from '../../../src/deploy/introspect.ts';
import { nameRole, newDeployId } from '../../../src/deploy/names.ts';
import { normKey, safeTypeChange } from '../../../src/deploy/table-diff.ts';

describe('reading system tables', () => {
  it('splits engine_full into arguments, TTL and settings (18.16 and current forms)', () => {
    expect(
      parseEngineFull(
        'ReplacingMergeTree',
        'ReplacingMergeTree(d) ORDER BY tuple() SETTINGS index_granularity = 8192',
      ),
    ).toEqual({
      args: 'd',
      settings: { index_granularity: '8192' },
    });
    expect(
      parseEngineFull(
        'MergeTree',
        "MergeTree ORDER BY k TTL d + toIntervalDay(1) SETTINGS index_granularity = 8192, storage_policy = 'hot'",
      ),
    ).toEqual({
      args: '',
      ttl: 'd + toIntervalDay(1)',
      settings: { index_granularity: '8192', storage_policy: 'hot' },
    });
    expect(
      parseEngineFull(
        'SummingMergeTree',
        'SummingMergeTree((n)) PARTITION BY toYYYYMM(d) ORDER BY (k, toDate(d))',
      ).args,
    ).toBe('(n)');
  });

  it("finds a view target in both servers' CREATE text", () => {
    expect(
      viewTargetOf(
        'CREATE MATERIALIZED VIEW exp.mv_a TO exp.tgt ( k String,  v UInt64) AS SELECT k, v FROM exp.src ',
      ),
    ).toBe('tgt');
    expect(
      viewTargetOf("CREATE MATERIALIZED VIEW `d`.`m v` UUID 'x' TO `d`.`t\\`x` (`k` String) AS SELECT 1"),
    ).toBe('t`x');
    expect(viewTargetOf('CREATE TABLE d.t (k String) ENGINE = Memory')).toBeUndefined();
  });

  it('turns a live view definition into an ATTACH, with a fresh UUID for Atomic databases', () => {
    const q = 'CREATE MATERIALIZED VIEW db.mv TO db.tgt (`k` String) AS SELECT k FROM db.src';
    expect(reattachSql(q, false)).toBe(
      'ATTACH MATERIALIZED VIEW db.mv TO db.tgt (`k` String) AS SELECT k FROM db.src',
    );
    expect(reattachSql(q, true)).toMatch(/^ATTACH MATERIALIZED VIEW db\.mv UUID '[0-9a-f-]{36}' TO db\.tgt/);
  });
});

describe('names and types', () => {
  it('tells leftovers from project objects', () => {
    expect(nameRole('events__tally_hold')).toEqual({ role: 'hold', of: 'events' });
    expect(nameRole('events__tally_next')).toEqual({ role: 'next', of: 'events' });
    expect(nameRole('events__tally_copy')).toEqual({ role: 'next', of: 'events' });
    expect(nameRole('events__backup_20261128070000123_ab12')).toEqual({
      role: 'backup',
      of: 'events',
      deployId: '20261128070000123_ab12',
    });
    expect(nameRole('tally_deployments')).toEqual({ role: 'tally' });
    expect(nameRole('events')).toEqual({ role: 'other' });
  });

  it('makes increasing deployment ids that backups can carry', () => {
    const a = newDeployId(new Date('2026-11-28T07:00:00.000Z'));
    const b = newDeployId(new Date('2026-11-28T07:00:00.000Z'));
    expect(a < b).toBe(true);
    expect(nameRole(`t__backup_${b}`)).toMatchObject({ role: 'backup', deployId: b });
  });

  it('knows which type changes ClickHouse converts in place without loss', () => {
    expect(safeTypeChange('UInt32', 'UInt64')).toBe(true);
    expect(safeTypeChange('UInt32', 'Int64')).toBe(true);
    expect(safeTypeChange('Int32', 'UInt64')).toBe(false);
    expect(safeTypeChange('UInt64', 'UInt32')).toBe(false);
    expect(safeTypeChange('String', 'Nullable(String)')).toBe(true);
    expect(safeTypeChange('Nullable(String)', 'String')).toBe(false);
    expect(safeTypeChange('Decimal(18, 2)', 'Decimal(20,2)')).toBe(true);
    expect(safeTypeChange('Decimal(18, 2)', 'Decimal(18, 3)')).toBe(false);
    expect(safeTypeChange('String', 'LowCardinality(String)')).toBe(true);
    expect(safeTypeChange('DateTime', 'Date')).toBe(false);
  });

  it('compares keys as ClickHouse prints them', () => {
    expect(normKey('(a, b)')).toBe(normKey('a,b'));
    expect(normKey('tuple()')).toBe(normKey(''));
    expect(normKey('(k)')).toBe('k');
    expect(normKey('(a), (b)')).not.toBe(normKey('a, b'));
  });
});
