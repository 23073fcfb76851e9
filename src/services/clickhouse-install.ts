import { TallyError } from '../errors.ts';
import { aptInstall, canAptInstall } from './apt-install.ts';
import { findExecutable } from './run-command.ts';
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

  if (!canAptInstall()) {
    throw new TallyError(
      'SERVICE_PREREQUISITE',
      'ClickHouse server is not installed: install it (`sudo apt-get install clickhouse-server` on Debian or Ubuntu, or see https://clickhouse.com/docs/install), or install Docker.',
      { exitCode: 1 },
    );
  }
  const binary = await aptInstall(
    { label: 'clickhouse', packages: ['clickhouse-server', 'clickhouse-client'], find: findClickHouseServer },
    log,
  );
  return { binary, installed: true };
}
