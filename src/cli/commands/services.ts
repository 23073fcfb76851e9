import { loadConfig } from '../../config/load-config.ts';
import { TallyError } from '../../errors.ts';
import {
  CLUSTER_NAME,
  clusterNodes,
  LOCAL_CLUSTER,
  nodeUrl,
  SHARDED_CLUSTER_NAME,
} from '../../services/cluster/topology.ts';
import { securedServices } from '../../services/secured-services.ts';
import type { DownResult, ServiceName, ServiceStatus, UpResult } from '../../services/service.ts';
import { SERVICE_NAMES, servicesDown, servicesStatus, servicesUp } from '../../services/services.ts';
import type { Command } from '../command.ts';
import { refuseNonProject } from '../open-project.ts';
import { table } from '../output.ts';

export interface ServicesCommandContext {
  projectDir: string;
  clickhouseUrl?: string;
  kafkaBrokers?: string[];
  /** Services the project reaches over TLS or SASL (secured-services.ts): left alone by up and status. */
  secured?: ReadonlyMap<ServiceName, string>;
  json: boolean;
  stdout: (s: string) => void;
  /** Progress lines (installs, downloads); default process.stderr. */
  stderr?: (s: string) => void;
}

const ACTIONS = ['up', 'down', 'status'] as const;
type Action = (typeof ACTIONS)[number];

/**
 * `tally services up|down|status [clickhouse|kafka] [--native] [--json]`: starts, stops or reports
 * the local ClickHouse server and Kafka broker. Returns the exit code.
 */
export async function servicesCommand(argv: string[], ctx: ServicesCommandContext): Promise<number> {
  const { action, only, native, json, cluster } = parseServicesArgs(argv, ctx.json);
  const progress = ctx.stderr ?? ((s: string) => process.stderr.write(`${s}\n`));
  const scope = action === 'down' ? only : plainScope(only, ctx.secured, json ? () => {} : progress);
  const opts = {
    projectDir: ctx.projectDir,
    clickhouseUrl: ctx.clickhouseUrl,
    kafkaBrokers: ctx.kafkaBrokers,
    only: scope,
    docker: native ? false : undefined,
    log: json ? () => {} : progress,
    cluster,
  };
  if (action === 'up') {
    const results = await servicesUp(opts);
    ctx.stdout(json ? JSON.stringify(results, null, 2) : formatUp(results));
  } else if (action === 'down') {
    const results = await servicesDown(opts);
    ctx.stdout(json ? JSON.stringify(results, null, 2) : formatDown(results));
  } else {
    const results = await servicesStatus(opts);
    ctx.stdout(json ? JSON.stringify(results, null, 2) : formatStatus(results));
  }
  return 0;
}

/** The command as the dispatcher lists it; addresses come from tally.yaml and the environment. */
export const servicesCliCommand: Command = {
  name: 'services',
  summary: 'start, stop or show the local ClickHouse server and Kafka broker',
  usage: 'tally services up|down|status [clickhouse|kafka] [--cluster] [--native] [--json] [--project DIR]',
  options: { native: { type: 'boolean' }, cluster: { type: 'boolean' } },
  help: [
    'up      reuse a server already answering at the configured address, else start one with Docker',
    '        (docker-compose.yml) when an engine answers, else natively: Debian clickhouse-server and',
    '        Kafka from Maven Central jars, data and logs under .tally/. Waits until both answer.',
    'down    stop what `up` started; servers Tally did not start are left alone.',
    'status  state, owner (tally, docker, external), version and address of each service.',
    '--native  never use Docker.',
    '--cluster  local ClickHouse clusters instead of the single server: ZooKeeper (127.0.0.1:2182),',
    '           `tally_cluster` (one shard, two replicas: http://127.0.0.1:8124 and :8125) and',
    '           `tally_shards` (two shards of one replica: :8126 and :8127), natively under',
    '           .tally/cluster/ (docs/scaling.md). `status` shows them when they run.',
  ].join('\n'),
  async run(ctx) {
    // Data, logs and pid files go under the project's .tally/: not into a mistyped folder.
    refuseNonProject(ctx.projectDir);
    const config = loadConfig(ctx.projectDir, { env: ctx.env });
    const argv = [
      ...ctx.args,
      ...(ctx.flags.native ? ['--native'] : []),
      ...(ctx.flags.cluster ? ['--cluster'] : []),
    ];
    return servicesCommand(argv, {
      projectDir: ctx.projectDir,
      clickhouseUrl: config.clickhouse.url,
      kafkaBrokers: config.kafka.brokers,
      secured: securedServices(config.clickhouse, config.kafka),
      json: ctx.json,
      stdout: ctx.io.out,
      stderr: ctx.io.err,
    });
  },
};

