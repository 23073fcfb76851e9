/**
 * Benchmark of the daily loop on a copy of the example project:
 * 1. save-to-served: a spawned `tally dev` (embedded engine); an endpoint-only change (the SQL of
 *    a pipe an endpoint reads) is saved 20 times, and the endpoint is polled every 5 ms until it
 *    answers the new value. Goal: median <= 1 s.
 * 2. `tally test` wall time on the example project (a spawned `tally test`, process start
 *    included). Goal: <= 10 s. Also on the server when TALLY_CLICKHOUSE_URL is set.
 * 3. a no-op deploy (nothing changed): `tally deploy` wall time, and applyDeploy in-process.
 *
 * Run: npx tsx bench/dev-loop.ts [--edits 20]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine } from '../src/clickhouse/create-engine.ts';
import { applyDeploy } from '../src/deploy/deploy.ts';
import { loadProjectOrThrow } from '../src/project/load-project.ts';
import { copyExample } from '../test/support/example-copy.ts';
import { deleteTopics } from '../test/support/ingest-kafka.ts';

const REPO = join(import.meta.dirname, '..');
// Spawned as users run it (`npx tally`): through its shebang, with the command's node flags.
const TALLY = join(REPO, 'bin', 'tally.js');
const args = process.argv.slice(2);
const EDITS = args.includes('--edits') ? Number(args[args.indexOf('--edits') + 1]) : 20;

// Topics of this run: `tally dev` creates the ones it consumes, and the example's own (on a
// developer's broker) may hold events of other runs, which it would ingest while being timed.
const suffix = `bench_${process.pid}`;
const topics = Object.fromEntries(
  ['transactions', 'subscription_events', 'page_events'].map((ds) => [ds, `${ds}_${suffix}`]),
);
const dir = copyExample(mkdtempSync(join(tmpdir(), 'tally-bench-dev-')), topics);
const env = { ...process.env, NO_COLOR: '1', TALLY_CLICKHOUSE_URL: '' };

try {
  const loop = await saveToServed();
  const testEmbedded = await wallTime(['test', '--project', dir], env);
  const server = process.env.TALLY_CLICKHOUSE_URL;
  const testServer = server
    ? await wallTime(['test', '--project', dir], { ...env, TALLY_CLICKHOUSE_URL: server })
    : undefined;
  const deployCli: number[] = [];
  for (let i = 0; i < 5; i++) deployCli.push(await wallTime(['deploy', '--project', dir], env));
  const deployInProcess = await noOpDeploy();
  // Start-up alone: the sources bundled (bin/cli-bundle.js, built by the runs above) against the
  // same sources through tsx, alternating, median of 7 each.
  const helpBundled: number[] = [];
  const helpTsx: number[] = [];
  for (let i = 0; i < 7; i++) {
    helpBundled.push(await wallTime(['--help'], env, true));
    helpTsx.push(await wallTime(['--help'], { ...env, TALLY_NO_BUNDLE: '1' }, true));
  }

  console.log('');
  console.log(`save -> new answer served (endpoint-only change, ${EDITS} edits, embedded):`);
  console.log(
    `  median ${ms(median(loop))}  p90 ${ms(quantile(loop, 0.9))}  min ${ms(Math.min(...loop))}  max ${ms(Math.max(...loop))}  (goal <= 1 s: ${median(loop) <= 1000 ? 'met' : 'MISSED'})`,
  );
  console.log(
    `tally test on the example project (embedded): ${ms(testEmbedded)} wall  (goal <= 10 s: ${testEmbedded <= 10_000 ? 'met' : 'MISSED'})`,
  );
  if (testServer !== undefined)
    console.log(`tally test on the example project (server ${server}): ${ms(testServer)} wall`);
  console.log(
    `no-op deploy: \`tally deploy\` ${ms(median(deployCli))} wall (median of 5), applyDeploy ${ms(median(deployInProcess))} in-process (median of 5)`,
  );
  console.log(
    `start-up: \`tally --help\` ${ms(median(helpBundled))} wall bundled, ${ms(median(helpTsx))} through tsx (median of 7 each)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
  await deleteTopics(...Object.values(topics));
}

/** Spawns `tally dev`, then saves EDITS endpoint-only changes and times each until served. */
async function saveToServed(): Promise<number[]> {
  const port = await freePort();
  const child = spawn(TALLY, ['dev', '--project', dir, '--port', String(port)], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d) => (output += String(d)));
  child.stderr?.on('data', (d) => (output += String(d)));
  try {
    await until(
      () => output.includes('watching'),
      60_000,
      () => output,
    );
    const url = `http://127.0.0.1:${port}/v0/pipes/active_subscriptions.json`;
    const file = join(dir, 'pipes', 'active_subscriptions.pipe.yaml');
    const original = readFileSync(file, 'utf8');
    const base = await answer(url);
    if (base === undefined) throw new Error(`${url} does not answer`);
    const times: number[] = [];
    for (let i = 1; i <= EDITS; i++) {
      const edited = original.replace(
        'SELECT count() AS active_subscriptions',
        `SELECT count() + ${i} AS active_subscriptions`,
      );
      if (edited === original) throw new Error('the pipe to edit has changed; update bench/dev-loop.ts');
      const t0 = performance.now();
      writeFileSync(file, edited);
      await until(
        async () => (await answer(url)) === base + i,
        10_000,
        () => output,
        5,
      );
      times.push(performance.now() - t0);
      process.stdout.write(`edit ${i}: ${ms(times[times.length - 1]!)}\n`);
      await sleep(150); // let the watcher settle before the next save
    }
    writeFileSync(file, original);
    return times;
  } finally {
    await stop(child);
  }
}

