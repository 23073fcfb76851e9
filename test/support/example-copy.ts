import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const REPO = join(import.meta.dirname, '..', '..');

/**
 * Copies the example project (tally.yaml, data sources, pipes, endpoints with their tests,
 * fixtures) into `dir`, with Kafka topics of its own: `topics[data source]` where given, else
 * the example's topic with a suffix of this run (`transactions_<pid>_<random>`). A topic that
 * exists makes `tally append` go through Kafka instead of straight to ClickHouse, and a
 * developer's broker has the example's topics as soon as `tally dev` ran once.
 */
export function copyExample(dir: string, topics: Readonly<Record<string, string>> = {}): string {
  for (const f of ['tally.yaml', 'datasources', 'pipes', 'endpoints', 'fixtures']) {
    cpSync(join(REPO, f), join(dir, f), { recursive: true });
  }
  const suffix = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const renamed = new Set<string>();
  for (const file of readdirSync(join(dir, 'datasources'))) {
    const ds = file.replace(/\.datasource\.yaml$/, '');
    const path = join(dir, 'datasources', file);
    const text = readFileSync(path, 'utf8');
    const changed = text.replace(/(kafka: \{ topic: )(\w+)/, (_m, head: string, topic: string) => {
      renamed.add(ds);
      return `${head}${topics[ds] ?? `${topic}_${suffix}`}`;
    });
    if (changed !== text) writeFileSync(path, changed);
  }
  const missing = Object.keys(topics).filter((ds) => !renamed.has(ds));
  if (renamed.size === 0 || missing.length > 0) {
    throw new Error(
      `copyExample: no Kafka topic to rename in the example for ${missing.join(', ') || 'any data source'}`,
    );
  }
  return dir;
}
