import type { Config } from '../../config/config.ts';
import { validPort } from '../../config/load-config.ts';
import { checkEndpointSettings } from '../../deploy/endpoint-settings.ts';
import { watchProject } from '../../dev/watch-files.ts';
import { formatProblem, TallyError } from '../../errors.ts';
import type { DataSource, Project } from '../../project/model.ts';
import { checkServedPipes } from '../../runtime/check-served-pipes.ts';
import { createMissingTopics, DEV_TOPIC_PARTITIONS } from '../../runtime/dev-topics.ts';
import { kafkaReachable } from '../../runtime/kafka-reachable.ts';
import { fixtureTargets, loadFixtures } from '../../runtime/load-fixtures.ts';
import type { ReloadOutcome } from '../../runtime/runtime.ts';
import { deployForStart, Runtime } from '../../runtime/runtime.ts';
import { lineBuffer } from '../../server/line-buffer.ts';
import { jsonLines } from '../../server/logger.ts';
import { assertCanListen } from '../../server/start-server.ts';
import { LOCAL_CLUSTER, nodeUrl } from '../../services/cluster/topology.ts';
import { parseHostPort } from '../../services/port-probe.ts';
import { securedServices } from '../../services/secured-services.ts';
import { servicesUp } from '../../services/services.ts';
import { isLoopbackHost } from '../../util/loopback-host.ts';
import { plural } from '../../util/plural.ts';
import type { Command, CommandContext } from '../command.ts';
import { errorsOnly } from '../errors-only-log.ts';
import { openEngine } from '../open.ts';
import { openProject } from '../open-project.ts';
import { paint, printProblems } from '../output.ts';
import { runtimeChangeLine } from './deploy.ts';

export const devCommand: Command = {
  name: 'dev',
  noArgs: true,
  summary: 'deploy, serve the endpoints and hot-reload on every save',
  usage: 'tally dev [--project DIR] [--port N] [--allow-destructive] [--no-kafka]',
  options: {
    port: { type: 'string' },
    'allow-destructive': { type: 'boolean' },
    'no-kafka': { type: 'boolean' },
  },
  help: [
    'Runs on the embedded ClickHouse by default (no services needed), or on clickhouse.url when set',
    '(started with `tally services up` when it is the local default). Deploys, loads fixtures/ into',
    'new data sources, serves http://127.0.0.1:7070, and on every save reloads, validates and applies',
    'only what changed. A broken file keeps the last good version serving and prints every problem.',
    'Removing a data source or a column that holds rows is refused (the last good version keeps',
    'serving) unless dev runs with --allow-destructive; an empty one is dropped without it.',
    '  --port N             serve on port N instead of server.port / TALLY_PORT (7070); 0 picks a free port',
    '  --allow-destructive  let the start and every reload drop data sources and columns that hold rows',
    '  --no-kafka           consume no Kafka topic, even when a broker answers at kafka.brokers (the',
    '                       events API and fixtures are the way in); no services are started for it',
  ].join('\n'),
  async run(ctx) {
    return runServer(ctx, {
      watch: true,
      deploy: true,
      allowDestructive: Boolean(ctx.flags['allow-destructive']),
      noKafka: Boolean(ctx.flags['no-kafka']),
    });
  },
};

export const serveCommand: Command = {
  name: 'serve',
  noArgs: true,
  summary: 'serve the endpoints in production mode (no watch; --deploy to deploy first)',
  usage: 'tally serve [--project DIR] [--port N] [--deploy] [--no-kafka]',
  options: { port: { type: 'string' }, deploy: { type: 'boolean' }, 'no-kafka': { type: 'boolean' } },
  help: [
    'Configured by tally.yaml and TALLY_* variables. Logs one JSON object per line.',
    '  --deploy    deploy the project before serving (refused destructive steps stop start-up)',
    '  --port N    serve on port N instead of server.port / TALLY_PORT (7070)',
    '  --no-kafka  consume no Kafka topic and send no event to one: events to the events API are',
    '              stored directly (a read replica, or a project whose broker is not this one)',
  ].join('\n'),
  async run(ctx) {
    return runServer(ctx, {
      watch: false,
      deploy: Boolean(ctx.flags.deploy),
      noKafka: Boolean(ctx.flags['no-kafka']),
    });
  },
};

