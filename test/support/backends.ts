import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, inject } from 'vitest';
import { createEngine, quoteIdent } from '../../src/clickhouse/create-engine.ts';
import type { Engine } from '../../src/clickhouse/engine.ts';
import type { ClickHouseConfig } from '../../src/config/config.ts';

export type BackendName = 'embedded' | 'server';
export const BACKENDS: readonly BackendName[] = ['embedded', 'server'];

const REPO = join(import.meta.dirname, '..', '..');

/** Scratch folder of this test process's embedded engine (chDB: one folder per process). */
export function embeddedPath(): string {
  return join(REPO, '.tally', 'test', `chdb-${process.pid}`);
}

/** A fresh database name, so suites never see each other's tables. */
export function scratchDatabase(prefix = 't'): string {
  return `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}

/** The ClickHouse settings a test uses to reach `backend` with `database`. */
export function clickhouseConfig(backend: BackendName, database: string): ClickHouseConfig {
  const base = { user: 'default', password: '', database, embeddedPath: embeddedPath() };
  return backend === 'server' ? { ...base, url: inject('clickhouseUrl') } : base;
}

export interface BackendContext {
  backend: BackendName;
  /** Set in beforeAll; a fresh database on this back end, dropped afterwards. */
  engine: Engine;
  database: string;
}

/**
 * Runs the same suite once per ClickHouse back end (embedded chDB and the server), each on its
 * own scratch database.
 */
export function forEachBackend(name: string, suite: (ctx: BackendContext) => void): void {
  describe.each(BACKENDS)(`${name} [%s]`, (backend) => {
    const ctx = { backend, database: scratchDatabase() } as BackendContext;
    beforeAll(async () => {
      ctx.engine = await createEngine(clickhouseConfig(backend, ctx.database));
    });
    afterAll(async () => {
      if (!ctx.engine) return;
      await ctx.engine.command(`DROP DATABASE IF EXISTS ${quoteIdent(ctx.database)}`).catch(() => {});
      await ctx.engine.close();
    });
    suite(ctx);
  });
}

/** Removes this process's embedded data folder (call from a suite's afterAll if it wants). */
export function removeEmbeddedData(): void {
  rmSync(embeddedPath(), { recursive: true, force: true });
}
