import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CONFIG_FILE, readConfig } from '../config/load-config.ts';
import { formatProblem, type Problem, TallyError } from '../errors.ts';
import { notAFile, type PathKind, pathKind } from '../util/path-kind.ts';
import { plural } from '../util/plural.ts';
import { readSourceText } from '../yaml/read-source-text.ts';
import { YamlFile } from '../yaml/yaml-file.ts';
import { checkTokenLists } from './check-token-lists.ts';
import { deepFreeze, FrozenMap } from './deep-freeze.ts';
import type { DataSource, Endpoint, Pipe, Project } from './model.ts';
import { readDatasource } from './read-datasource.ts';
import { readEndpoint } from './read-endpoint.ts';
import { readPipe } from './read-pipe.ts';
import { rejoinFlowScalars } from './rejoin-flow-scalars.ts';
import { validateProject } from './validate-project.ts';
import { fileLoc, IDENTIFIER } from './yaml-values.ts';

export interface LoadProjectOptions {
  /** Environment for `${ENV}` in tally.yaml and the TALLY_* overrides; default process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface LoadProjectResult {
  /** The model, present when no problem is an error. */
  project?: Project;
  /** Every problem found, errors and warnings, ordered by file, line and column. */
  problems: Problem[];
}

interface FileKind<T> {
  dir: string;
  suffix: string;
  what: string;
  read: (yf: YamlFile, name: string, problems: Problem[]) => T | undefined;
}

const DATASOURCES: FileKind<DataSource> = {
  dir: 'datasources',
  suffix: '.datasource.yaml',
  what: 'data source',
  read: readDatasource,
};
const PIPES: FileKind<Pipe> = { dir: 'pipes', suffix: '.pipe.yaml', what: 'pipe', read: readPipe };
const ENDPOINTS: FileKind<Endpoint> = {
  dir: 'endpoints',
  suffix: '.endpoint.yaml',
  what: 'endpoint',
  read: readEndpoint,
};
const KINDS: readonly FileKind<unknown>[] = [DATASOURCES, PIPES, ENDPOINTS];
const TEST_SUFFIX = '.test.yaml';

/** True when `dir` has a tally.yaml or one of the project folders: something to load. */
export function isProjectFolder(dir: string): boolean {
  return [CONFIG_FILE, ...KINDS.map((k) => k.dir)].some((f) => existsSync(join(dir, f)));
}

/**
 * The problem of a folder that does not exist, or has nothing to load (a mistyped --project, the
 * wrong folder), which loadProject accepts as an empty project; `consequence` says what that
 * would mean here.
 */
export function notAProjectProblem(dir: string, consequence: string): Problem | undefined {
  if (!isDir(resolve(dir))) return missingFolderProblem(resolve(dir));
  if (isProjectFolder(dir)) return undefined;
  return {
    severity: 'error',
    code: 'project-not-found',
    message: `${dir} has no tally.yaml and no datasources/, pipes/ or endpoints/ folder: ${consequence}`,
    hint: 'point --project at the project folder, or create one with `tally init`',
  };
}

/**
 * Reads a project folder (tally.yaml, datasources/, pipes/, endpoints/) into the typed,
 * immutable Project model, and checks it. Returns every problem at once; `project` is present
 * when none of them is an error. `*.test.yaml` files are endpoint tests, not read here.
 */
