import { TallyError } from '../errors.ts';
import { tailLines } from './log-tail.ts';
import { type CommandResult, findExecutable, formatCommand, runCommand } from './run-command.ts';
import type { ProgressLog } from './service.ts';

/** How to run a ClickHouse server binary: the program and the arguments before `--config-file`. */
export interface ClickHouseBinary {
  cmd: string;
  args: string[];
}

const SBIN = ['/usr/sbin', '/usr/bin', '/usr/local/bin'];

/** The installed server: Debian's `clickhouse-server`, or the single `clickhouse` binary. */
export function findClickHouseServer(): ClickHouseBinary | undefined {
  const server = findExecutable('clickhouse-server', SBIN);
  if (server) return { cmd: server, args: [] };
  const single = findExecutable('clickhouse', SBIN);
  if (single) return { cmd: single, args: ['server'] };
  return undefined;
}

/**
 * The server binary, installing Debian's clickhouse-server with apt-get when it is missing and we
 * are root. `installed` says whether this call installed it (its package may have started a
 * system service that now answers).
 */
export async function ensureClickHouseServer(
  log: ProgressLog,
): Promise<{ binary: ClickHouseBinary; installed: boolean }> {
  const found = findClickHouseServer();
  if (found) return { binary: found, installed: false };

  const isRoot = process.getuid?.() === 0;
  if (!isRoot || !findExecutable('apt-get')) {
    throw new TallyError(
      'SERVICE_PREREQUISITE',
      'ClickHouse server is not installed: install it (`sudo apt-get install clickhouse-server` on Debian or Ubuntu, or see https://clickhouse.com/docs/install), or install Docker.',
      { exitCode: 1 },
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const policy = await runCommand('apt-cache', ['policy', 'clickhouse-server'], { env, timeoutMs: 60_000 });
  const candidate = /Candidate:\s*(\S+)/.exec(policy.stdout)?.[1];
  if (!candidate || candidate === '(none)') {
    log('clickhouse: apt-get update (no clickhouse-server candidate in the package lists yet)');
    await aptGet(['update'], env);
  }
  log('clickhouse: installing clickhouse-server with apt-get (first run only)');
  const install = ['install', '-y', 'clickhouse-server', 'clickhouse-client'];
  let res = await runCommand('apt-get', install, { env, timeoutMs: 15 * 60_000 });
  if (!findClickHouseServer() && candidate && candidate !== '(none)') {
    // The package lists were there but stale (a version the mirror no longer serves): refresh once.
    log('clickhouse: install failed with the current package lists; apt-get update and one more try');
    await aptGet(['update'], env);
    res = await runCommand('apt-get', install, { env, timeoutMs: 15 * 60_000 });
  }
  const binary = findClickHouseServer();
  // The package's postinst may fail to start its system service (policy-rc.d, no systemd) and
  // make apt-get exit non-zero although the binary is in place: the binary is what we need.
  if (!binary) throw aptFailed(install, res);
  if (res.code !== 0) log('clickhouse: apt-get reported an error after installing the binary; continuing');
  return { binary, installed: true };
}

async function aptGet(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const res = await runCommand('apt-get', args, { env, timeoutMs: 15 * 60_000 });
  if (res.code !== 0) throw aptFailed(args, res);
}

function aptFailed(args: string[], res: CommandResult): TallyError {
  return new TallyError(
    'SERVICE_INSTALL_FAILED',
    `\`${formatCommand('apt-get', args)}\` failed (exit ${res.code ?? 'timeout'}):\n${tailLines(res.stdout + res.stderr, 20)}`,
    { exitCode: 2 },
  );
}