async function runServer(
  ctx: CommandContext,
  mode: { watch: boolean; deploy: boolean; allowDestructive?: boolean; noKafka?: boolean },
): Promise<number> {
  const { io } = ctx;
  // Flags first: a wrong one must not start services or open anything.
  const port = ctx.flags.port !== undefined ? Number(ctx.flags.port) : undefined;
  if (port !== undefined && !validPort(port)) {
    throw new TallyError('bad-flag', `--port must be a port number, got \`${String(ctx.flags.port)}\``);
  }
  const project = openProject(ctx);
  const config = project.config;
  // A taken port fails now, before services start, a deploy runs or fixtures load.
  await assertCanListen(config.server.host, port ?? config.server.port);
  // On a server back end, dev makes sure the services answer, as `tally services up` does:
  // ClickHouse, and Kafka when a data source reads a topic. Only plain ones on this machine
  // (what `up` can start); TLS or SASL ones, or remote ones, dev just connects to.
  const startable = startableServices(project).filter((s) => !(mode.noKafka && s === 'kafka'));
  if (mode.watch && config.clickhouse.url && startable.length > 0) {
    await servicesUp({
      projectDir: ctx.projectDir,
      clickhouseUrl: config.clickhouse.url,
      kafkaBrokers: config.kafka.brokers,
      only: startable,
      // A project on the local cluster (docs/scaling.md) gets it instead of the single server.
      cluster: LOCAL_CLUSTER.nodes.some((n) => nodeUrl(n) === config.clickhouse.url?.replace(/\/+$/, '')),
      log: (s) => io.err(s),
    });
  }
  const json = !mode.watch;
  // serve logs every request: lines written together, one write per turn of the event loop.
  const lines = json ? lineBuffer(io.out) : undefined;
  const log = lines ? jsonLines(lines.write) : undefined;
  /** When the stop began (a signal came), and whether it went through. */
  let stopT0: number | undefined;
  let stopped = false;
  const engine = await openEngine(project.config, {
    onFailover: (move) => {
      const msg = 'ClickHouse did not answer: statements go to the next replica';
      if (log) log({ level: 'warn', msg, ...move });
      else io.err(`${msg}: ${move.from} -> ${move.to} (${move.error})`);
    },
  });
  try {
    let created: string[] = [];
    if (mode.deploy) {
      const t0 = performance.now();
      const result = await deployForStart(project, engine, {
        allowDestructive: mode.allowDestructive ?? false,
      });
      created = result.resources
        .filter((r) => r.kind === 'datasource' && r.result === 'created')
        .map((r) => r.name);
      if (!json) {
        io.out(
          `deployed to ${engine.description}: ${result.changes} change(s) in ${(performance.now() - t0).toFixed(0)} ms`,
        );
      }
    } else {
      // Deploy checks these; without it an unknown one would fail every request to its endpoint.
      await checkEndpointSettings(project, engine);
    }
    await checkServedSql(project, engine, { watch: mode.watch, io, log });
    const usesKafka = [...project.datasources.values()].some((d) => d.kafka);
    let kafka = usesKafka ? project.config.kafka : undefined;
    if (kafka && mode.noKafka) {
      const msg = `Kafka is not consumed (--no-kafka): the events API${mode.watch ? ' and fixtures are the way in' : ' is the way in, events stored directly'}; topics are neither read nor created`;
      if (log) log({ level: 'warn', msg });
      else io.out(paint(io, 'yellow', msg));
      kafka = undefined;
    } else if (kafka && mode.watch && !(await kafkaReachable(kafka.brokers))) {
      io.out(
        paint(
          io,
          'yellow',
          `Kafka is not reachable at ${kafka.brokers.join(', ')}: topics are not consumed; the events API and fixtures work (start Kafka with \`tally services up\`)`,
        ),
      );
      kafka = undefined;
    }
    // dev creates the Kafka topics its data sources read when the broker lacks them, at start
    // and when a reload adds a data source (`tally serve` never creates topics).
    const prepareTopics = async (p: typeof project) => {
      if (!kafka) return;
      const topics = [...p.datasources.values()].flatMap((d) => (d.kafka ? [d.kafka.topic] : []));
      try {
        const made = await createMissingTopics(kafka, topics);
        if (made.length > 0) {
          io.out(
            `created Kafka topic(s) ${made.join(', ')} (${DEV_TOPIC_PARTITIONS} partitions each) on ${kafka.brokers.join(', ')}: the broker had none of that name`,
          );
        }
      } catch (err) {
        io.out(
          paint(
            io,
            'yellow',
            `could not create the Kafka topics this project reads (${(err as Error).message}): data sources whose topic is missing are not consumed until it exists`,
          ),
        );
      }
    };
    const runtime = new Runtime({
      engine,
      project,
      ...(kafka ? { kafka } : {}),
      ...(kafka && mode.watch ? { prepareTopics } : {}),
      ...(mode.watch ? { staleness: 'report' as const, engineRoute: true } : {}),
      ...(port !== undefined ? { port } : {}),
      // dev has no request log, but a 500's cause (the stack) must reach the terminal.
      log: log ?? errorsOnly(io),
      ...(json ? {} : { snapshotLog: (e: Record<string, unknown>) => printSnapshot(ctx, e) }),
    });
    // Endpoints answer once the fixtures below are in, so a first request never sees them empty.
    let fixturesLoaded = () => {};
    if (mode.watch) runtime.holdEndpointsUntil(new Promise<void>((resolve) => (fixturesLoaded = resolve)));
    const server = await runtime.start();
    try {
      // dev only (`tally serve --deploy` never writes sample events into a real database): a fresh
      // dev database gets the sample events, so the endpoints answer with data at once.
      const fixtures = mode.watch && runtime.ingest ? await fixtureTargets(project, engine, created) : [];
      if (fixtures.length > 0 && runtime.ingest) {
        for (const f of await loadFixtures(project, runtime.ingest, fixtures)) {
          if (f.refused) io.out(paint(io, 'yellow', `not loaded: ${f.file}: ${f.refused}`));
          else {
            io.out(
              `loaded ${f.file}: ${plural(f.successful_rows, 'row')}, ${f.quarantined_rows} quarantined, ${plural(f.duplicate_rows, 'duplicate')} dropped`,
            );
          }
        }
      }
    } finally {
      fixturesLoaded();
    }
    if (json)
      log?.({
        level: 'info',
        msg: 'serving',
        url: server.url,
        engine: engine.description,
        endpoints: project.endpoints.size,
        ...(kafka ? { kafka: kafka.brokers } : {}),
      });
    lines?.flush();
    if (!json) {
      io.out(paint(io, 'green', `tally dev: serving ${project.endpoints.size} endpoint(s) on ${server.url}`));
      for (const e of project.endpoints.values()) io.out(`  ${server.url}/v0/pipes/${e.name}.json`);
    }
    // Said when it happens, as the unreachable case is: which topics feed which data sources; at
    // start, and when a reload adds or removes a Kafka data source (its consumer starts or stops).
    let feeds = kafkaFeeds(project);
    if (kafka && !json && feeds.length > 0)
      io.out(`consuming Kafka at ${kafka.brokers.join(', ')}: ${feeds.join(', ')}`);
    const sayFeeds = () => {
      const now = kafkaFeeds(runtime.state.project);
      const added = now.filter((f) => !feeds.includes(f));
      const gone = feeds.filter((f) => !now.includes(f));
      feeds = now;
      if (!kafka || json) return;
      if (added.length > 0) io.out(`  consuming Kafka at ${kafka.brokers.join(', ')}: ${added.join(', ')}`);
      if (gone.length > 0) io.out(`  no longer consuming: ${gone.join(', ')}`);
    };

    const watcher = mode.watch
      ? await watchProject(project.root, {
          onChange: async (changed) => {
            const outcome = await runtime.reload(ctx.env, {
              allowDestructive: mode.allowDestructive ?? false,
            });
            printReload(ctx, changed, outcome);
            if (outcome.applied) sayFeeds();
          },
          onError: (err) =>
            io.err(paint(io, 'red', `reload failed: ${String((err as Error)?.message ?? err)}`)),
        })
      : undefined;
    if (watcher) {
      await watcher.ready;
      io.out(paint(io, 'dim', `watching ${project.root} for changes (Ctrl-C to stop)`));
    }
    await new Promise<void>((resolve) => {
      if (ctx.stopSignal.aborted) resolve();
      ctx.stopSignal.addEventListener('abort', () => resolve(), { once: true });
    });
    stopT0 = performance.now();
    const reason = ctx.stopSignal.reason;
    if (json) {
      log?.({
        level: 'info',
        msg: 'stopping: finishing requests in flight and the batch in flight',
        ...(typeof reason === 'string' ? { signal: reason } : {}),
      });
      lines?.flush();
    } else io.out('stopping: finishing requests in flight');
    await watcher?.close();
    await runtime.stop();
    stopped = true;
    return 0;
  } finally {
    await engine.close();
    // Said once everything is closed, so a supervisor's log shows the stop was clean and when.
    if (stopped && stopT0 !== undefined) {
      const ms = Math.round(performance.now() - stopT0);
      if (json) log?.({ level: 'info', msg: 'stopped', ms });
      else io.out('stopped');
    }
    lines?.close();
  }
}