export function loadProject(dir: string, opts: LoadProjectOptions = {}): LoadProjectResult {
  const root = resolve(dir);
  const problems: Problem[] = [];
  if (!isDir(root)) {
    problems.push(missingFolderProblem(root));
    return { problems };
  }
  const config = readConfig(root, opts.env ?? process.env, problems);
  const unreadable = new Set<string>();
  const datasources = readKind(root, DATASOURCES, problems, unreadable);
  const pipes = readKind(root, PIPES, problems, unreadable);
  const endpoints = readKind(root, ENDPOINTS, problems, unreadable);
  checkRootFiles(root, problems);
  try {
    validateProject({ config, datasources, pipes, endpoints }, problems, { unreadable });
  } catch (err) {
    // The readers refuse what they cannot walk; a checker that still overflows names it as they do.
    if (!(err instanceof RangeError && /call stack/i.test(err.message))) throw err;
    problems.push({
      severity: 'error',
      code: 'too-deep',
      message:
        'the project is nested too deeply to check (a template, condition or type thousands of levels deep)',
    });
  }
  checkTokenLists(
    config,
    { endpoints: [...endpoints.keys(), ...unreadable], datasources: [...datasources.keys(), ...unreadable] },
    problems,
  );

  sortProblems(problems);
  if (problems.some((p) => p.severity === 'error')) return { problems };
  const project: Project = {
    root,
    config,
    datasources: new FrozenMap(datasources),
    pipes: new FrozenMap(pipes),
    endpoints: new FrozenMap(endpoints),
  };
  return { project: deepFreeze(project), problems };
}

/** Like loadProject, but throws one TallyError listing every error; warnings are dropped. */
export function loadProjectOrThrow(dir: string, opts: LoadProjectOptions = {}): Project {
  const { project, problems } = loadProject(dir, opts);
  if (project) return project;
  const errors = problems.filter((p) => p.severity === 'error');
  const first = errors[0];
  throw new TallyError(
    'invalid-project',
    `${plural(errors.length, 'problem')} in ${resolve(dir)}:\n${errors.map((p) => `  ${formatProblem(p)}`).join('\n')}`,
    first?.location ? { location: first.location } : {},
  );
}

function readKind<T>(
  root: string,
  kind: FileKind<T>,
  problems: Problem[],
  unreadable: Set<string>,
): Map<string, T> {
  const out = new Map<string, T>();
  for (const file of listFiles(root, kind.dir, problems)) {
    const rel = `${kind.dir}/${file}`;
    if (file.endsWith(TEST_SUFFIX)) continue;
    if (!file.endsWith(kind.suffix)) {
      reportStrayFile(rel, file, kind, problems);
      continue;
    }
    const name = file.slice(0, -kind.suffix.length);
    checkName(rel, name, kind, problems);
    const text = readSourceText(join(root, kind.dir, file), rel, problems);
    if (text === undefined) {
      unreadable.add(name);
      continue;
    }
    const before = problems.length;
    const yf = YamlFile.parse(rel, text, problems);
    if (problems.length > before) {
      unreadable.add(name); // a syntax error: reading on would only report noise
      continue;
    }
    rejoinFlowScalars(yf.root, yf.text);
    let value: T | undefined;
    try {
      value = kind.read(yf, name, problems);
    } catch (err) {
      // Templates, conditions or types nested thousands deep overflow the recursive readers.
      if (!(err instanceof RangeError && /call stack/i.test(err.message))) throw err;
      problems.push({
        severity: 'error',
        code: 'too-deep',
        message: `${rel} is nested too deeply to read (a template, condition or type thousands of levels deep)`,
        location: fileLoc(rel),
      });
    }
    if (value === undefined) unreadable.add(name);
    else out.set(name, value);
  }
  return out;
}

function checkName(rel: string, name: string, kind: FileKind<unknown>, problems: Problem[]): void {
  const bad = (message: string) =>
    problems.push({ severity: 'error', code: 'invalid-name', message, location: fileLoc(rel) });
  if (!IDENTIFIER.test(name)) {
    bad(
      `${kind.what} name \`${name}\` (from the file name) must be letters, digits and underscores, not starting with a digit`,
    );
  } else if (kind === DATASOURCES && name.startsWith('tally_')) {
    bad(`data source name \`${name}\` starts with \`tally_\`, which is reserved for Tally's own tables`);
  } else if (kind === DATASOURCES && name.endsWith('_quarantine')) {
    bad(`data source name \`${name}\` ends with \`_quarantine\`, which is reserved for quarantine tables`);
  }
}

