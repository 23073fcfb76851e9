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

function warnings(sql: string) {
  const dir = writeProject({
    'datasources/log.datasource.yaml': LOG,
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
      hint: 'write `FROM log FINAL`',
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
});
