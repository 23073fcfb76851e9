// The example project, deployed into a scratch database and served in-process (createApp plus
// the events API, wired as the runtime wires them), for the fuzz and security suites.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Hono } from 'hono';
import type { Engine } from '../../src/clickhouse/engine.ts';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import { type Ingestion, startIngestion } from '../../src/ingest/ingestion.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import type { Project } from '../../src/project/model.ts';
import { createApp } from '../../src/server/create-app.ts';
import { registerEventsRoute } from '../../src/server/events-route.ts';
import { StateHolder } from '../../src/server/serving-state.ts';
import { writeProject } from '../unit/project/write-project.ts';

export const REPO = join(import.meta.dirname, '..', '..');

/** The example project's files (relative path -> text), without endpoint tests. */
export function exampleFiles(): Record<string, string> {
  const files: Record<string, string> = { 'tally.yaml': readFileSync(join(REPO, 'tally.yaml'), 'utf8') };
  for (const dir of ['datasources', 'pipes', 'endpoints']) {
    for (const name of readdirSync(join(REPO, dir))) {
      if (name.endsWith('.yaml') && !name.endsWith('.test.yaml')) {
        files[`${dir}/${name}`] = readFileSync(join(REPO, dir, name), 'utf8');
      }
    }
  }
  return files;
}

export interface ExampleApp {
  app: Hono;
  project: Project;
  ingestion: Ingestion;
  /** Every log entry the app wrote, as JSON text. */
  logs: string[];
  stop(): Promise<void>;
}

export interface ExampleAppOptions {
  /** Extra text appended to tally.yaml (tokens, settings). */
  config?: string;
  /** More project files (relative path -> text). */
  files?: Record<string, string>;
  /** Body limit of the events API. */
  maxBodyBytes?: number;
  /** Where ingestion's own log entries go too (default: the same capture). */
  staleness?: 'enforce' | 'report';
}

/** Deploys the example project into `engine`'s database and serves it in-process. */
export async function startExampleApp(engine: Engine, opts: ExampleAppOptions = {}): Promise<ExampleApp> {
  const files = exampleFiles();
  Object.assign(files, opts.files ?? {});
  if (opts.config) files['tally.yaml'] = `${files['tally.yaml']}\n${opts.config}\n`;
  const dir = writeProject(files);
  const project = loadProjectOrThrow(dir, { env: {} });
  const deploy = await applyDeploy(project, engine, { allowDestructive: true });
  if (!deploy.ok) throw new Error(`deploy failed: ${JSON.stringify(deploy).slice(0, 2000)}`);
  const logs: string[] = [];
  const log = (entry: Record<string, unknown>) => {
    logs.push(
      JSON.stringify(entry, (_k, v) => (v instanceof Error ? { message: v.message, stack: v.stack } : v)),
    );
  };
  const ingestion = await startIngestion(project, engine, undefined, { consume: false, log });
  const app = createApp({
    state: new StateHolder({ project, engine, version: 'fuzz' }),
    tokens: project.config.tokens,
    staleness: opts.staleness ?? 'report',
    log,
    routes: (a, { auth }) =>
      registerEventsRoute(a, {
        ingestion: () => ingestion,
        check: (t, access) => auth.check(t, access),
        ...(opts.maxBodyBytes ? { maxBodyBytes: opts.maxBodyBytes } : {}),
      }),
  });
  return { app, project, ingestion, logs, stop: () => ingestion.stop() };
}
