/**
 * The HTTP load generator of the endpoint benchmark, run as its own process: wrk (C, one thread,
 * from Debian's package, installed with apt-get when missing and we are root), else autocannon's
 * CLI (JavaScript, from npm). On a 2-core machine the generator shares the cores with what it
 * measures, so the lighter one leaves more of them to the servers under test; which one ran is
 * part of the result.
 */
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aptInstall, canAptInstall } from '../../src/services/apt-install.ts';
import { findExecutable, runCommand } from '../../src/services/run-command.ts';

export interface LoadMeasure {
  rps: number;
  /** Latency percentiles, ms. */
  p50: number;
  p99: number;
  /** Connection errors, timeouts and non-2xx answers. */
  errors: number;
}

export interface LoadGenerator {
  /** `wrk 4.1.0` or `autocannon`. */
  name: string;
  /** Latencies to the microsecond (wrk); autocannon counts whole milliseconds. */
  microseconds: boolean;
  run(url: string, connections: number, durationS: number): Promise<LoadMeasure>;
}

/**
 * wrk when it is there or can be installed (`prefer: 'autocannon'` skips it), else autocannon.
 * `log` says what was chosen and why.
 */
export async function loadGenerator(
  prefer: 'wrk' | 'autocannon',
  log: (line: string) => void,
): Promise<LoadGenerator> {
  if (prefer === 'wrk') {
    const wrk = findExecutable('wrk') ?? (await installWrk(log));
    if (wrk) {
      const version = await runCommand(wrk, ['--version'], { timeoutMs: 10_000 });
      const name = /wrk (\S+)/.exec(version.stdout + version.stderr)?.[0] ?? 'wrk';
      log(`load generator: ${name} (${wrk}), one thread`);
      return { name, microseconds: true, run: (url, c, d) => runWrk(wrk, url, c, d) };
    }
    log('load generator: wrk is not installed and could not be; autocannon instead');
  }
  const cli = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
  return { name: 'autocannon', microseconds: false, run: (url, c, d) => runAutocannon(cli, url, c, d) };
}

async function installWrk(log: (line: string) => void): Promise<string | undefined> {
  if (!canAptInstall()) return undefined;
  try {
    return await aptInstall(
      { label: 'load generator', packages: ['wrk'], find: () => findExecutable('wrk') },
      log,
    );
  } catch (err) {
    log(`load generator: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    return undefined;
  }
}

/** wrk's `done` hook, printing what it measured as one JSON line (latencies in µs). */
const WRK_REPORT = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d,"non2xx":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
`;

let wrkScript: string | undefined;

function runWrk(wrk: string, url: string, connections: number, durationS: number): Promise<LoadMeasure> {
  if (!wrkScript) {
    const file = join(tmpdir(), `tally-bench-wrk-${process.pid}.lua`);
    writeFileSync(file, WRK_REPORT);
    process.once('exit', () => rmSync(file, { force: true }));
    wrkScript = file;
  }
  const args = ['-t', '1', '-c', String(connections), '-d', `${durationS}s`, '-s', wrkScript, url];
  return new Promise((done, fail) => {
    execFile(wrk, args, { maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return fail(new Error(`wrk: ${err.message}\n${stderr}`));
      const json = stdout.split('\n').find((l) => l.startsWith('{"requests"'));
      if (!json) return fail(new Error(`wrk printed no report:\n${stdout}\n${stderr}`));
      const r = JSON.parse(json) as {
        requests: number;
        duration_us: number;
        p50_us: number;
        p99_us: number;
        errors: number;
        non2xx: number;
      };
      done({
        rps: r.requests / (r.duration_us / 1e6),
        p50: r.p50_us / 1000,
        p99: r.p99_us / 1000,
        errors: r.errors + r.non2xx,
      });
    });
  });
}

function runAutocannon(
  cli: string,
  url: string,
  connections: number,
  durationS: number,
): Promise<LoadMeasure> {
  const args = [cli, '--json', '--connections', String(connections), '--duration', String(durationS), url];
  return new Promise((done, fail) => {
    execFile(process.execPath, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return fail(new Error(`autocannon: ${err.message}\n${stderr}`));
      const r = JSON.parse(stdout) as {
        requests: { average: number };
        latency: { p50: number; p99: number };
        errors: number;
        timeouts: number;
        non2xx: number;
      };
      done({
        rps: r.requests.average,
        p50: r.latency.p50,
        p99: r.latency.p99,
        errors: r.errors + r.timeouts + r.non2xx,
      });
    });
  });
}
