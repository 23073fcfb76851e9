// The `tally` command's sources bundled into plain JavaScript (esbuild, one chunk per command),
// built again whenever a source file changes, so there is still no build step and an edited file
// is what runs next time. Why: through tsx's loader every one of the ~120 modules a command
// imports is resolved and loaded by a round trip to the loader's thread, and starting that thread
// costs more again: `tally --help` took 0.21 - 0.27 s and a no-op embedded `tally deploy` 0.86 -
// 1.0 s that way, against 0.08 - 0.12 s and 0.64 - 0.80 s from the bundle (2 cores, 2026-12-02).
// Plain JS on purpose: this runs before anything can load TypeScript.
import { createHash } from 'node:crypto';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'src');
// Inside the package, so the bundle's bare imports (kafkajs, yaml...) resolve as the sources' do.
const CACHE = join(ROOT, 'node_modules', '.cache', 'tally-cli');
/** Builds kept besides the current one: a long-running `tally dev` may still load chunks of its own. */
const KEEP = 3;
const PRUNE_AFTER_MS = 60 * 60 * 1000;

/** The build in progress in this process, if any. */
let building;

/**
 * The file URL of the bundled `src/cli/main.ts` for the sources as they are now (built first when
 * none is cached for them), or undefined when it cannot be had (TALLY_NO_BUNDLE set, no esbuild,
 * a read-only install, a source that does not build): the caller then runs the sources
 * through tsx, which reports a broken source as usual.
 */
export async function bundledMain() {
  const off = process.env.TALLY_NO_BUNDLE;
  if (off !== undefined && off !== '' && off !== '0') return undefined;
  try {
    const dir = join(CACHE, fingerprint());
    if (!existsSync(join(dir, 'main.js'))) {
      if (!writable(CACHE)) return undefined;
      // Callers in one process share a build (and esbuild's service, which a build stops).
      building ??= buildOnce(dir).finally(() => {
        building = undefined;
      });
      await building;
    }
    return pathToFileURL(join(dir, 'main.js')).href;
  } catch {
    return undefined;
  }
}

/**
 * A digest of every source file's path and contents (times alone miss a same-size edit saved
 * within a coarse file system's tick; hashing all of src/ costs about 10 ms), and of what decides
 * the bundle's shape. An editor's lock file (`.#x.ts`, a dangling link) or a file gone while
 * listed is not a source.
 */
function fingerprint() {
  const hash = createHash('sha256');
  const files = readdirSync(SRC, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !basename(f).startsWith('.'))
    .sort();
  for (const f of files) {
    let text;
    try {
      if (!statSync(join(SRC, f)).isFile()) continue;
      text = readFileSync(join(SRC, f));
    } catch (err) {
      if (err.code === 'ENOENT') continue;
      throw err;
    }
    hash.update(`${f}\0${text.length}\0`);
    hash.update(text);
  }
  for (const f of [fileURLToPath(import.meta.url), join(ROOT, 'package.json'), join(ROOT, 'tsconfig.json')]) {
    hash.update(existsSync(f) ? readFileSync(f) : '');
  }
  return hash.digest('hex').slice(0, 20);
}

/** A builder's lock older than this is a dead one's (a build takes well under a second). */
const LOCK_STALE_MS = 30_000;

/**
 * Builds `dir` unless another process is building it already (`<dir>.lock`, made exclusively):
 * then waits for that build, so processes started at once on a cold cache (a test run, dev and
 * check together) spend one build's CPU, not one each. A lock that goes without a build (that
 * build failed) or grows stale (its process died) leaves the build to this process.
 */
async function buildOnce(dir) {
  mkdirSync(CACHE, { recursive: true });
  const lock = `${dir}.lock`;
  let mine = false;
  try {
    writeFileSync(lock, String(process.pid), { flag: 'wx' });
    mine = true;
  } catch (err) {
    if (err.code !== 'EEXIST') throw err;
  }
  if (!mine) {
    for (;;) {
      if (existsSync(join(dir, 'main.js'))) return;
      let age;
      try {
        age = Date.now() - statSync(lock).mtimeMs;
      } catch {
        break; // released without a build
      }
      if (age > LOCK_STALE_MS) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
  try {
    // A build may have finished between the caller's look and the lock.
    if (!existsSync(join(dir, 'main.js'))) await build(dir);
  } finally {
    if (mine) rmSync(lock, { force: true });
  }
}

/**
 * Builds into a folder of its own, then renames it to `dir`: a folder there is always a whole
 * build, and processes building at once (tests start many) each end up using the one that won.
 */
async function build(dir) {
  const esbuild = await import('esbuild');
  const scratch = `${dir}.tmp-${process.pid}-${Date.now()}`;
  try {
    await esbuild.build({
      entryPoints: [join(SRC, 'cli', 'main.ts')],
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      outdir: scratch,
      // Used only when node runs with --enable-source-maps: stack traces then name the .ts lines.
      sourcemap: 'linked',
      keepNames: true,
      logLevel: 'silent',
    });
    try {
      renameSync(scratch, dir);
    } catch (err) {
      if (!existsSync(join(dir, 'main.js'))) throw err;
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    // esbuild's service process would otherwise live as long as a `tally serve` started now.
    await esbuild.stop();
  }
  prune(dir);
}

/** Whether `dir` can be made or written: its nearest existing ancestor is writable. */
function writable(dir) {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(d)) {
      try {
        accessSync(d, constants.W_OK);
        return true;
      } catch {
        return false;
      }
    }
    if (dirname(d) === d) return false;
  }
}

/** Removes builds that are neither among the newest KEEP nor younger than PRUNE_AFTER_MS. */
function prune(current) {
  try {
    const now = Date.now();
    const builds = readdirSync(CACHE)
      .map((name) => join(CACHE, name))
      .filter((path) => path !== current)
      .map((path) => ({ path, at: statSync(path).mtimeMs }))
      .sort((a, b) => b.at - a.at);
    for (const { path, at } of builds.slice(KEEP)) {
      if (now - at > PRUNE_AFTER_MS) rmSync(path, { recursive: true, force: true });
    }
  } catch {
    // Another process pruned first: nothing to do.
  }
}
