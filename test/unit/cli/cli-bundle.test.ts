import { execFile } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const REPO = resolve(import.meta.dirname, '..', '..', '..');

/**
 * A package laid out like Tally's (bin/cli-bundle.js, src/cli/main.ts, its own node_modules with
 * esbuild in it), so the bundler builds and caches there, not in this checkout.
 */
function fakePackage(): { root: string; bundledMain: () => Promise<string | undefined>; cache: string } {
  const root = mkdtempSync(join(tmpdir(), 'tally-bundle-'));
  mkdirSync(join(root, 'bin'));
  mkdirSync(join(root, 'src', 'cli'), { recursive: true });
  mkdirSync(join(root, 'node_modules'));
  copyFileSync(join(REPO, 'bin', 'cli-bundle.js'), join(root, 'bin', 'cli-bundle.js'));
  symlinkSync(join(REPO, 'node_modules', 'esbuild'), join(root, 'node_modules', 'esbuild'));
  writeFileSync(join(root, 'package.json'), '{"name":"fake","type":"module"}');
  writeMain(root, 1);
  writeFileSync(join(root, 'src', 'cli', 'later.ts'), 'export const later: string = "loaded on demand";\n');
  const url = pathToFileURL(join(root, 'bin', 'cli-bundle.js')).href;
  return {
    root,
    cache: join(root, 'node_modules', '.cache', 'tally-cli'),
    bundledMain: async () =>
      ((await import(url)) as { bundledMain(): Promise<string | undefined> }).bundledMain(),
  };
}

function writeMain(root: string, version: number): void {
  const file = join(root, 'src', 'cli', 'main.ts');
  writeFileSync(
    file,
    `export const version: number = ${version};\nexport const later = async (): Promise<string> => (await import('./later.ts')).later;\n`,
  );
  // A second write within the file system's time resolution must still count as a change.
  const at = new Date(Date.now() + version * 1000);
  utimesSync(file, at, at);
}

type Main = { version: number; later(): Promise<string> };

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
  delete process.env.TALLY_NO_BUNDLE;
});

describe('bin/cli-bundle.js', () => {
  it('builds the sources once, then serves the cached build, its chunks loaded on demand', async () => {
    const pkg = fakePackage();
    made.push(pkg.root);
    const first = await pkg.bundledMain();
    expect(first).toMatch(/\/node_modules\/\.cache\/tally-cli\/[0-9a-f]{20}\/main\.js$/);
    const main = (await import(first!)) as Main;
    expect(main.version).toBe(1);
    expect(await main.later()).toBe('loaded on demand');
    expect(await pkg.bundledMain()).toBe(first);
    expect(readdirSync(pkg.cache)).toHaveLength(1);
  });

  it('builds again when a source changes, keeping the build before it', async () => {
    const pkg = fakePackage();
    made.push(pkg.root);
    const first = await pkg.bundledMain();
    writeMain(pkg.root, 2);
    const second = await pkg.bundledMain();
    expect(second).not.toBe(first);
    expect(((await import(second!)) as Main).version).toBe(2);
    expect(readdirSync(pkg.cache).sort()).toHaveLength(2);
  });

  it('sees an edit of the same size saved with the same time (contents count, not times)', async () => {
    const pkg = fakePackage();
    made.push(pkg.root);
    const first = await pkg.bundledMain();
    const file = join(pkg.root, 'src', 'cli', 'main.ts');
    const { mtime } = statSync(file);
    writeFileSync(file, readFileSync(file, 'utf8').replace('version: number = 1', 'version: number = 7'));
    utimesSync(file, mtime, mtime);
    const second = await pkg.bundledMain();
    expect(second).not.toBe(first);
    expect(((await import(second!)) as Main).version).toBe(7);
  });

  it("is not thrown off by an editor's lock file (a dangling link named .#x.ts)", async () => {
    const pkg = fakePackage();
    made.push(pkg.root);
    symlinkSync('user@host.1234:1700000000', join(pkg.root, 'src', 'cli', '.#main.ts'));
    symlinkSync(join(pkg.root, 'nowhere.ts'), join(pkg.root, 'src', 'cli', 'gone.ts'));
    expect(await pkg.bundledMain()).toMatch(/main\.js$/);
  });

  it('processes building at once end up on the same whole build', async () => {
    const pkg = fakePackage();
    made.push(pkg.root);
    const script = `const m = await import(${JSON.stringify(pathToFileURL(join(pkg.root, 'bin', 'cli-bundle.js')).href)}); console.log(await m.bundledMain());`;
    const run = async () =>
      (await exec(process.execPath, ['--input-type=module', '-e', script])).stdout.trim();
    const urls = await Promise.all([run(), run(), run(), pkg.bundledMain(), pkg.bundledMain()]);
    expect(new Set(urls).size).toBe(1);
    expect(urls[0]).toMatch(/\/main\.js$/);
    // No scratch folder is left behind.
    expect(readdirSync(pkg.cache)).toHaveLength(1);
  });

  it("waits for another process's build (its lock), and builds itself once the lock goes or grows stale", async () => {
    const pkg = fakePackage();
    made.push(pkg.root);
    const url = await pkg.bundledMain();
    const dir = fileURLToPath(url!).replace(/\/main\.js$/, '');
    const lock = `${dir}.lock`;
    const tick = () => new Promise((r) => setTimeout(r, 50));

    // Another process holds the lock: no build of this one's, and no answer until it goes.
    rmSync(dir, { recursive: true });
    writeFileSync(lock, '12345');
    let settled = false;
    const pending = pkg.bundledMain().then((u) => {
      settled = true;
      return u;
    });
    for (let i = 0; i < 6; i++) await tick();
    expect(settled).toBe(false);
    expect(readdirSync(pkg.cache).filter((f) => f.includes('.tmp-'))).toEqual([]);
    rmSync(lock); // released without a build (that build failed): this process builds
    expect(await pending).toBe(url);
    expect(existsSync(lock)).toBe(false);

    // The other builder finishes while this one waits: its build is taken, none made here.
    rmSync(dir, { recursive: true });
    writeFileSync(lock, '12345');
    const waiting = pkg.bundledMain();
    await tick();
    mkdirSync(dir);
    writeFileSync(join(dir, 'main.js'), 'export const version = 42;\n');
    expect(await waiting).toBe(url);
    expect(((await import(`${url!}?other`)) as Main).version).toBe(42);
    rmSync(lock);

    // A stale lock (its process died): built at once.
    rmSync(dir, { recursive: true });
    writeFileSync(lock, '12345');
    const old = new Date(Date.now() - 60_000);
    utimesSync(lock, old, old);
    expect(await pkg.bundledMain()).toBe(url);
    expect(((await import(`${url!}?stale`)) as Main).version).toBe(1);
  });

  it('gives no bundle for a source that does not build (tsx then reports it) or with TALLY_NO_BUNDLE', async () => {
    const pkg = fakePackage();
    made.push(pkg.root);
    writeFileSync(join(pkg.root, 'src', 'cli', 'later.ts'), 'export const later: string = ;\n');
    expect(await pkg.bundledMain()).toBeUndefined();
    const ok = fakePackage();
    made.push(ok.root);
    process.env.TALLY_NO_BUNDLE = '1';
    expect(await ok.bundledMain()).toBeUndefined();
  });
});