async function answer(url: string): Promise<number | undefined> {
  try {
    const res = await fetch(url);
    if (!res.ok) return undefined;
    const body = (await res.json()) as { data: Array<{ active_subscriptions: number | string }> };
    return Number(body.data[0]?.active_subscriptions);
  } catch {
    return undefined;
  }
}

async function wallTime(argv: string[], e: NodeJS.ProcessEnv, quiet = false): Promise<number> {
  const t0 = performance.now();
  const child = spawn(TALLY, argv, { env: e, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d) => (output += String(d)));
  child.stderr?.on('data', (d) => (output += String(d)));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  const elapsed = performance.now() - t0;
  if (code !== 0) throw new Error(`tally ${argv.join(' ')} exited ${code}:\n${output}`);
  const last = output.trimEnd().split('\n').pop();
  if (!quiet) console.log(`tally ${argv[0]}: ${ms(elapsed)} (${last})`);
  return elapsed;
}

async function noOpDeploy(): Promise<number[]> {
  const project = loadProjectOrThrow(dir, { env });
  const engine = await createEngine(project.config.clickhouse);
  try {
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const r = await applyDeploy(project, engine, {});
      times.push(performance.now() - t0);
      if (!r.ok || r.changes !== 0)
        throw new Error(`expected a no-op deploy, got ${r.changes} change(s): ${r.error ?? ''}`);
    }
    return times;
  } finally {
    await engine.close();
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await new Promise((r) => child.once('exit', r));
  clearTimeout(timer);
}

async function until(
  ok: () => boolean | Promise<boolean>,
  timeoutMs: number,
  context: () => string,
  everyMs = 50,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await ok()) return;
    await sleep(everyMs);
  }
  throw new Error(`timed out; output so far:\n${context()}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function sleep(msec: number): Promise<void> {
  return new Promise((r) => setTimeout(r, msec));
}

function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo]! + (s[Math.ceil(i)]! - s[lo]!) * (i - lo);
}

function ms(x: number): string {
  return x < 1000 ? `${Math.round(x)} ms` : `${(x / 1000).toFixed(2)} s`;
}