/** `topic -> data source` for each Kafka data source of the project. */
function kafkaFeeds(project: Pick<Project, 'datasources'>): string[] {
  return [...project.datasources.values()].flatMap((d) => (d.kafka ? [`${d.kafka.topic} -> ${d.name}`] : []));
}

/** A copy-pipe run, in dev's words. */
function printSnapshot(ctx: CommandContext, e: Record<string, unknown>): void {
  const { io } = ctx;
  if (e.level === 'error') {
    const where = e.location ? `${String(e.location)}: ` : '';
    io.err(
      paint(
        io,
        'red',
        `✗ snapshot ${String(e.pipe)} at ${String(e.snapshot_at)}: ${where}${String(e.error)}`,
      ),
    );
    if (e.hint) io.err(paint(io, 'red', `  hint: ${String(e.hint)}`));
    io.err(paint(io, 'yellow', '  retrying at the next tick'));
  } else if (e.level === 'warn') {
    io.err(
      paint(
        io,
        'yellow',
        `${String(e.msg)} (${String(e.pipe)}${e.snapshot_at ? ` at ${String(e.snapshot_at)}` : ''})`,
      ),
    );
  } else {
    const rows = e.rows === undefined ? '' : `${String(e.rows)} rows, `;
    io.out(
      paint(
        io,
        'dim',
        `snapshot ${String(e.pipe)} -> ${String(e.to)} at ${String(e.snapshot_at)}: ${rows}${String(e.ms)} ms`,
      ),
    );
  }
}

