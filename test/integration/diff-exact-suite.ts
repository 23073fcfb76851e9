/**
 * `tally diff` end to end on numbers a double cannot hold: a UInt64 past 2^53 and a Decimal128
 * with 29 significant digits, changed in their last digit between the base revision and the
 * working tree. Parsed with JSON.parse, both answers would be the same doubles and the change
 * would vanish; `tally diff` must report it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { runCli } from '../support/capture-output.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

const PIPE = [
  'nodes:',
  '  - name: n',
  '    sql: |',
  "      SELECT toUInt64('9007199254740993') AS big, toDecimal128('1234567890123456789.1234567891', 10) AS exact,",
  '        count() AS n',
  '      FROM t',
].join('\n');

interface DiffJson {
  identical: boolean;
  results: Array<{
    identical: boolean;
    diff?: {
      changed: Array<{ columns: string[]; base: Record<string, unknown>; head: Record<string, unknown> }>;
    };
  }>;
}

export function diffExactSuite(backend: 'embedded' | 'server'): void {
  afterAll(removeProjects);

  describe(`tally diff keeps every digit [${backend}]`, () => {
    const database = `diff_exact_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    const env: NodeJS.ProcessEnv = {
      TALLY_CLICKHOUSE_DATABASE: database,
      ...(backend === 'server' ? { TALLY_CLICKHOUSE_URL: inject('clickhouseUrl') } : {}),
    };
    const dir = writeProject({
      'tally.yaml': 'name: diff-exact\n',
      'datasources/t.datasource.yaml':
        'columns:\n  - { name: id, type: String }\nengine: { sorting_key: [id] }\n',
      'pipes/big.pipe.yaml': PIPE,
      'endpoints/big.endpoint.yaml': 'pipe: big\n',
    });
    const run = (...argv: string[]) => runCli([...argv, '--project', dir], env, dir);

    afterAll(async () => {
      await run('sql', `DROP DATABASE IF EXISTS ${database}`);
    });

    it('reports a change in the last digit of a UInt64 past 2^53 and of a Decimal128', async () => {
      const git = (...args: string[]) =>
        execFileSync('git', ['-c', 'user.email=t@t', '-c', 'user.name=t', ...args], {
          cwd: dir,
          encoding: 'utf8',
        });
      git('init', '-q', '.');
      git('add', '.');
      git('commit', '-q', '-m', 'base');
      const deployed = await run('deploy');
      expect(deployed.code, deployed.err).toBe(0);

      const same = await run('diff', 'big', '--base', 'HEAD');
      expect(same.code, same.err + same.out).toBe(0);
      expect(same.out).toMatch(/^No differences\.$/m);

      const file = join(dir, 'pipes', 'big.pipe.yaml');
      // One less in the last digit of each: the same doubles, other numbers.
      writeFileSync(
        file,
        readFileSync(file, 'utf8')
          .replace('9007199254740993', '9007199254740992')
          .replace('1234567890123456789.1234567891', '1234567890123456789.1234567890'),
      );
      expect(Number('9007199254740993')).toBe(Number('9007199254740992'));
      expect(Number('1234567890123456789.1234567891')).toBe(Number('1234567890123456789.1234567890'));

      // Keyed by `n` (the same on both sides), the row is one changed row.
      const d = await run('diff', 'big', '--base', 'HEAD', '--key', 'n', '--json');
      expect(d.code, d.err).toBe(1);
      const j = JSON.parse(d.out) as DiffJson;
      expect(j.identical).toBe(false);
      const changed = j.results[0]!.diff!.changed;
      expect(changed).toHaveLength(1);
      expect(changed[0]!.columns).toEqual(['big', 'exact']);
      // The digits as ClickHouse wrote them, not the rounded doubles.
      expect(String(changed[0]!.base.big)).toBe('9007199254740993');
      expect(String(changed[0]!.head.big)).toBe('9007199254740992');
      expect(String(changed[0]!.base.exact)).toBe('1234567890123456789.1234567891');
      // The 18.16 server writes every digit of the scale (a trailing zero too), chDB does not.
      expect(String(changed[0]!.head.exact)).toMatch(/^1234567890123456789\.1234567890?$/);
      // Unkeyed, the first column is the key: the two rows are one removed and one added.
      const byFirst = JSON.parse((await run('diff', 'big', '--base', 'HEAD', '--json')).out) as {
        results: Array<{ diff: { added: unknown[]; removed: unknown[] } }>;
      };
      expect(JSON.stringify(byFirst.results[0]!.diff.removed)).toContain('9007199254740993');
      expect(JSON.stringify(byFirst.results[0]!.diff.added)).toContain('9007199254740992');
      // With no rows shown, the counts left say which kind they are.
      const counted = await run('diff', 'big', '--base', 'HEAD', '--sample', '0');
      expect(counted.out).toMatch(/^ {6}\.\.\. 1 more added\n {6}\.\.\. 1 more removed$/m);
    });
  });
}
