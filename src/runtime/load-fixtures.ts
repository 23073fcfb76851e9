import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TallyError } from '../errors.ts';
import type { AppendResult, Ingestion } from '../ingest/ingestion.ts';
import type { Project } from '../project/model.ts';

export interface FixtureLoad extends AppendResult {
  datasource: string;
  file: string;
  /** Why the data source refused the file (it takes events from Kafka only); nothing loaded. */
  refused?: string;
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