function printReload(ctx: CommandContext, changed: string[], r: ReloadOutcome): void {
  const { io } = ctx;
  const what = changed.length <= 3 ? changed.join(', ') : `${changed.length} files`;
  if (!r.applied) {
    printProblems(io, r.problems);
    const destructive = r.deploy?.refused && r.deploy.plan.steps.some((st) => st.destructive);
    if (r.deploy && !r.deploy.ok) io.err(paint(io, 'red', r.deploy.error ?? 'deploy failed'));
    if (destructive) {
      io.err(
        paint(
          io,
          'red',
          '  hint: put the file back, or stop dev and start it again with `tally dev --allow-destructive` to accept the loss',
        ),
      );
    }
    io.err(
      paint(
        io,
        'yellow',
        `✗ ${what}: not applied (${r.ms.toFixed(0)} ms); still serving the last good version`,
      ),
    );
    return;
  }
  printProblems(io, r.problems);
  const changes = r.deploy?.changes ?? 0;
  io.out(
    paint(
      io,
      'green',
      `✓ ${what}: reloaded in ${r.ms.toFixed(0)} ms (${plural(changes, 'ClickHouse change')})`,
    ),
  );
  // What each change did: a changed materialized pipe recomputes its target at once (the save
  // is the apply; `tally replay` previews only while dev is stopped), which should not pass unseen.
  const done = new Set(r.deploy?.steps.filter((s) => s.status === 'done').map((s) => s.n));
  for (const step of r.deploy?.plan.steps ?? []) if (done.has(step.n)) io.out(`  ${step.what}`);
  // Changes without DDL (an endpoint's SQL, a copy pipe's schedule): applied by the reload itself.
  for (const c of r.deploy?.plan.runtimeChanges ?? []) io.out(`  ${runtimeChangeLine(c)}`);
  if (r.restartNeeded.length > 0) {
    io.err(
      paint(
        io,
        'yellow',
        `warning: tally.yaml's ${r.restartNeeded.join(', ')} changed: read only at start, so still as before; stop tally dev and start it again to apply (tokens apply at once)`,
      ),
    );
  }
}

