/** Runs ingest-child.ts in child processes: start, watch its stats, kill -9, ask for a report. */
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IngestStats } from '../../src/ingest/ingestion.ts';

const CHILD = join(import.meta.dirname, 'ingest-child.ts');

export interface ChildIngester {
  proc: ChildProcess;
  /** The last stats it printed. */
  stats(): IngestStats | undefined;
  /** Resolves when `probe(stats)` is true, rejects after `timeoutMs` or when the child exits. */
  until(probe: (s: IngestStats) => boolean, timeoutMs: number, what: string): Promise<void>;
  kill9(): Promise<void>;
  /** Graceful stop, then the report queries' results. */
  report(): Promise<Record<string, Array<Record<string, unknown>>>>;
  output(): string;
}

export function spawnIngester(input: unknown): ChildIngester {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: { ...process.env, TALLY_INGEST_CHILD: JSON.stringify(input) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let last: IngestStats | undefined;
  let report: Record<string, Array<Record<string, unknown>>> | undefined;
  let out = '';
  let lastLogged = 0;
  let buf = '';
  const waiters = new Set<() => void>();
  let exited = false;
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (chunk: string) => {
    buf += chunk;
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      nl = buf.indexOf('\n');
      try {
        const msg = JSON.parse(line) as {
          stats?: IngestStats;
          done?: boolean;
          report?: typeof report;
          log?: unknown;
        };
        if (msg.stats) {
          last = msg.stats;
          if (process.env.TALLY_INGEST_CHILD_LOGS && Date.now() - lastLogged > 2000) {
            lastLogged = Date.now();
            out += `${new Date().toISOString()} ${JSON.stringify(msg.stats.datasources.map((d) => [d.name, d.totals.flushes, d.totals.stored, d.totals.duplicates, d.totals.failures, d.totals.lastError, d.kafka?.partitions.map((p) => p.position)]))}\n`;
          }
        }
        if (msg.done) report = msg.report;
        if (msg.log) out += `${JSON.stringify(msg.log)}\n`;
      } catch {
        out += `${line}\n`;
      }
      for (const w of waiters) w();
    }
  });
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (c: string) => {
    out += c;
  });
  const exit = new Promise<number | null>((resolve) =>
    proc.on('exit', (code) => {
      if (process.env.TALLY_INGEST_CHILD_LOGS) {
        appendFileSync(process.env.TALLY_INGEST_CHILD_LOGS, `--- child ${proc.pid} exit ${code}\n${out}`);
      }
      exited = true;
      for (const w of waiters) w();
      resolve(code);
    }),
  );

  const wait = (cond: () => boolean, timeoutMs: number, what: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (cond()) {
          cleanup();
          resolve();
        } else if (exited) {
          cleanup();
          reject(new Error(`ingester child exited while waiting for ${what}:\n${out.slice(-3000)}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; last stats ${JSON.stringify(last)}\n${out.slice(-3000)}`,
          ),
        );
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });

  return {
    proc,
    stats: () => last,
    until: (probe, timeoutMs, what) => wait(() => last !== undefined && probe(last), timeoutMs, what),
    async kill9() {
      if (!exited) proc.kill('SIGKILL');
      await exit;
    },
    async report() {
      proc.stdin!.write('report\n');
      await wait(() => report !== undefined, 60_000, 'the report');
      await exit;
      return report!;
    },
    output: () => out,
  };
}

/** Every Kafka data source has ingested its partitions up to `ends` (partition -> end offset). */
export function caughtUp(s: IngestStats, ends: ReadonlyMap<number, number>): boolean {
  return s.datasources.every((d) => {
    const k = d.kafka;
    if (!k) return true;
    return [...ends].every(
      ([p, end]) => (k.partitions.find((x) => x.partition === p)?.position ?? -1) >= end,
    );
  });
}
