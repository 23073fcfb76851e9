/** Where the cluster's ZooKeeper keeps everything, under `<project>/.tally/cluster/zookeeper/`. */
export interface ZooKeeperPaths {
  dir: string;
  config: string;
  data: string;
  /** stdout and stderr of the JVM (ZooKeeper logs there: no log4j binding is configured). */
  out: string;
  pidFile: string;
}

export function zookeeperPaths(dir: string): ZooKeeperPaths {
  return {
    dir,
    config: `${dir}/zoo.cfg`,
    data: `${dir}/data`,
    out: `${dir}/zookeeper.out`,
    pidFile: `${dir}/zookeeper.pid`,
  };
}

/**
 * A standalone server on loopback. The admin server (an HTTP port of its own, 8080 by default)
 * is off; `stat` is whitelisted because it is how readiness is probed (zookeeper-probe.ts).
 */
export function renderZooKeeperConfig(p: ZooKeeperPaths, port: number): string {
  return [
    '# Written by `tally services up --cluster`; regenerated on every start.',
    'tickTime=2000',
    'initLimit=10',
    'syncLimit=5',
    `dataDir=${p.data}`,
    `clientPort=${port}`,
    'clientPortAddress=127.0.0.1',
    'maxClientCnxns=0',
    'admin.enableServer=false',
    '4lw.commands.whitelist=ruok,stat,mntr',
    // Old snapshots and logs are purged so the folder stays small across restarts.
    'autopurge.snapRetainCount=3',
    'autopurge.purgeInterval=1',
    '',
  ].join('\n');
}

/** The JVM command line: Debian's jar lists its dependencies in its manifest. */
export function zookeeperJvmArgs(jar: string, p: ZooKeeperPaths): string[] {
  return [
    '-Xmx256m',
    '-XX:+UseG1GC',
    '-Djava.awt.headless=true',
    `-Dzookeeper.log.dir=${p.dir}`,
    '-cp',
    jar,
    'org.apache.zookeeper.server.ZooKeeperServerMain',
    p.config,
  ];
}
