import { randomBytes } from 'node:crypto';
import type { Engine } from '../clickhouse/engine.ts';
import { removeServerFile, writeServerFile } from '../clickhouse/folder-server.ts';
import type { Config, KafkaConfig } from '../config/config.ts';
import { type DeployResult, viewsHealedBy } from '../deploy/apply.ts';
import { applyDeploy, planDeploy } from '../deploy/deploy.ts';
import type { StepKind } from '../deploy/plan-types.ts';
import { type Problem, TallyError } from '../errors.ts';
import { ingestTuning } from '../ingest/ingest-tuning.ts';
import { type Ingestion, startIngestion } from '../ingest/ingestion.ts';
import { loadProject } from '../project/load-project.ts';
import type { Project } from '../project/model.ts';
import type { TokenAuth } from '../server/auth.ts';
import { createApp } from '../server/create-app.ts';
import { registerEngineRoute } from '../server/engine-route.ts';
import { registerEventsRoute } from '../server/events-route.ts';
import { FreshnessTracker } from '../server/freshness.ts';
import { MetricsRegistry, registerIngestMetrics } from '../server/metrics.ts';
import { type ServingState, StateHolder } from '../server/serving-state.ts';
import { type RunningServer, startServer } from '../server/start-server.ts';
import { CopyScheduler } from '../snapshot/copy-scheduler.ts';
import { checkPipeNodes } from '../sql/check-nodes.ts';
import { settledWithin } from '../util/settled-within.ts';

/**
 * How long freshness waits for new ingesters' first lag answer (the lag monitor gives the broker
 * 5 s); then it measures with what it has.
 */
const LAG_WAIT_MS = 5_000;

export interface RuntimeOptions {
  engine: Engine;
  project: Project;
  /** Port override (tests use 0). */
  port?: number;
  host?: string;
  log?: (entry: Record<string, unknown>) => void;
  /** Kafka to consume the data sources' topics from; undefined: HTTP events API only. */
  kafka?: KafkaConfig;
  /** `report`: max_staleness only reported, never a 503 (dev, where fixtures age). */
  staleness?: 'enforce' | 'report';
  /** Where the copy-pipe scheduler logs its runs; default `log`. */
  snapshotLog?: (entry: Record<string, unknown>) => void;
  /** Called before ingestion starts on a project (at start and after a reload): dev creates missing topics (it passes this only with Kafka). */
  prepareTopics?: (project: Project) => Promise<void>;
  /** On the embedded engine, serve read-only SQL to `tally sql` / `tally quarantine` (server/engine-route.ts): dev only. */
  engineRoute?: boolean;
}

export interface ReloadOutcome {
  /** The new project is serving. */
  applied: boolean;
  /**
   * tally.yaml sections that changed but are read only at start (`server`, `clickhouse`, `kafka`,
   * `ingest`): still as before until a restart. Tokens are not among them: they apply at once.
   */
  restartNeeded: string[];
  problems: Problem[];
  deploy?: DeployResult;
  ms: number;
  version: string;
}

/**
 * The running product: the HTTP server answering from a swappable serving state. `reload`
 * loads the project again, deploys the difference, and swaps the state only when all of it
 * worked, so a broken file never replaces the last good version.
 */
const ENDPOINT_HOLD_MAX_MS = 10_000;

export class Runtime {
  private readonly holder: StateHolder;
  private server?: RunningServer;
  private ingestion?: Ingestion;
  private scheduler?: CopyScheduler;
  /** The ingestion being started or rebuilt, while `ingestion` is undefined: what the events API waits for. */
  private coming?: Promise<Ingestion | undefined>;
  /** Set while ingesters just started have no lag figures yet (see startIngestion). */
  private lagPending?: Promise<unknown>;
  private readonly metrics = new MetricsRegistry();
  private generation = 1;
  /** The server's token check, given new tokens on a reload. */
  private auth?: TokenAuth;

  constructor(private readonly opts: RuntimeOptions) {
    this.holder = new StateHolder({ project: opts.project, engine: opts.engine, version: versionOf(1) });
  }

  get state(): ServingState {
    return this.holder.get();
  }

  get url(): string | undefined {
    return this.server?.url;
  }

  /**
   * Endpoint requests wait until `ready` settles (10 s at most): `tally dev` loads fixtures once
   * the server listens, and an answer before that would be empty. Call before `start`.
   */
  holdEndpointsUntil(ready: Promise<unknown>): void {
    this.holder.holdUntil(ready, ENDPOINT_HOLD_MAX_MS);
  }

  /** The running ingestion (events API, Kafka consumers); undefined before start. */
  get ingest(): Ingestion | undefined {
    return this.ingestion;
  }

