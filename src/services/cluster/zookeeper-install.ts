import { existsSync } from 'node:fs';
import { TallyError } from '../../errors.ts';
import { aptInstall, canAptInstall } from '../apt-install.ts';
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
  if (!canAptInstall()) {
    throw new TallyError(
      'SERVICE_PREREQUISITE',
      `ZooKeeper is not installed (no ${ZOOKEEPER_JAR}): install it (\`sudo apt-get install zookeeper\` on Debian or Ubuntu), or use docker-compose.cluster.yml.`,
      { exitCode: 1 },
    );
  }
  return aptInstall(
    {
      label: 'zookeeper',
      packages: ['zookeeper'],
      options: ['--no-install-recommends'],
      find: () => (existsSync(ZOOKEEPER_JAR) ? ZOOKEEPER_JAR : undefined),
    },
    log,
  );
}
