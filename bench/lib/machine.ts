import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import type { MachineInfo, Versions } from './result-schema.ts';

/** What the figures were measured on. */
export function machineInfo(): MachineInfo {
  const cores = cpus();
  return {
    cpu: cores[0]?.model.trim() ?? 'unknown',
    cores: cores.length,
    memoryGb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os: osName(),
    kernel: `${process.platform} ${release()}`,
    loadAverage: { start: round2(loadavg()[0] ?? 0) },
  };
}

export function currentLoad(): number {
  return round2(loadavg()[0] ?? 0);
}

/**
 * Versions of everything measured. The chDB engine is asked in a child process, so this process
 * never opens a chDB data folder of its own.
 */
export async function versions(
  repo: string,
  opts: { clickhouseUrl: string; kafka?: string },
): Promise<Versions> {
  const pkg = (name: string): string | undefined => {
    const file = join(repo, 'node_modules', name, 'package.json');
    return existsSync(file)
      ? (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
      : undefined;
  };
  const tally = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }).version;
  const out: Versions = { node: process.version, tally };
  const server = await clickhouseServerVersion(opts.clickhouseUrl);
  if (server) out.clickhouseServer = server;
  const chdb = pkg('chdb');
  if (chdb) {
    out.chdb = chdb;
    const engine = chdbEngineVersion(repo);
    if (engine) out.chdbClickhouse = engine;
  }
  if (opts.kafka) out.kafka = opts.kafka;
  const kafkajs = pkg('kafkajs');
  if (kafkajs) out.kafkajs = kafkajs;
  const client = pkg('@clickhouse/client');
  if (client) out.clickhouseClient = client;
  return out;
}

async function clickhouseServerVersion(url: string): Promise<string | undefined> {
  try {
    const res = await fetch(`${url.replace(/\/$/, '')}/?query=${encodeURIComponent('SELECT version()')}`, {
      signal: AbortSignal.timeout(3000),
    });
    return res.ok ? (await res.text()).trim() : undefined;
  } catch {
    return undefined;
  }
}

function chdbEngineVersion(repo: string): string | undefined {
  const r = spawnSync(
    process.execPath,
    ['-e', "process.stdout.write(require('chdb').query('SELECT version()', 'TSV').trim())"],
    { cwd: repo, encoding: 'utf8', timeout: 30_000 },
  );
  return r.status === 0 && r.stdout ? r.stdout.trim() : undefined;
}

/** The repository's HEAD as a short sha, and whether the working tree has changes. */
export function gitState(repo: string): { sha: string; dirty: boolean } {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repo, encoding: 'utf8' }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: repo,
      encoding: 'utf8',
    });
    return { sha, dirty: status.trim() !== '' };
  } catch {
    return { sha: 'unknown', dirty: true };
  }
}

function osName(): string {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(text);
    if (m) return m[1]!;
  } catch {
    // not Linux, or no os-release
  }
  return `${process.platform} ${release()}`;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
