import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import { servicesUp } from '../src/services/services.ts';

const REPO = resolve(import.meta.dirname, '..');

/**
 * Integration suites run on a real ClickHouse server and Kafka broker: reuse the ones at
 * TALLY_CLICKHOUSE_URL / TALLY_KAFKA_BROKERS (or the defaults) when they answer, else start them
 * (`tally services up`). They stay up afterwards so the next run starts in milliseconds;
 * `.tally/test/` scratch data is removed.
 */
export default async function setup(project: TestProject): Promise<() => void> {
  const brokers = process.env.TALLY_KAFKA_BROKERS?.split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  const results = await servicesUp({
    projectDir: REPO,
    clickhouseUrl: process.env.TALLY_CLICKHOUSE_URL || undefined,
    kafkaBrokers: brokers && brokers.length > 0 ? brokers : undefined,
    log: (line) => console.log(`[services] ${line}`),
  });
  for (const r of results) {
    if (r.action === 'started') {
      console.log(
        `[services] ${r.name} ${r.version} started at ${r.address} in ${(r.elapsedMs / 1000).toFixed(1)} s`,
      );
    }
  }
  project.provide('clickhouseUrl', results.find((r) => r.name === 'clickhouse')!.address);
  project.provide('kafkaBrokers', results.find((r) => r.name === 'kafka')!.address);
  return () => {
    rmSync(join(REPO, '.tally', 'test'), { recursive: true, force: true });
  };
}