describe('bin/tally.js', () => {
  /**
   * The fake package with bin/tally.js and tsx, whose runMain says how it was loaded (from the
   * bundle or the .ts source), where tally.js says Tally is, and exits with a code of its own.
   */
  function fakeCommand(): {
    root: string;
    run(env?: Record<string, string>): Promise<{ code: number; out: string }>;
  } {
    const pkg = fakePackage();
    made.push(pkg.root);
    copyFileSync(join(REPO, 'bin', 'tally.js'), join(pkg.root, 'bin', 'tally.js'));
    symlinkSync(join(REPO, 'node_modules', 'tsx'), join(pkg.root, 'node_modules', 'tsx'));
    writeFileSync(
      join(pkg.root, 'src', 'cli', 'main.ts'),
      [
        'export async function runMain(args: string[]): Promise<number> {',
        "  const from: string = import.meta.url.endsWith('.ts') ? 'source' : 'bundle';",
        "  console.log(JSON.stringify({ from, args, root: (globalThis as Record<symbol, unknown>)[Symbol.for('tally.root')] }));",
        '  return 3;',
        '}',
        '',
      ].join('\n'),
    );
    return {
      root: pkg.root,
      run: async (env = {}) => {
        try {
          const { stdout } = await exec(process.execPath, [join(pkg.root, 'bin', 'tally.js'), 'a', 'b'], {
            env: { ...process.env, TALLY_NO_BUNDLE: '', ...env },
          });
          return { code: 0, out: stdout };
        } catch (err) {
          const e = err as { code: number; stdout: string };
          return { code: e.code, out: e.stdout };
        }
      },
    };
  }

  it('runs the bundle, passing the arguments and the exit code, and says where Tally is', async () => {
    const cmd = fakeCommand();
    const { code, out } = await cmd.run();
    expect(code).toBe(3);
    expect(JSON.parse(out)).toEqual({ from: 'bundle', args: ['a', 'b'], root: cmd.root });
  });

  it('falls back to the sources through tsx when the build cannot be loaded, or with TALLY_NO_BUNDLE', async () => {
    const cmd = fakeCommand();
    expect(JSON.parse((await cmd.run()).out).from).toBe('bundle');
    // The cached build broken under the same fingerprint (files removed or damaged after it was made).
    const cache = join(cmd.root, 'node_modules', '.cache', 'tally-cli');
    const [build] = readdirSync(cache);
    writeFileSync(join(cache, build!, 'main.js'), 'export const runMain = ;\n');
    const broken = await cmd.run();
    expect(broken.code).toBe(3);
    expect(JSON.parse(broken.out)).toEqual({ from: 'source', args: ['a', 'b'], root: cmd.root });
    expect(JSON.parse((await cmd.run({ TALLY_NO_BUNDLE: '1' })).out).from).toBe('source');
  });
});
