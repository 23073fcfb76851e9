/**
 * For CLI tests run in-process: the environment that points `tally` at a fresh scratch database
 * on a back end, and the server's scratch databases dropped at the end (chDB's live in each
 * project's own folder, removed with it).
 */
import { join } from 'node:path';
import { inject } from 'vitest';
import { createEngine } from '../../src/clickhouse/create-engine.ts';
import { type BackendName, scratchDatabase } from './backends.ts';

export class CliDatabases {
  private readonly onServer: string[] = [];

  constructor(private readonly prefix: string) {}

  /** TALLY_CLICKHOUSE_DATABASE (and the server's URL on `server`), plus `extra`. */
  env(backend: BackendName, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const database = scratchDatabase(this.prefix);
    if (backend === 'server') this.onServer.push(database);
    return {
      TALLY_CLICKHOUSE_DATABASE: database,
      ...(backend === 'server' ? { TALLY_CLICKHOUSE_URL: inject('clickhouseUrl') } : {}),
      ...extra,
    };
  }

  async dropAll(): Promise<void> {
    if (this.onServer.length === 0) return;
    const engine = await createEngine(
      { url: inject('clickhouseUrl'), user: 'default', password: '', database: 'default', embeddedPath: '' },
      { createDatabase: false },
    );
    for (const db of this.onServer.splice(0)) await engine.command(`DROP DATABASE IF EXISTS ${db}`);
    await engine.close();
  }
}

/** Whether `database` exists on `backend` (the embedded one in `projectDir`'s own chDB folder), creating nothing. */
export async function databaseExists(
  backend: BackendName,
  database: string,
  projectDir: string,
): Promise<boolean> {
  const engine = await createEngine(
    {
      ...(backend === 'server' ? { url: inject('clickhouseUrl') } : {}),
      user: 'default',
      password: '',
      database,
      embeddedPath: join(projectDir, '.tally', 'chdb'),
    },
    { createDatabase: false },
  );
  try {
    const found = await engine.rows(`SELECT name FROM system.databases WHERE name = '${database}'`);
    return found.length > 0;
  } finally {
    await engine.close();
  }
}

/** The refusal of a command on a database nothing was deployed to (open.ts requireDatabase). */
export function noDatabaseMessage(database: string): RegExp {
  return new RegExp(
    `database ${database} does not exist on .*: nothing was deployed there.*run \`tally deploy\`.*TALLY_CLICKHOUSE_DATABASE`,
    's',
  );
}
