/**
 * `tally diff` names its sides by what they are (`HEAD:` and `working tree:`, not `base:` and
 * `head:`, which read as git's HEAD), and says when a side is refused for a column the deployed
 * tables lack: the base reading a column a later deploy dropped, the working tree one not deployed
 * yet. On both back ends (the embedded engine's folder is the temp project's: one per process).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { runCli } from '../support/capture-output.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

afterAll(removeProjects);

const table = (...columns: string[]) =>
  `columns:\n${columns.map((c) => `  - { name: ${c}, type: String }`).join('\n')}\nengine: { sorting_key: [id] }\n`;
const pipe = (...columns: string[]) =>
  `nodes:\n  - name: n\n    sql: SELECT ${columns.join(', ')} FROM t ORDER BY id\n`;

describe.each(['embedded', 'server'] as const)('tally diff sides [%s]', (backend) => {
  const database = `diff_sides_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const env: NodeJS.ProcessEnv = {
    TALLY_CLICKHOUSE_DATABASE: database,
    ...(backend === 'server' ? { TALLY_CLICKHOUSE_URL: inject('clickhouseUrl') } : {}),
  };
  const dir = writeProject({
    'tally.yaml': 'name: diff-sides\n',
    'datasources/t.datasource.yaml': table('id', 'note'),
    'pipes/p.pipe.yaml': pipe('id', 'note'),
    'endpoints/p.endpoint.yaml': 'pipe: p\n',
  });
  const run = (...argv: string[]) => runCli([...argv, '--project', dir], env, dir);
  const write = (rel: string, text: string) => writeFileSync(join(dir, rel), text);

  afterAll(async () => {
    await run('sql', `DROP DATABASE IF EXISTS ${database}`);
  });

  it('labels the sides HEAD and working tree, and says which columns the deployed tables lack', async () => {
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

    // The working tree reads a column it declares but nobody deployed yet.
    write('datasources/t.datasource.yaml', table('id', 'note', 'extra'));
    write('pipes/p.pipe.yaml', pipe('id', 'note', 'extra'));
    const notYet = await run('diff', 'p', '--base', 'HEAD');
    expect(notYet.code, notYet.err).toBe(1);
    const lines = notYet.out.split('\n');
    expect(lines[0]).toMatch(/^p: HEAD \([0-9a-f]{12}\) vs the working tree, 1 params set\(s\)$/);
    expect(lines[1]).toBe('  ≠ no params');
    expect(lines[2]).toBe('      HEAD:         0 rows');
    expect(lines[3]).toMatch(/^ {6}working tree: .*extra/);
    expect(lines[4]).toBe(
      '                    hint: the working tree reads columns the live tables do not have yet: run `tally deploy`, then diff again',
    );
    expect(notYet.out).not.toMatch(/^ +(base|head):/m);

    // Deployed without `note`, which the base still reads.
    write('datasources/t.datasource.yaml', table('id', 'extra'));
    write('pipes/p.pipe.yaml', pipe('id', 'extra'));
    const redeployed = await run('deploy');
    expect(redeployed.code, redeployed.err + redeployed.out).toBe(0);
    const dropped = await run('diff', 'p', '--base', 'HEAD');
    expect(dropped.code, dropped.err).toBe(1);
    expect(dropped.out).toMatch(/^ {6}HEAD: {9}.*note/m);
    expect(dropped.out).toContain(
      '                    hint: the pipe at HEAD reads columns the live tables no longer have: both revisions run on the tables as deployed, not as HEAD declared them\n      working tree: 0 rows',
    );
    // The message is ClickHouse's, without the query 26.x quotes.
    expect(dropped.out).not.toContain('in scope');
    const json = JSON.parse((await run('diff', 'p', '--base', 'HEAD', '--json')).out) as {
      results: Array<{ baseError?: string; baseHint?: string; headRows?: number }>;
    };
    expect(json.results[0]).toMatchObject({
      baseError: expect.stringContaining('note'),
      baseHint: expect.stringContaining('reads columns the live tables no longer have'),
      headRows: 0,
    });
  });
});
