import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TallyError } from '../../../src/errors.ts';
import { loadBaseProject } from '../../../src/replay/base-project.ts';
import { removeProjects, writeProject } from '../project/write-project.ts';

afterAll(removeProjects);

const pipe = (fn: string) => `nodes:
  - name: touches
    sql: SELECT ${fn}(url, viewed_at) AS url FROM views
`;
const files = (fn: string) => ({
  'tally.yaml': 'name: base-test\n',
  'datasources/views.datasource.yaml': `columns:
  - { name: url, type: String }
  - { name: viewed_at, type: DateTime }
engine: { type: MergeTree, sorting_key: [viewed_at] }
`,
  'pipes/touch.pipe.yaml': pipe(fn),
  'endpoints/touch.endpoint.yaml': 'pipe: touch\n',
});

function repoWith(sub: string): { root: string; project: string; git: (...a: string[]) => string } {
  const root = writeProject({});
  const project = sub ? join(root, sub) : root;
  mkdirSync(project, { recursive: true });
  for (const [rel, text] of Object.entries(files('argMax'))) {
    mkdirSync(join(project, rel, '..'), { recursive: true });
    writeFileSync(join(project, rel), text);
  }
  const git = (...a: string[]) =>
    execFileSync('git', ['-c', 'user.email=t@t', '-c', 'user.name=t', ...a], { cwd: root, encoding: 'utf8' });
  git('init', '-q', '.');
  git('add', '.');
  git('commit', '-q', '-m', 'last touch');
  writeFileSync(join(project, 'pipes/touch.pipe.yaml'), pipe('argMin'));
  return { root, project, git };
}

describe('loadBaseProject', () => {
  it.each([
    ['at the top of the repository', ''],
    ['in a subfolder', 'analytics/tally'],
  ])('reads the project as it was at the revision (%s)', (_, sub) => {
    const { project } = repoWith(sub);
    const base = loadBaseProject(project, 'HEAD', {});
    try {
      const sql = base.project.pipes.get('touch')!.nodes[0]!.sql;
      expect(sql).toContain('argMax(url, viewed_at)');
      expect(base.project.endpoints.has('touch')).toBe(true);
      expect(base.commit).toMatch(/^[0-9a-f]{40}$/);
    } finally {
      base.dispose();
    }
  });

  it('names an unknown revision and a folder outside git', () => {
    const { project } = repoWith('');
    expect(() => loadBaseProject(project, 'no-such-ref', {})).toThrow(/--base no-such-ref is not a revision/);
    const outside = writeProject(files('argMax'));
    let err: unknown;
    try {
      loadBaseProject(outside, 'HEAD', {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TallyError);
  });

  it('reads a file that is a symbolic link at the revision from its target (links to links too)', () => {
    const { root, project, git } = repoWith('analytics/tally');
    git('checkout', '-q', '--', '.');
    // The pipe lives in a shared folder beside the project, linked in twice over.
    mkdirSync(join(root, 'shared'), { recursive: true });
    renameSync(join(project, 'pipes/touch.pipe.yaml'), join(root, 'shared/touch.pipe.yaml'));
    symlinkSync('../../../shared/touch.pipe.yaml', join(project, 'pipes/hop.yaml.link'));
    symlinkSync('hop.yaml.link', join(project, 'pipes/touch.pipe.yaml'));
    git('add', '-A');
    git('commit', '-q', '-m', 'shared pipe');
    writeFileSync(join(root, 'shared/touch.pipe.yaml'), pipe('argMin'));
    const base = loadBaseProject(project, 'HEAD', {});
    try {
      expect(base.project.pipes.get('touch')!.nodes[0]!.sql).toContain('argMax(url, viewed_at)');
    } finally {
      base.dispose();
    }
    symlinkSync('/etc/hostname', join(project, 'pipes/outside.pipe.yaml'));
    git('add', '-A');
    git('commit', '-q', '-m', 'a link out of the repository');
    expect(() => loadBaseProject(project, 'HEAD', {})).toThrow(
      'analytics/tally/pipes/outside.pipe.yaml is a symbolic link at HEAD to /etc/hostname, outside the repository',
    );
  });
});
