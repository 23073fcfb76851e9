/**
 * A project as it was at a git revision: its YAML files read with `git show <ref>:<path>` into a
 * temporary folder, loaded like any project. The caller removes the folder (`dispose`).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
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
  const files = treeEntries(top, commit, prefix === '' ? '.' : prefix).filter((e) =>
    PROJECT_FILE.test(e.path),
  );
  const dir = mkdtempSync(join(tmpdir(), 'tally-base-'));
  const dispose = () => rmSync(dir, { recursive: true, force: true });
  try {
    for (const entry of files) {
      const rel = entry.path.slice(prefix.length);
      // A symbolic link (as the working tree's loader follows them) is read at its target.
      const f = entry.mode === SYMLINK ? linkTarget(top, commit, entry.path, ref) : entry.path;
      const text = execFileSync('git', ['show', `${commit}:${f}`], {
        cwd: top,
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

const SYMLINK = '120000';

interface TreeEntry {
  mode: string;
  path: string;
}

/** `git ls-tree -r` of `path` at `commit`: each file's mode and path from the top. */
function treeEntries(top: string, commit: string, path: string): TreeEntry[] {
  return execFileSync('git', ['ls-tree', '-r', '-z', commit, '--', path], {
    cwd: top,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
    .split('\0')
    .filter((line) => line !== '')
    .map((line) => {
      const tab = line.indexOf('\t');
      return { mode: line.slice(0, line.indexOf(' ')), path: line.slice(tab + 1) };
    });
}

/** The file a symbolic link at `link` leads to at `commit` (links to links followed). */
function linkTarget(top: string, commit: string, link: string, ref: string): string {
  let at = link;
  for (let hop = 0; hop < 8; hop++) {
    const target = execFileSync('git', ['show', `${commit}:${at}`], { cwd: top, encoding: 'utf8' }).trim();
    const next = posix.normalize(posix.join(posix.dirname(at), target));
    if (posix.isAbsolute(target) || next.startsWith('../') || next === '..') {
      throw new TallyError(
        'invalid-base-project',
        `${link} is a symbolic link at ${ref} to ${target}, outside the repository: --base reads files from git only`,
      );
    }
    const [entry] = treeEntries(top, commit, next);
    if (!entry || entry.path !== next) {
      throw new TallyError(
        'invalid-base-project',
        `${link} is a symbolic link at ${ref} to ${target}, which is not a file at that revision`,
      );
    }
    if (entry.mode !== SYMLINK) return next;
    at = next;
  }
  throw new TallyError('invalid-base-project', `${link} at ${ref}: too many levels of symbolic links`);
}