/**
 * The services up/status act on: a secured one named on the command line is refused, and left out
 * (with a line saying so) when none is named.
 */
function plainScope(
  only: ServiceName[] | undefined,
  secured: ReadonlyMap<ServiceName, string> | undefined,
  progress: (line: string) => void,
): ServiceName[] | undefined {
  if (!secured || secured.size === 0) return only;
  for (const name of only ?? []) {
    const why = secured.get(name);
    if (why) {
      throw new TallyError(
        'service-secured',
        `${name}: ${why}; \`tally services\` starts and checks plain servers on this machine only`,
        {
          exitCode: 2,
          hint: 'that server is yours to run; `tally dev` and `tally serve` connect to it as configured',
        },
      );
    }
  }
  if (only) return only;
  for (const [name, why] of secured)
    progress(`${name}: left alone (${why}): \`tally services\` manages plain local servers only`);
  return SERVICE_NAMES.filter((n) => !secured.has(n));
}

function parseServicesArgs(
  argv: string[],
  json: boolean,
): { action: Action; only?: ServiceName[]; native: boolean; json: boolean; cluster: boolean } {
  const flags = argv.filter((a) => a.startsWith('-'));
  const words = argv.filter((a) => !a.startsWith('-'));
  for (const f of flags) {
    if (f !== '--json' && f !== '--native' && f !== '--cluster') {
      throw new TallyError(
        'bad-flag',
        `unknown flag \`${f}\` for tally services; allowed: --cluster, --json, --native`,
      );
    }
  }
  const [action, ...names] = words;
  if (!action || !(ACTIONS as readonly string[]).includes(action)) {
    throw new TallyError(
      'bad-args',
      `tally services needs one of ${ACTIONS.join(', ')}${action ? ` (got \`${action}\`)` : ''}`,
    );
  }
  for (const n of names) {
    if (!(SERVICE_NAMES as readonly string[]).includes(n)) {
      throw new TallyError('bad-args', `unknown service \`${n}\`; allowed: ${SERVICE_NAMES.join(', ')}`);
    }
  }
  return {
    action: action as Action,
    ...(names.length > 0 ? { only: names as ServiceName[] } : {}),
    native: flags.includes('--native'),
    json: json || flags.includes('--json'),
    cluster: flags.includes('--cluster'),
  };
}

const HEADER = ['service', 'state', 'owner', 'version', 'address'];

function formatUp(results: UpResult[]): string {
  const rows = results.map((r) => [
    ...cells(r),
    `${r.action.replace('-', ' ')} in ${(r.elapsedMs / 1000).toFixed(1)} s`,
  ]);
  const out = table(rows, [...HEADER, 'notes']);
  const nodes = results.filter((r) => r.name.startsWith('clickhouse-'));
  if (nodes.length === 0) return out;
  // What a project needs to use each cluster, one URL per instance.
  const use = (cluster: string) => {
    const urls = clusterNodes(LOCAL_CLUSTER, cluster)
      .map(nodeUrl)
      .filter((u) => nodes.some((n) => n.address === u));
    return urls.length === 0
      ? ''
      : `\n  clickhouse: { url: ${urls[0]}, cluster: ${cluster} }   (another instance: ${urls.slice(1).join(', ')})`;
  };
  return `${out}\n\nuse one in tally.yaml:${use(CLUSTER_NAME)}${use(SHARDED_CLUSTER_NAME)}\nsee docs/scaling.md`;
}

function formatDown(results: DownResult[]): string {
  const said: Record<DownResult['action'], string> = {
    stopped: 'stopped',
    'not-running': 'was not running',
    'not-owned': 'left running: not started by tally',
  };
  return table(
    results.map((r) => [r.name, said[r.action], r.owner ?? '-', r.address]),
    ['service', 'result', 'owner', 'address'],
  );
}

function formatStatus(results: ServiceStatus[]): string {
  return table(
    results.map((r) => [...cells(r), r.note ?? (r.pid ? `pid ${r.pid}` : '')]),
    [...HEADER, 'notes'],
  );
}

function cells(r: ServiceStatus): string[] {
  return [r.name, r.state, r.owner ?? '-', r.version ?? '-', r.address];
}