  async start(): Promise<RunningServer> {
    const { project } = this.opts;
    // dev's read-only SQL for other commands, behind a secret only the folder's owner can read.
    const devSecret =
      this.opts.engineRoute && this.embeddedDataPath() ? randomBytes(24).toString('base64url') : undefined;
    registerIngestMetrics(this.metrics, () => this.ingestion?.stats() ?? { datasources: [] });
    const app = createApp({
      state: this.holder,
      tokens: project.config.tokens,
      metrics: this.metrics,
      ingestion: () => this.ingestion,
      // An idle topic writes no batches: the group's lag, asked of the broker, says it is current;
      // a data source written directly is current while its writes succeed.
      freshness: new FreshnessTracker({
        caughtUp: (ds) => this.ingestion?.currentAt(ds),
        ready: () => this.lagPending,
        ...(this.opts.log
          ? {
              onError: (err) =>
                this.opts.log!({ level: 'warn', msg: 'freshness lookup failed', error: String(err) }),
            }
          : {}),
      }),
      ...(this.opts.staleness ? { staleness: this.opts.staleness } : {}),
      ...(this.opts.log ? { log: this.opts.log } : {}),
      routes: (a, { auth }) => {
        this.auth = auth;
        if (devSecret) registerEngineRoute(a, this.holder, devSecret);
        registerEventsRoute(a, {
          // While a reload rebuilds it, a request waits for the new one rather than a 503.
          ingestion: () => this.ingestion ?? this.coming,
          check: (t, access) => auth.check(t, access),
          ...(project.config.ingest.maxRequestBytes !== undefined
            ? { maxBodyBytes: project.config.ingest.maxRequestBytes }
            : {}),
        });
      },
    });
    this.server = await startServer(
      app,
      this.opts.host ?? project.config.server.host,
      this.opts.port ?? project.config.server.port,
    );
    // Other commands on this chDB folder (tally append) reach it through this server.
    const dataPath = this.embeddedDataPath();
    if (dataPath) writeServerFile(dataPath, this.server.url, devSecret);
    // Serve first: after a crash the Kafka group may take a session timeout (10 s by default) to hand the
    // partitions over, and endpoints need not wait for that. The events API answers 503 meanwhile.
    this.ingestion = await this.track(this.startIngestion(project));
    this.scheduler = new CopyScheduler({
      engine: this.opts.engine,
      log: this.opts.snapshotLog ?? this.opts.log ?? (() => {}),
    });
    this.scheduler.schedule(project);
    return this.server;
  }

  /** The copy-pipe scheduler; undefined before start. */
  get snapshots(): CopyScheduler | undefined {
    return this.scheduler;
  }

  /** Re-reads the project folder; on success deploys the difference and swaps what is served. */
  async reload(env: NodeJS.ProcessEnv, opts: { allowDestructive?: boolean } = {}): Promise<ReloadOutcome> {
    const t0 = performance.now();
    const current = this.holder.get();
    const { project, problems } = loadProject(current.project.root, { env });
    const done = (applied: boolean, deploy?: DeployResult): ReloadOutcome => ({
      applied,
      // Against the start's config: until a restart, every reload says so again.
      restartNeeded: applied && project ? startOnlyChanges(this.opts.project.config, project.config) : [],
      problems,
      ...(deploy ? { deploy } : {}),
      ms: performance.now() - t0,
      version: this.holder.get().version,
    });
    if (!project) return done(false);
    // ClickHouse checks the pipes that changed (all of them when a data source did) against the
    // tables: one it refuses would answer every request with an error. With the same data
    // sources they are checked before anything is deployed, so a refused pipe is neither
    // deployed nor recorded (the next reload compares with the version served). That holds when
    // the served versions of the same pipes pass, which says the tables are the ones deployed;
    // otherwise (tables not deployed yet) the check comes after the deploy, as with new sources.
    const sourcesChanged = datasourcesChanged(current.project, project);
    const toCheck = sourcesChanged ? [...project.pipes.keys()] : changedPipes(current.project, project);
    const check = (p: Project) => checkPipeNodes(p, current.engine, current.engine.database, toCheck);
    let checked = false;
    if (!sourcesChanged) {
      const refused = await check(project);
      checked = refused.length === 0;
      if (
        !checked &&
        toCheck.every((n) => current.project.pipes.has(n)) &&
        (await check(current.project)).length === 0
      ) {
        problems.push(...refused);
        return done(false);
      }
    }
    // On a cluster a view is created, recomputed or rebuilt only while its sources are not
    // written (deploy/cluster-quiet.ts): this process's own ingestion pauses for such a deploy.
    const paused = await this.pauseIngestionFor(project);
    let deploy: DeployResult | undefined;
    try {
      deploy = await applyDeploy(project, current.engine, {
        allowDestructive: opts.allowDestructive ?? false,
      });
    } finally {
      // Resumed on the project now deployed (the new one, or the old one when it failed).
      if (paused)
        this.ingestion = await this.track(this.startIngestion(deploy?.ok ? project : current.project));
    }
    if (!deploy.ok) return done(false, deploy);
    if (!checked) {
      // Against the tables just deployed.
      const refused = await check(project);
      if (refused.length > 0) {
        problems.push(...refused);
        return done(false, deploy);
      }
    }
    if (!paused && this.ingestion && sourcesChanged) {
      // New columns or sources: the parsers and consumers are rebuilt from the new model.
      const old = this.ingestion;
      this.ingestion = undefined;
      this.ingestion = await this.track(old.stop().then(() => this.startIngestion(project)));
    }
    // A target the deploy recomputed from its sources holds the rows its view once failed on.
    this.ingestion?.forgetViewFailures(deploy.plan.steps.flatMap(viewsHealedBy));
    for (const warning of deploy.warnings ?? []) this.opts.log?.({ level: 'warn', msg: warning });
    this.generation++;
    this.holder.swap({ project, engine: current.engine, version: versionOf(this.generation) });
    // Tokens added, changed or removed in tally.yaml guard the very next request.
    this.auth?.replace(project.config.tokens);
    // New schedules take effect now; a run in flight finishes on the project it started with.
    this.scheduler?.schedule(project);
    return done(true, deploy);
  }

