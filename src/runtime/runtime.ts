import type { Engine } from '../clickhouse/engine.ts';
import type { DeployResult } from '../deploy/apply.ts';
import { applyDeploy } from '../deploy/deploy.ts';
import { type Problem, TallyError } from '../errors.ts';
import { loadProject } from '../project/load-project.ts';
import type { Project } from '../project/model.ts';
import { createApp } from '../server/create-app.ts';
import { type ServingState, StateHolder } from '../server/serving-state.ts';
import { type RunningServer, startServer } from '../server/start-server.ts';

export interface RuntimeOptions {
  engine: Engine;
  project: Project;
  /** Port override (tests use 0). */
  port?: number;
  host?: string;
  log?: (entry: Record<string, unknown>) => void;
}

export interface ReloadOutcome {
  /** The new project is serving. */
  applied: boolean;
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
export class Runtime {
  private readonly holder: StateHolder;
  private server?: RunningServer;
  private generation = 1;

  constructor(private readonly opts: RuntimeOptions) {
    this.holder = new StateHolder({ project: opts.project, engine: opts.engine, version: versionOf(1) });
  }

  get state(): ServingState {
    return this.holder.get();
  }

  get url(): string | undefined {
    return this.server?.url;
  }

  async start(): Promise<RunningServer> {
    const { project } = this.opts;
    const app = createApp({
      state: this.holder,
      tokens: project.config.tokens,
      ...(this.opts.log ? { log: this.opts.log } : {}),
    });
    this.server = await startServer(
      app,
      this.opts.host ?? project.config.server.host,
      this.opts.port ?? project.config.server.port,
    );
    return this.server;
  }

  /** Re-reads the project folder; on success deploys the difference and swaps what is served. */
  async reload(env: NodeJS.ProcessEnv, opts: { allowDestructive?: boolean } = {}): Promise<ReloadOutcome> {
    const t0 = performance.now();
    const current = this.holder.get();
    const { project, problems } = loadProject(current.project.root, { env });
    const done = (applied: boolean, deploy?: DeployResult): ReloadOutcome => ({
      applied,
      problems,
      ...(deploy ? { deploy } : {}),
      ms: performance.now() - t0,
      version: this.holder.get().version,
    });
    if (!project) return done(false);
    const deploy = await applyDeploy(project, current.engine, {
      allowDestructive: opts.allowDestructive ?? false,
    });
    if (!deploy.ok) return done(false, deploy);
    this.generation++;
    this.holder.swap({ project, engine: current.engine, version: versionOf(this.generation) });
    return done(true, deploy);
  }

  async stop(): Promise<void> {
    await this.server?.close();
  }
}

function versionOf(n: number): string {
  return `v${n}-${Date.now().toString(36)}`;
}

/** Deploys a project before serving it; a refusal or failure stops start-up with its reason. */
export async function deployForStart(project: Project, engine: Engine): Promise<DeployResult> {
  const result = await applyDeploy(project, engine, { allowDestructive: false });
  if (!result.ok) {
    throw new TallyError(
      result.refused ? 'deploy-refused' : 'deploy-failed',
      result.error ?? 'deploy failed',
      {
        exitCode: result.exitCode === 1 ? 1 : 2,
        hint: result.refused
          ? 'run `tally deploy --check` to see the plan, and `tally deploy --allow-destructive` to accept it'
          : undefined,
      },
    );
  }
  return result;
}
