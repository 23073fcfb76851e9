import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { quoteIdent } from '../clickhouse/create-engine.ts';
import type { Engine } from '../clickhouse/engine.ts';
import { TallyError } from '../errors.ts';
import { LOG_TABLE } from '../ingest/ingest-tables.ts';
import type { AppendResult, Ingestion } from '../ingest/ingestion.ts';
import type { Project } from '../project/model.ts';
import { quoteString } from '../sql/render-literal.ts';

export interface FixtureLoad extends AppendResult {
  datasource: string;
  file: string;
  /** Why the data source refused the file (it takes events from Kafka only); nothing loaded. */
  refused?: string;
}

/**
 * The data sources `tally dev` loads fixtures into: those its deploy just created, and, on the
 * embedded engine, those with a fixtures file that are still empty and have never taken a batch
 * (no ops-log row), such as after a start that deployed and then failed before loading: a later
 * start must not serve an empty project. A data source emptied after it took events is left empty.
 */
export async function fixtureTargets(
  project: Project,
  engine: Engine,
  created: readonly string[],
): Promise<string[]> {
  // Only in dev's own folder: on a server, an empty data source may be a real one waiting for
  // its first events.
  if (engine.backend !== 'embedded') return [...created];
  const others = [...project.datasources.keys()].filter(
    (name) => !created.includes(name) && existsSync(join(project.root, 'fixtures', `${name}.ndjson`)),
  );
  if (others.length === 0) return [...created];
  const fed = new Set(
    (
      await engine.rows<{ datasource: string }>(
        `SELECT DISTINCT datasource FROM ${quoteIdent(LOG_TABLE)} WHERE datasource IN (${others.map(quoteString).join(', ')})`,
      )
    ).map((r) => r.datasource),
  );
  const unfed = others.filter((name) => !fed.has(name));
  if (unfed.length === 0) return [...created];
  // Their row counts in one statement.
  const counts = await engine.rows<{ ds: string; n: string | number }>(
    unfed
      .map((name) => `SELECT ${quoteString(name)} AS ds, count() AS n FROM ${quoteIdent(name)}`)
      .join(' UNION ALL '),
  );
  return [...created, ...counts.filter((r) => Number(r.n) === 0).map((r) => r.ds)];
}

/**
 * Loads `fixtures/<data source>.ndjson` for each named data source through the ingestion path,
 * so quarantine and dedup rules apply to sample data exactly as to real events.
 */
export async function loadFixtures(
  project: Project,
  ingestion: Ingestion,
  datasources: readonly string[],
): Promise<FixtureLoad[]> {
  const loads: FixtureLoad[] = [];
  for (const name of datasources) {
    const file = join('fixtures', `${name}.ndjson`);
    const path = join(project.root, file);
    if (!existsSync(path) || !ingestion.datasourceNames().includes(name)) continue;
    const events = readFileSync(path, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '');
    try {
      const result = await ingestion.append(name, events, {
        requestId: `fixtures:${name}`,
        source: 'append',
      });
      loads.push({ datasource: name, file, ...result });
    } catch (err) {
      // One data source's refusal does not stop dev from starting with the others' samples.
      if (!(err instanceof TallyError && err.code === 'ingest-needs-kafka')) throw err;
      loads.push({
        datasource: name,
        file,
        successful_rows: 0,
        quarantined_rows: 0,
        duplicate_rows: 0,
        refused: err.message,
      });
    }
  }
  return loads;
}