/** The services `tally services up` could start for this project: plain, on this machine. */
function startableServices(project: {
  config: Config;
  datasources: ReadonlyMap<string, DataSource>;
}): Array<'clickhouse' | 'kafka'> {
  const { clickhouse, kafka } = project.config;
  const secured = securedServices(clickhouse, kafka);
  const out: Array<'clickhouse' | 'kafka'> = [];
  // An http URL is never secured (clickhouse.tls with one is a config error).
  if (clickhouse.url?.startsWith('http:') && isLoopbackHost(new URL(clickhouse.url).hostname)) {
    out.push('clickhouse');
  }
  const readsKafka = [...project.datasources.values()].some((d) => d.kafka);
  if (
    readsKafka &&
    !secured.has('kafka') &&
    kafka.brokers.every((b) => isLoopbackHost(parseHostPort(b, 9092).host))
  ) {
    out.push('kafka');
  }
  return out;
}

/**
 * The endpoints' and copy pipes' SQL tried on the tables as deployed, before serving. `tally dev`
 * prints what ClickHouse refuses and serves on (a save reloads the fixed file); `tally serve`
 * logs each refusal and does not start: an instance that would answer errors must not replace
 * one that answers (a rolling restart stops at it).
 */
async function checkServedSql(
  project: Project,
  engine: Parameters<typeof checkServedPipes>[1],
  opts: { watch: boolean; io: CommandContext['io']; log: ((e: Record<string, unknown>) => void) | undefined },
): Promise<void> {
  const problems = await checkServedPipes(project, engine);
  if (problems.length === 0) return;
  const notDeployed = problems.find((p) => p.code === 'not-deployed');
  if (notDeployed) {
    throw new TallyError(
      'not-deployed',
      notDeployed.message,
      notDeployed.hint ? { hint: notDeployed.hint } : {},
    );
  }
  if (opts.watch) {
    printProblems(opts.io, problems);
    opts.io.out(
      paint(
        opts.io,
        'yellow',
        `ClickHouse refuses ${plural(problems.length, 'node')} of the pipes served: their endpoints answer errors until the files are fixed (a save reloads)`,
      ),
    );
    return;
  }
  for (const p of problems)
    opts.log?.({ level: 'error', msg: 'ClickHouse refuses a served pipe', problem: formatProblem(p) });
  throw new TallyError(
    'served-sql-refused',
    `ClickHouse refuses ${plural(problems.length, 'node')} of the pipes served (first: ${formatProblem(problems[0]!)})`,
    {
      exitCode: 1,
      hint: 'fix the pipes named (`tally check --sql` finds these before a deploy), or deploy the tables they read, then start again',
    },
  );
}
