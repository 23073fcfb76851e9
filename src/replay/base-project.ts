/**
 * A project as it was at a git revision: its YAML files read with `git show <ref>:<path>` into a
 * temporary folder, loaded like any project. The caller removes the folder (`dispose`).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { TallyError } from '../errors.ts';
import { loadProject } from '../project/load-project.ts';
import type { Project } from '../project/model.ts';

export interface BaseProject {
  project: Project;
  /** The revision, resolved to a commit. */
  commit: string;
  dir: string;
  dispose(): void;
}

/** Project files: settings, data sources, pipes, endpoints and their tests (not fixtures). */
const PROJECT_FILE = /\.(ya?ml)$/;

export function loadBaseProject(projectDir: string, ref: string, env: NodeJS.ProcessEnv): BaseProject {
  const git = (...args: string[]) =>
    execFileSync('git', args, {
      cwd: projectDir,
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  let commit: string;
  let prefix: string;
  let top: string;
  try {
    prefix = git('rev-parse', '--show-prefix').trim();
    top = git('rev-parse', '--show-toplevel').trim();
  } catch (err) {
    throw new TallyError(
      'not-a-git-repository',
      `${projectDir} is not in a git repository: --base needs one`,
      {
        cause: err,
      },
    );
  }
  try {
    commit = git('rev-parse', '--verify', '--quiet', `${ref}^{commit}`).trim();
  } catch (err) {
    throw new TallyError('unknown-revision', `--base ${ref} is not a revision of this repository`, {
      cause: err,
      hint: 'a branch, a tag or a commit, e.g. --base HEAD or --base main',
    });
  }
  // From the top of the work tree: ls-tree takes paths relative to where it runs.
  const files = execFileSync(
    'git',
    ['ls-tree', '-r', '-z', '--name-only', commit, '--', prefix === '' ? '.' : prefix],
    {
      cwd: top,
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
    .split('\0')
    .filter((f) => f !== '' && PROJECT_FILE.test(f));
  const dir = mkdtempSync(join(tmpdir(), 'tally-base-'));
  const dispose = () => rmSync(dir, { recursive: true, force: true });
  try {
    for (const f of files) {
      const rel = f.slice(prefix.length);
      const text = execFileSync('git', ['show', `${commit}:${f}`], {
        cwd: projectDir,
        maxBuffer: 256 * 1024 * 1024,
      });
      mkdirSync(dirname(join(dir, rel)), { recursive: true });
      writeFileSync(join(dir, rel), text);
    }
    const { project, problems } = loadProject(dir, { env });
    const errors = problems.filter((p) => p.severity === 'error');
    if (!project || errors.length > 0) {
      throw new TallyError(
        'invalid-base-project',
        `the project at ${ref} (${commit.slice(0, 12)}) has ${errors.length} problem(s): ${errors
          .slice(0, 3)
          .map((p) => `${p.location ? `${p.location.file}:${p.location.line}: ` : ''}${p.message}`)
          .join('; ')}`,
      );
    }
    return { project, commit, dir, dispose };
  } catch (err) {
    dispose();
    throw err;
  }
}
