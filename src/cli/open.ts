import { createEngine } from '../clickhouse/create-engine.ts';
import type { Engine } from '../clickhouse/engine.ts';
import type { Config } from '../config/config.ts';
import { loadConfig } from '../config/load-config.ts';
import type { CommandContext } from './command.ts';

export function openConfig(ctx: CommandContext): Config {
  return loadConfig(ctx.projectDir, { env: ctx.env });
}

export interface OpenEngineOptions {
  /** Told when statements move to another replica (clickhouse.failover). */
  onFailover?: (move: { from: string; to: string; error: string }) => void;
  /** Read-only commands pass false: a missing database stays missing (default true). */
  createDatabase?: boolean;
}

export async function openEngine(config: Config, opts: OpenEngineOptions = {}): Promise<Engine> {
  return createEngine(config.clickhouse, { cwd: config.projectDir, ...opts });
}