function reportStrayFile(rel: string, file: string, kind: FileKind<unknown>, problems: Problem[]): void {
  const warn = (message: string, hint?: string) =>
    problems.push({
      severity: 'warning',
      code: 'unexpected-file',
      message,
      location: fileLoc(rel),
      ...(hint ? { hint } : {}),
    });
  const other = KINDS.find((k) => k !== kind && file.endsWith(k.suffix));
  if (other) {
    warn(
      `${rel} is ignored: a ${other.what} file belongs in ${other.dir}/`,
      `move it to ${other.dir}/${file}`,
    );
  } else if (file.endsWith(kind.suffix.replace(/\.yaml$/, '.yml'))) {
    warn(
      `${rel} is ignored: ${kind.what} files end in ${kind.suffix}`,
      `rename it to ${file.replace(/\.yml$/, '.yaml')}`,
    );
  } else if (/\.ya?ml$/.test(file)) {
    warn(
      `${rel} is ignored: files in ${kind.dir}/ must end in ${kind.suffix}`,
      // A name has no dots, so the suffix starts at the first (`balance.endpoints.yaml`).
      `rename it to ${file.slice(0, file.indexOf('.'))}${kind.suffix}`,
    );
  }
}

/** Resource files at the project root are easy to misplace; say where they belong. */
function checkRootFiles(root: string, problems: Problem[]): void {
  for (const file of listFiles(root, '')) {
    if (file.endsWith(TEST_SUFFIX)) continue;
    const kind = KINDS.find((k) => file.endsWith(k.suffix));
    if (kind) {
      problems.push({
        severity: 'warning',
        code: 'unexpected-file',
        message: `${file} is ignored: ${kind.what} files belong in ${kind.dir}/`,
        location: fileLoc(file),
        hint: `move it to ${kind.dir}/${file}`,
      });
    }
  }
}

/**
 * The files of the folder `rel` of `root`, symbolic links followed, sorted. With `problems`, what
 * would otherwise be skipped without a word is an error: the folder being a file or unreadable,
 * and a `.yaml` entry that is not a file (a folder, a link to nothing).
 */
function listFiles(root: string, rel: string, problems?: Problem[]): string[] {
  const dir = join(root, rel);
  const refuse = (at: string, message: string) =>
    problems?.push({ severity: 'error', code: 'unreadable-file', message, location: fileLoc(at) });
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return [];
    refuse(
      rel,
      code === 'ENOTDIR'
        ? `${rel} is a file, not a folder`
        : `cannot read ${rel}/: ${(err as Error).message}`,
    );
    return [];
  }
  const files: string[] = [];
  for (const e of entries) {
    if (e.isFile()) {
      files.push(e.name);
      continue;
    }
    if (!e.isSymbolicLink() && !/\.ya?ml$/.test(e.name)) continue; // a subfolder of the user's own
    const at = rel ? `${rel}/${e.name}` : e.name;
    let kind: PathKind;
    try {
      kind = pathKind(join(dir, e.name));
    } catch (err) {
      refuse(at, `cannot read ${at}: ${(err as Error).message}`);
      continue;
    }
    if (kind === 'file') files.push(e.name);
    else if (kind !== 'folder' || /\.ya?ml$/.test(e.name))
      refuse(at, `${at} ${notAFile(kind as Exclude<PathKind, 'file' | 'missing'>)}`);
  }
  return files.sort();
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function sortProblems(problems: Problem[]): void {
  const key = (p: Problem) => p.location;
  problems.sort((a, b) => {
    const la = key(a);
    const lb = key(b);
    if (!la || !lb) return (la ? 1 : 0) - (lb ? 1 : 0);
    if (la.file !== lb.file) return la.file < lb.file ? -1 : 1;
    return la.line - lb.line || la.col - lb.col;
  });
}

function missingFolderProblem(root: string): Problem {
  const what = existsSync(root) ? 'is a file, not a folder' : 'does not exist';
  return { severity: 'error', code: 'project-not-found', message: `project folder ${root} ${what}` };
}
