import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const REPO = join(import.meta.dirname, '..', '..');

/**
 * Copies the example project (tally.yaml, data sources, pipes, endpoints, fixtures) into `dir`,
 * with Kafka topics of its own: `transactions` becomes `transactions_<suffix>`, and so on. A
 * topic that exists makes `tally append` go through Kafka instead of straight to ClickHouse, and
 * a developer's broker has the example's topics as soon as `tally dev` ran once.
 */
export function copyExample(dir: string): string {
  for (const f of ['tally.yaml', 'datasources', 'pipes', 'endpoints', 'fixtures']) {
    cpSync(join(REPO, f), join(dir, f), { recursive: true });
  }
  const suffix = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  let renamed = 0;
  for (const file of readdirSync(join(dir, 'datasources'))) {
    const path = join(dir, 'datasources', file);
    const text = readFileSync(path, 'utf8');
    const changed = text.replace(/(kafka: \{ topic: )(\w+)/, (_m, head: string, topic: string) => {
      renamed++;
      return `${head}${topic}_${suffix}`;
    });
    if (changed !== text) writeFileSync(path, changed);
  }
  if (renamed === 0) throw new Error('copyExample: no Kafka topic found to rename in the example');
  return dir;
}
