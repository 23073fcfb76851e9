import { resolve } from 'node:path';
import { type CreateEngineOptions, createEngine } from '../clickhouse/create-engine.ts';
import type { Engine } from '../clickhouse/engine.ts';
import { devServerFor } from '../clickhouse/folder-server.ts';
import { throughDevEngine } from '../clickhouse/through-dev-engine.ts';
import type { Config } from '../config/config.ts';
import { loadConfig } from '../config/load-config.ts';
import { isTallyError, TallyError } from '../errors.ts';
import { quoteString } from '../sql/render-literal.ts';
import type { CommandContext } from './command.ts';
import { refuseNonProject } from './open-project.ts';

/** The project's tally.yaml; a folder that is not a project is refused (it would get a data folder). */
export function openConfig(ctx: CommandContext): Config {
  refuseNonProject(ctx.projectDir);
  return loadConfig(ctx.projectDir, { env: ctx.env });
}

export type OpenEngineOptions = Pick<
  CreateEngineOptions,
  'onFailover' | 'createDatabase' | 'beforeCreatingDatabase'
> & {
  /**
   * A command that only reads (`tally sql`, `tally quarantine`): when `tally dev` holds the
   * embedded folder, read through it (clickhouse/through-dev-engine.ts) instead of refusing.
   */
  readThroughDev?: boolean;
};

export async function openEngine(config: Config, opts: OpenEngineOptions = {}): Promise<Engine> {
  const { readThroughDev, ...create } = opts;
  try {
    return await createEngine(config.clickhouse, create);
  } catch (err) {
    if (!readThroughDev || config.clickhouse.url || !isTallyError(err) || err.code !== 'embedded-busy')
      throw err;
    const path = resolve(config.clickhouse.embeddedPath);
    const dev = devServerFor(path);
    const through = dev ? await throughDevEngine(dev, path) : undefined;
    if (!through) throw err;
    return through;
  }
}

/**
 * For commands that work on what a deploy made (`quarantine`, `replay`, `snapshot run`): opens
 * the engine without creating the database, and refuses a database that does not exist (exit 1).
 */
export async function openDeployedEngine(
  config: Config,
  opts: Omit<OpenEngineOptions, 'createDatabase'> = {},
): Promise<Engine> {
  const engine = await openEngine(config, { ...opts, createDatabase: false });
  try {
    await requireDatabase(engine);
  } catch (err) {
    await engine.close();
    throw err;
  }
  return engine;
}

/** A TallyError (exit 1) when the engine's database does not exist: nothing was deployed there. */
export async function requireDatabase(engine: Engine): Promise<void> {
  const present = await engine.rows(
    `SELECT 1 FROM system.databases WHERE name = ${quoteString(engine.database)}`,
  );
  if (present.length > 0) return;
  throw new TallyError(
    'no-database',
    `database ${engine.database} does not exist on ${engine.description}: nothing was deployed there`,
    {
      hint: 'run `tally deploy`, or point clickhouse.database (TALLY_CLICKHOUSE_DATABASE) at the deployed one',
    },
  );
}
