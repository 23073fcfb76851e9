import { afterAll, describe, expect, it } from 'vitest';
import { checkDedupReads } from '../../../src/project/check-dedup-reads.ts';
import { loadProjectOrThrow } from '../../../src/project/load-project.ts';
import { removeProjects, writeProject } from './write-project.ts';

afterAll(removeProjects);

const LOG = [
  'columns:',
  '  - { name: id, type: String }',
  '  - { name: account, type: String }',
  '  - { name: amount, type: Int64 }',
  '  - { name: at, type: DateTime }',
  'engine: { type: ReplacingMergeTree, sorting_key: [account, id] }',
  'dedup_key: id',
].join('\n');

function warnings(sql: string, log = LOG) {
  const dir = writeProject({
    'datasources/log.datasource.yaml': log,
    'pipes/p.pipe.yaml': `nodes:\n${sql}`,
  });
  return checkDedupReads(loadProjectOrThrow(dir, { env: {} }));
}

describe('checkDedupReads', () => {
  it('warns where a sum reads a deduplicating log without FINAL, at the table name', () => {
    const w = warnings('  - name: total\n    sql: |\n      SELECT sum(amount) AS total\n      FROM log\n');
    expect(w).toHaveLength(1);
    expect(w[0]).toMatchObject({
      severity: 'warning',
      code: 'dedup-read',
      location: { file: 'pipes/p.pipe.yaml', line: 5, col: 12 },
      hint: 'write `FROM log FINAL`, or add LIMIT 1 BY id',
    });
    expect(w[0]!.message).toContain('reads `log` (deduplicated on id)');
  });

  it('accepts FINAL, argMax, LIMIT 1 BY the key, GROUP BY the key, and a later node that folds', () => {
    expect(warnings('  - name: a\n    sql: SELECT sum(amount) FROM log FINAL\n')).toEqual([]);
    expect(warnings('  - name: a\n    sql: SELECT sum(amount) FROM log AS l FINAL\n')).toEqual([]);
    expect(
      warnings('  - name: a\n    sql: SELECT account, argMax(amount, at) FROM log GROUP BY account\n'),
    ).toEqual([]);
    expect(warnings('  - name: a\n    sql: SELECT amount FROM log ORDER BY at LIMIT 1 BY id\n')).toEqual([]);
    expect(warnings('  - name: a\n    sql: SELECT id, any(amount) FROM log GROUP BY id\n')).toEqual([]);
    expect(
      warnings(
        '  - name: a\n    sql: SELECT id, amount, at FROM log\n  - name: b\n    sql: SELECT argMax(amount, at) AS last FROM a\n',
      ),
    ).toEqual([]);
  });

  it('warns where a node counts the rows it folds: an unrelated argMax, any or uniq, or GROUP BY the key, beside a sum', () => {
    // From a user trial: each of these sums a stored duplicate twice, and none was warned about.
    for (const sql of [
      'SELECT account, sum(amount) AS balance, argMax(at, at) AS last FROM log GROUP BY account',
      'SELECT id, sum(amount) AS s FROM log GROUP BY id',
      'SELECT account, sum(amount) AS s, uniq(at) AS n FROM log GROUP BY account',
      'SELECT account, count() AS n, any(at) AS a FROM log GROUP BY account',
    ]) {
      const w = warnings(`  - name: a\n    sql: ${sql}\n`);
      expect(w, sql).toHaveLength(1);
      expect(w[0]!.message, sql).toContain('and counts its rows before folding them');
    }
  });

  it('accepts counting what an earlier node folded, count(DISTINCT ...), and a count after LIMIT 1 BY', () => {
    // The twin of a snapshot: argMax per subscription, then count the folded rows.
    expect(
      warnings(
        '  - name: a\n    sql: SELECT account, argMax(amount, at) AS last FROM log GROUP BY account\n  - name: b\n    sql: SELECT count() AS n FROM a WHERE last > 0\n',
      ),
    ).toEqual([]);
    expect(warnings('  - name: a\n    sql: SELECT count(DISTINCT id) AS n, any(at) FROM log\n')).toEqual([]);
    expect(
      warnings(
        '  - name: a\n    sql: SELECT id, amount FROM log LIMIT 1 BY id\n  - name: b\n    sql: SELECT sum(amount) FROM a\n',
      ),
    ).toEqual([]);
    // Listing raw rows, folded by nothing later: warned.
    expect(warnings('  - name: a\n    sql: SELECT id, amount FROM log\n')).toHaveLength(1);
  });

  it('looks only at the nodes that read the one reading the log: an unrelated fold is no excuse', () => {
    const w = warnings(
      [
        '  - name: tx',
        '    sql: SELECT account, amount FROM log',
        '  - name: other',
        '    sql: SELECT argMax(amount, at) AS last FROM log FINAL',
        '  - name: out',
        '    sql: SELECT sum(amount) AS total FROM tx',
        '',
      ].join('\n'),
    );
    expect(w.map((x) => x.message.match(/node `(\w+)`/)?.[1])).toEqual(['tx']);
  });

  it('LIMIT 1 BY keeps one of two identical rows (any list); LIMIT 2 BY does not; counting by prefix', () => {
    expect(
      warnings('  - name: a\n    sql: SELECT sum(amount) FROM (SELECT * FROM log LIMIT 1 BY account, id)\n'),
    ).toEqual([]);
    expect(warnings('  - name: a\n    sql: SELECT amount FROM log LIMIT 2 BY id\n')).toHaveLength(1);
    const kahan = warnings(
      '  - name: a\n    sql: SELECT account, any(at), sumKahan(amount) FROM log GROUP BY account\n',
    );
    expect(kahan[0]?.message).toContain('counts its rows before folding them');
    expect(warnings('  - name: a\n    sql: SELECT DISTINCT account FROM log\n')).toEqual([]);
    expect(warnings('  - name: a\n    sql: SELECT countDistinct(id) AS n FROM log\n')).toEqual([]);
  });

  it('refuses FINAL on an engine without it, naming the table; a plain log gets LIMIT 1 BY as its hint', () => {
    const plain = LOG.replace('type: ReplacingMergeTree', 'type: MergeTree');
    const e = warnings('  - name: a\n    sql: SELECT id FROM log FINAL\n', plain);
    expect(e).toEqual([
      expect.objectContaining({
        severity: 'error',
        code: 'final-unsupported',
        location: { file: 'pipes/p.pipe.yaml', line: 3, col: 25 },
        hint: 'drop FINAL, and fold duplicates with LIMIT 1 BY id',
      }),
    ]);
    expect(e[0]!.message).toContain('`log` is a MergeTree, which has no FINAL');
    const w = warnings('  - name: a\n    sql: SELECT sum(amount) FROM log\n', plain);
    expect(w[0]!.hint).toBe('add LIMIT 1 BY id (in a subquery, before the rows are counted)');
  });
});
