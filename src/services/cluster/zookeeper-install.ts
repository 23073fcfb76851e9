import { existsSync } from 'node:fs';
import { TallyError } from '../../errors.ts';
import { tailLines } from '../log-tail.ts';
import { findExecutable, formatCommand, runCommand } from '../run-command.ts';
import type { ProgressLog } from '../service.ts';

/** Debian's `zookeeper` package puts the server and its dependencies (by manifest) here. */
export const ZOOKEEPER_JAR = '/usr/share/java/zookeeper.jar';

/**
 * The ZooKeeper jar, installing Debian's `zookeeper` package with apt-get when it is missing and
 * we are root (as the single-node ClickHouse install does). Only the jar is used: the package's
 * own service and config under /etc/zookeeper are left alone.
 */
export async function ensureZooKeeper(log: ProgressLog): Promise<string> {
  if (existsSync(ZOOKEEPER_JAR)) return ZOOKEEPER_JAR;
  if (process.getuid?.() !== 0 || !findExecutable('apt-get')) {
    throw new TallyError(
      'SERVICE_PREREQUISITE',
      `ZooKeeper is not installed (no ${ZOOKEEPER_JAR}): install it (\`sudo apt-get install zookeeper\` on Debian or Ubuntu), or use docker-compose.cluster.yml.`,
      { exitCode: 1 },
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const policy = await runCommand('apt-cache', ['policy', 'zookeeper'], { env, timeoutMs: 60_000 });
  const candidate = /Candidate:\s*(\S+)/.exec(policy.stdout)?.[1];
  if (!candidate || candidate === '(none)') {
    log('zookeeper: apt-get update (no zookeeper candidate in the package lists yet)');
    await apt(['update'], env);
  }
  log('zookeeper: installing zookeeper with apt-get (first run only)');
  const install = ['install', '-y', '--no-install-recommends', 'zookeeper'];
  const res = await runCommand('apt-get', install, { env, timeoutMs: 15 * 60_000 });
  // As with clickhouse-server, a postinst that cannot start its system service is not our concern.
  if (!existsSync(ZOOKEEPER_JAR)) throw aptFailed(install, res.code, res.stdout + res.stderr);
  return ZOOKEEPER_JAR;
}

async function apt(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const res = await runCommand('apt-get', args, { env, timeoutMs: 15 * 60_000 });
  if (res.code !== 0) throw aptFailed(args, res.code, res.stdout + res.stderr);
}

function aptFailed(args: string[], code: number | null, output: string): TallyError {
  return new TallyError(
    'SERVICE_INSTALL_FAILED',
    `\`${formatCommand('apt-get', args)}\` failed (exit ${code ?? 'timeout'}):\n${tailLines(output, 20)}`,
    { exitCode: 2 },
  );
}
