/** Helpers for deploy integration tests: a fresh database per test, and a writer that keeps inserting. */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, quoteIdent } from '../../src/clickhouse/create-engine.ts';
import type { Engine } from '../../src/clickhouse/engine.ts';
import { writeGate } from '../../src/clickhouse/write-gate.ts';
import { type BackendName, clickhouseConfig, scratchDatabase } from './backends.ts';

/** The embedded engine's folder for deploy tests, in the system's temp folder (removed at exit). */
const EMBEDDED = join(tmpdir(), `tally-deploy-test-${process.pid}`);
process.on('exit', () => rmSync(EMBEDDED, { recursive: true, force: true }));

/** Opens an engine on a new database of `backend`; `drop()` removes it and closes. */
export async function freshEngine(
  backend: BackendName,
): Promise<{ engine: Engine; drop: () => Promise<void> }> {
  const database = scratchDatabase('d');
  const engine = await createEngine({ ...clickhouseConfig(backend, database), embeddedPath: EMBEDDED });
  return {
    engine,
    drop: async () => {
      await engine
        .command(`DROP DATABASE IF EXISTS ${quoteIdent(`${database}__tally_backfill`)}`)
        .catch(() => {});
      await engine.command(`DROP DATABASE IF EXISTS ${quoteIdent(database)}`).catch(() => {});
      await engine.close();
    },
  };
}

export interface Writer {
  /** Stops after the batch in flight; resolves with what was written. */
  stop(): Promise<{ rows: number; batches: number; retries: number }>;
}

/**
 * Inserts `batch` rows at a time into `table` until stopped, as an ingester would: an insert
 * refused because the table is held (doesn't exist) or a view of it was just dropped is retried
 * after a short pause, and each
 * insert passes the in-process write gate (clickhouse/write-gate.ts) as ingestion's flushes do.
 * `row(i)` makes the i-th row overall.
 */
export function startWriter(
  engine: Engine,
  table: string,
  batch: number,
  row: (i: number) => object,
): Writer {
  let running = true;
  let rows = 0;
  let batches = 0;
  let retries = 0;
  const loop = (async () => {
    while (running) {
      const values = Array.from({ length: batch }, (_, k) => row(rows + k));
      for (;;) {
        try {
          // As an ingester's flush does: on the embedded engine deploy closes this gate.
          await writeGate(engine).shared(() => engine.insert(table, values));
          break;
        } catch (err) {
          // 18.16 says "Table is dropped" (218) when a view goes while the insert locks its
          // views, in PushingToViewsBlockOutputStream's constructor, before any block is written.
          if (
            !/doesn't exist|does not exist|UNKNOWN_TABLE|not supported by storage Merge|Table is dropped/i.test(
              String((err as Error).message),
            )
          )
            throw err;
          retries++;
          await new Promise((r) => setTimeout(r, 5));
        }
      }
      rows += batch;
      batches++;
      await new Promise((r) => setImmediate(r));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { rows, batches, retries };
    },
  };
}

/** Rows of a table as sorted JSON lines, to compare contents. */
export async function dump(engine: Engine, table: string, orderBy: string): Promise<string[]> {
  const rows = await engine.rows(`SELECT * FROM ${quoteIdent(table)} ORDER BY ${orderBy}`);
  return rows.map((r) => JSON.stringify(r));
}

export function num(v: unknown): number {
  return Number(v);
}
