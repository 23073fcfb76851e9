import { expect } from 'vitest';
import type { Engine } from '../../src/clickhouse/engine.ts';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import type { Project } from '../../src/project/model.ts';
import { Runtime } from '../../src/runtime/runtime.ts';

/** Deploys `project` and serves it as `tally serve` would, without Kafka (the events API takes events). */
export async function serveDeployed(
  project: Project,
  engine: Engine,
): Promise<{ runtime: Runtime; url: string }> {
  const deployed = await applyDeploy(project, engine);
  expect(deployed.ok, deployed.error).toBe(true);
  const runtime = new Runtime({ engine, project, port: 0, host: '127.0.0.1' });
  return { runtime, url: (await runtime.start()).url };
}
