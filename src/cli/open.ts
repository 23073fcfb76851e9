import { createEngine } from '../clickhouse/create-engine.ts';
import type { Engine } from '../clickhouse/engine.ts';
import type { Config } from '../config/config.ts';
import { loadConfig } from '../config/load-config.ts';
import type { CommandContext } from './command.ts';

export function openConfig(ctx: CommandContext): Config {
  return loadConfig(ctx.projectDir, { env: ctx.env });
}

/** `onFailover`: told when statements move to another replica (clickhouse.failover). */
export async function openEngine(
  config: Config,
  onFailover?: (move: { from: string; to: string; error: string }) => void,
): Promise<Engine> {
  return createEngine(config.clickhouse, { cwd: config.projectDir, ...(onFailover ? { onFailover } : {}) });
}
