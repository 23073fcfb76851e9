/**
 * `npm run bench`: every benchmark against the real services, each in its own process with a
 * timeout; a failing benchmark is reported as failed and the others still run. Writes
 * bench/results/<date>-<sha>.json (quick runs: <date>-<sha>-quick.json) and regenerates
 * BENCHMARKS.md and the growth chart from it.
 *
 *   npm run bench                   full sizes (each script's defaults)
 *   npm run bench -- --quick        small sizes and short runs, under 3 minutes on 2 cores
 *   options: --only id,id  --skip id,id  --cpu-prof (profiles under .tally/bench-profiles/)
 *            --no-report (write the results file only)  --list
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { servicesUp } from '../src/services/services.ts';
import { BENCHMARKS, type BenchSpec, type Mode } from './lib/benchmarks.ts';
import { cliNodeFlags } from './lib/cli-node-flags.ts';
import { formatJsonFile } from './lib/format-json.ts';
import { currentLoad, gitState, machineInfo, versions } from './lib/machine.ts';
import { waitForQuietMachine } from './lib/quiet-machine.ts';
import type { BenchOutput, BenchResult, RunResult } from './lib/result-schema.ts';
import { lastJsonLine, runChild } from './lib/run-child.ts';
import { judge } from './lib/targets.ts';
import { writeReport } from './report.ts';

const REPO = resolve(import.meta.dirname, '..');
const RESULTS = join(REPO, 'bench', 'results');
const args = process.argv.slice(2);
const option = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const list = (name: string) => option(name)?.split(',').filter(Boolean);
const MODE: Mode = args.includes('--quick') ? 'quick' : 'full';
const CLICKHOUSE_URL = process.env.TALLY_CLICKHOUSE_URL || 'http://127.0.0.1:8123';

async function main(): Promise<void> {
  if (args.includes('--list')) {
    for (const b of BENCHMARKS) console.log(`${b.id.padEnd(22)} ${b.title}`);
    return;
  }
  const only = list('--only');
  const skip = list('--skip') ?? [];
  const unknown = [...(only ?? []), ...skip].filter((id) => !BENCHMARKS.some((b) => b.id === id));
  if (unknown.length > 0) {
    console.error(`unknown benchmark(s): ${unknown.join(', ')} (see --list)`);
    process.exit(1);
  }
  const specs = BENCHMARKS.filter((b) => (!only || only.includes(b.id)) && !skip.includes(b.id));

  const startedAt = new Date();
  const t0 = performance.now();
  const machine = machineInfo();
  const git = gitState(REPO);
  progress(
    `tally bench, ${MODE} mode: ${specs.length} benchmarks at ${git.sha}${git.dirty ? ' (uncommitted changes)' : ''}`,
  );
  progress(
    `${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB, load average ${machine.loadAverage.start}`,
  );

  const services: string[] = [];
  let kafkaVersion: string | undefined;
  try {
    const up = await servicesUp({ projectDir: REPO, clickhouseUrl: CLICKHOUSE_URL, log: progress });
    for (const s of up) {
      services.push(
        `${s.name} ${s.version ?? ''} at ${s.address} (${s.action}, ${s.owner})`.replace(/ {2}/g, ' '),
      );
      if (s.name === 'kafka' && s.version && s.version !== 'unknown') kafkaVersion = s.version;
    }
  } catch (err) {
    // Benchmarks that need a service fail on their own and say so; the rest still run.
    services.push(`services up failed: ${(err as Error).message}`);
  }
  for (const s of services) progress(s);
  const vers = await versions(REPO, { clickhouseUrl: CLICKHOUSE_URL, kafka: kafkaVersion });

  const results: BenchResult[] = [];
  for (const spec of specs) {
    // Whatever goes wrong in one benchmark (even in reading its output) stays in its result.
    const r = await runBench(spec).catch(
      (err): BenchResult => ({
        id: spec.id,
        title: spec.title,
        status: 'failed',
        error: String(err),
        metrics: [],
      }),
    );
    results.push(r);
    const passes = r.metrics.filter((m) => m.pass !== undefined);
    progress(
      `${spec.id}: ${r.status}${r.durationS !== undefined ? ` in ${r.durationS.toFixed(1)} s` : ''}` +
        (passes.length ? `, targets ${passes.filter((m) => m.pass).length}/${passes.length} met` : '') +
        (r.error ? ` (${r.error.split('\n')[0]})` : ''),
    );
  }

  machine.loadAverage.end = currentLoad();
  const run: RunResult = {
    schema: 1,
    date: startedAt.toISOString().slice(0, 10),
    sha: git.sha,
    dirty: git.dirty,
    mode: MODE,
    startedAt: startedAt.toISOString(),
    durationS: Math.round((performance.now() - t0) / 100) / 10,
    machine,
    versions: vers,
    services,
    benchmarks: results,
  };
  mkdirSync(RESULTS, { recursive: true });
  const file = join(RESULTS, `${run.date}-${run.sha}${MODE === 'quick' ? '-quick' : ''}.json`);
  writeFileSync(file, `${JSON.stringify(run, null, 2)}\n`);
  formatJsonFile(REPO, file);
  progress(`results: ${relative(REPO, file)}`);
  if (!args.includes('--no-report')) {
    const written = writeReport(run, file, REPO);
    progress(`report: ${written.map((f) => relative(REPO, f)).join(', ')}`);
  }
  printSummary(run);
  if (results.some((r) => r.status === 'failed' || r.status === 'timeout')) process.exitCode = 1;
}

async function runBench(spec: BenchSpec): Promise<BenchResult> {
  const base = { id: spec.id, title: spec.title, metrics: [] };
  if (spec.notImplemented) return { ...base, status: 'not-implemented', error: spec.notImplemented };
  const args = spec.args[MODE];
  if (args === 'skip') return { ...base, status: 'skipped', error: `not part of ${MODE} mode` };
  if (!spec.script || !existsSync(join(REPO, spec.script))) {
    return { ...base, status: 'missing', error: `${spec.script ?? 'its script'} does not exist yet` };
  }
  // Each benchmark starts on a quiet machine: not while Kafka's JVM warms up after `services up`,
  // nor while ClickHouse merges what the previous benchmark inserted.
  const quietWait = await waitForQuietMachine();
  progress(
    `\n${spec.id}: ${quietWait.quiet ? 'machine quiet' : 'machine still busy'} after ${quietWait.waitedS.toFixed(0)} s (${Math.round(quietWait.busy * 100)}% of the cores busy)`,
  );
  // Tally's code runs with the node flags of the `tally` command (bin/tally.js).
  const nodeArgs = cliNodeFlags();
  const command = `node ${[...nodeArgs, '--import', 'tsx', spec.script, ...args].join(' ')}`;
  progress(`${spec.id}: ${command}`);
  // Through NODE_OPTIONS, so the processes a benchmark spawns (the ingester, `tally dev`) are
  // profiled too: one .cpuprofile per process (node refuses --cpu-prof there, hence a preload).
  const profile = process.argv.includes('--cpu-prof')
    ? {
        NODE_OPTIONS:
          `${process.env.NODE_OPTIONS ?? ''} --import ${join(REPO, 'bench', 'lib', 'cpu-profile-preload.mjs')}`.trim(),
        TALLY_BENCH_PROFILE_DIR: join(REPO, '.tally', 'bench-profiles', spec.id),
      }
    : {};
  const child = await runChild(spec.script, args, {
    cwd: REPO,
    nodeArgs,
    env: { ...process.env, ...spec.env?.[MODE], ...profile },
    timeoutMs: spec.timeoutS[MODE] * 1000,
    onLine: (line) => {
      // Keep the progress readable: the JSON result lines are long and land in the file anyway.
      if (!line.startsWith('{')) process.stderr.write(`  ${line}\n`);
    },
  });
  const result: BenchResult = {
    ...base,
    status: 'ok',
    command,
    durationS: Math.round(child.ms / 100) / 10,
    exitCode: child.exitCode,
    quietWait,
  };
  removeSideFiles(child.stdout);
  if (child.timedOut) {
    return { ...result, status: 'timeout', error: `stopped after ${spec.timeoutS[MODE]} s: ${tail(child)}` };
  }
  let output: BenchOutput;
  try {
    const last = lastJsonLine(child.stdout);
    if (last && Array.isArray(last.metrics)) output = last as unknown as BenchOutput;
    else if (spec.parse) output = spec.parse(child.stdout, last);
    else throw new Error('no `{ bench, metrics }` JSON line at the end of its output');
  } catch (err) {
    const why =
      child.exitCode !== 0 ? `exited with ${child.exitCode ?? child.signal}` : (err as Error).message;
    return { ...result, status: 'failed', error: `${why}: ${tail(child)}` };
  }
  result.metrics = output.metrics.map(judge);
  const notes = [...(output.notes ?? [])];
  if (child.exitCode !== 0) {
    if (result.metrics.length === 0)
      return { ...result, status: 'failed', error: `exited with ${child.exitCode}: ${tail(child)}`, notes };
    notes.push(`exited with code ${child.exitCode ?? child.signal}; its figures are kept`);
  }
  if (notes.length) result.notes = notes;
  if (output.growth) result.growth = output.growth;
  if (output.raw !== undefined) result.raw = output.raw;
  return result;
}

/**
 * Some scripts write their own detailed JSON under bench/results ("written to <file>"); its
 * content is kept in the run's file (`raw`), so the side file goes, unless git tracks it (a
 * result its owner committed).
 */
