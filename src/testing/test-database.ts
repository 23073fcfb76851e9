import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, quoteIdent } from '../clickhouse/create-engine.ts';
import type { Engine } from '../clickhouse/engine.ts';
import type { ClickHouseConfig } from '../config/config.ts';
import { scratchDatabaseName } from '../deploy/names.ts';

export const TEST_DATABASE_PREFIX = 'tally_test_';

/** A run's databases older than this are leftovers of a run that was killed: dropped on start. */
const ABANDONED_MS = 3600_000;

export interface TestDatabase {
  engine: Engine;
  database: string;
  /** Drops the database (and, embedded, removes the data folder); safe to call twice. */
  drop(): Promise<void>;
}

/**
 * A fresh database for one test run, named `tally_test_<UTC time>_<random>`. On a server it sits
 * beside the project's database; on the embedded engine it lives in a throw-away data folder of
 * its own, so a run never touches the dev data and works while `tally dev` holds `.tally/chdb`.
 */
export async function openTestDatabase(ch: ClickHouseConfig): Promise<TestDatabase> {
  const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const database = `${TEST_DATABASE_PREFIX}${stamp}_${Math.random().toString(36).slice(2, 8)}`;
  const folder = ch.url ? undefined : mkdtempSync(join(tmpdir(), 'tally-test-'));
  let engine: Engine;
  try {
    engine = await createEngine({ ...ch, database, ...(folder ? { embeddedPath: folder } : {}) });
  } catch (err) {
    if (folder) rmSync(folder, { recursive: true, force: true });
    throw err;
  }
  if (ch.url) await dropAbandoned(engine).catch(() => {});
  let dropped: Promise<void> | undefined;
  return {
    engine,
    database,
    drop() {
      dropped ??= (async () => {
        try {
          // The session's own database last: a server refuses requests naming a dropped one.
          for (const db of [scratchDatabaseName(database), database]) {
            await engine.command(`DROP DATABASE IF EXISTS ${quoteIdent(db)}`).catch(() => {});
          }
        } finally {
          await engine.close().catch(() => {});
          if (folder) rmSync(folder, { recursive: true, force: true });
        }
      })();
      return dropped;
    },
  };
}

/** Test databases whose name says they were made more than an hour ago: a killed run's. */
async function dropAbandoned(engine: Engine): Promise<void> {
  const rows = await engine.rows<{ name: string }>(
    `SELECT name FROM system.databases WHERE startsWith(name, '${TEST_DATABASE_PREFIX}')`,
  );
  const now = Date.now();
  for (const { name } of rows) {
    const m = /^tally_test_(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})_/.exec(name);
    if (!m) continue;
    const made = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
    if (now - made > ABANDONED_MS) await engine.command(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
  }
}