  /** Stops this process's ingestion when `project`'s deploy needs its sources quiet (clusters); true if it did. */
  private async pauseIngestionFor(project: Project): Promise<boolean> {
    if (!this.ingestion || !project.config.clickhouse.cluster) return false;
    const plan = await planDeploy(project, this.holder.get().engine);
    if (!plan.steps.some((s) => QUIET_STEPS.includes(s.kind))) return false;
    const old = this.ingestion;
    this.ingestion = undefined;
    await old.stop();
    this.opts.log?.({
      level: 'info',
      msg: 'ingestion paused for the deploy',
      cluster: project.config.clickhouse.cluster,
    });
    return true;
  }

  /** Stops the snapshot timers and taking events (finishing what is in flight), then serving. */
  async stop(): Promise<void> {
    await this.scheduler?.stop();
    // One being started or rebuilt (a reload's) is stopped once it is up: nothing keeps consuming.
    const coming = this.coming;
    const current = this.ingestion;
    await current?.stop();
    const next = await coming;
    if (next && next !== current) await next.stop();
    await this.server?.close();
    const dataPath = this.embeddedDataPath();
    if (dataPath && this.server) removeServerFile(dataPath);
  }

  private embeddedDataPath(): string | undefined {
    const engine = this.opts.engine;
    return engine.backend === 'embedded' ? engine.dataPath : undefined;
  }

  /** `next` as the ingestion to come until it settles (see `coming`). */
  private track(next: Promise<Ingestion>): Promise<Ingestion> {
    const coming = next.catch(() => undefined);
    this.coming = coming;
    void coming.then(() => {
      if (this.coming === coming) this.coming = undefined;
    });
    return next;
  }

  private startIngestion(project: Project): Promise<Ingestion> {
    const started = (async () => {
      await this.opts.prepareTopics?.(project);
      return startIngestion(project, this.opts.engine, this.opts.kafka, {
        consume: this.opts.kafka !== undefined,
        // tally.yaml's `ingest` as at start (see ReloadOutcome.restartNeeded), whatever reload rebuilds it.
        ...ingestTuning(this.opts.project.config.ingest),
        ...(this.opts.log ? { log: this.opts.log } : {}),
      });
    })();
    if (this.opts.kafka) {
      // Requests meanwhile (the server is already up) wait for the broker's first lag answer:
      // judged by its last batch alone, an idle topic would be refused as stale.
      const pending: Promise<unknown> = settledWithin(
        started.then((i) => i.lagKnown()),
        LAG_WAIT_MS,
      ).then(() => {
        if (this.lagPending === pending) this.lagPending = undefined;
      });
      this.lagPending = pending;
    }
    return started;
  }
}

/** Steps that need the sources of what they build unwritten on a cluster. */
const QUIET_STEPS: readonly StepKind[] = ['create-view', 'replace-view', 'rebuild-table'];

function datasourcesChanged(a: Project, b: Project): boolean {
  return JSON.stringify([...a.datasources.values()]) !== JSON.stringify([...b.datasources.values()]);
}

/** Pipes of `b` that are new or differ from `a`'s. */
function changedPipes(a: Project, b: Project): string[] {
  return [...b.pipes.values()]
    .filter((p) => JSON.stringify(p) !== JSON.stringify(a.pipes.get(p.name)))
    .map((p) => p.name);
}

function versionOf(n: number): string {
  return `v${n}-${Date.now().toString(36)}`;
}

/** Deploys a project before serving it; a refusal or failure stops start-up with its reason. */
export async function deployForStart(
  project: Project,
  engine: Engine,
  opts: { allowDestructive?: boolean } = {},
): Promise<DeployResult> {
  const result = await applyDeploy(project, engine, { allowDestructive: opts.allowDestructive ?? false });
  if (!result.ok) {
    throw new TallyError(
      result.refused ? 'deploy-refused' : 'deploy-failed',
      result.error ?? 'deploy failed',
      {
        exitCode: result.exitCode === 1 ? 1 : 2,
        hint: result.refused
          ? 'run `tally deploy --check` to see the plan, and `tally deploy --allow-destructive` (or `tally dev --allow-destructive`) to accept it'
          : undefined,
      },
    );
  }
  return result;
}

/** The tally.yaml sections read only at start that differ between two loads (see ReloadOutcome). */
function startOnlyChanges(before: Config, after: Config): string[] {
  const sections = ['server', 'clickhouse', 'kafka', 'ingest'] as const;
  return sections.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
}