function removeSideFiles(stdout: string): void {
  for (const m of stdout.matchAll(/written to (\S+\.json)/g)) {
    const f = resolve(REPO, m[1]!);
    if (!f.startsWith(`${RESULTS}/`) || !existsSync(f)) continue;
    const tracked = spawnSync('git', ['ls-files', '--error-unmatch', f], { cwd: REPO, stdio: 'ignore' });
    if (tracked.status !== 0) rmSync(f);
  }
}

function tail(child: { stdout: string; stderr: string }): string {
  const text = `${child.stderr}\n${child.stdout}`
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('{') && !/^\s+at /.test(l));
  return text.slice(-6).join('\n').slice(0, 1500);
}

function printSummary(run: RunResult): void {
  console.log(`\n${run.mode} run at ${run.sha}: ${(run.durationS / 60).toFixed(1)} min`);
  for (const b of run.benchmarks) {
    const judged = b.metrics.filter((m) => m.pass !== undefined);
    const met = judged.filter((m) => m.pass).length;
    console.log(
      `${b.id.padEnd(22)} ${b.status.padEnd(15)} ${b.durationS !== undefined ? `${b.durationS.toFixed(1).padStart(6)} s` : '        '}  ${judged.length ? `targets ${met}/${judged.length}` : ''}`,
    );
  }
}

function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

await main();
