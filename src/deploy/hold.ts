/**
 * A write hold: tables renamed away (`t` -> `t__tally_hold`) so that no INSERT can start on
 * them, and every INSERT already running on them waited for. While held, the set of parts of a
 * table cannot change except by merges (stopped by the caller), which gives deploy an exact
 * boundary: the parts seen now, versus everything inserted after the release.
 *
 * Checked on both back ends (docs/deploy.md): 18.16 makes RENAME itself wait for running
 * INSERTs; a current server renames at once and the running INSERT finishes into the renamed
 * table, which is why the wait looks at system.processes. An INSERT that starts during the hold
 * fails with "table doesn't exist"; Tally's ingesters retry it.
 */
import type { Engine } from '../clickhouse/engine.ts';
import { TallyError } from '../errors.ts';
import { type DdlContext, renameSql, stringLiteral } from './ddl.ts';
import type { LiveState } from './introspect.ts';
import { holdName } from './names.ts';

export interface HoldOptions {
  /** How long to wait for INSERTs that were running when the hold began (default 120 s). */
  waitTimeoutMs?: number;
}

export interface Hold {
  /** The tables held, by their own names. */
  readonly tables: readonly string[];
  /** When the hold began (performance.now()). */
  readonly since: number;
  /**
   * Renames the tables back (all but `settled`: tables the caller already put in place itself,
   * e.g. by swapping in a rebuilt table); writers resume. Safe to call twice.
   */
  release(settled?: readonly string[]): Promise<void>;
}

export async function holdTables(
  engine: Engine,
  ctx: DdlContext,
  tables: readonly string[],
  opts: HoldOptions = {},
): Promise<Hold> {
  const names = [...new Set(tables)];
  await engine.command(
    renameSql(
      names.map((t) => [t, holdName(t)] as const),
      ctx,
    ),
  );
  let released = false;
  const hold: Hold = {
    tables: names,
    since: performance.now(),
    async release(settled = []) {
      if (released) return;
      const back = names.filter((t) => !settled.includes(t));
      try {
        if (back.length > 0)
          await engine.command(
            renameSql(
              back.map((t) => [holdName(t), t] as const),
              ctx,
            ),
          );
      } catch (err) {
        // Something in between failed half-way (a table already swapped, say): put back each
        // held table that is still held, one by one, and let recovery judge the rest.
        const held = await engine.rows<{ name: string }>(
          `SELECT name FROM system.tables WHERE database = ${stringLiteral(ctx.database)}`,
        );
        const present = new Set(held.map((r) => r.name));
        for (const t of back) {
          if (present.has(holdName(t)) && !present.has(t))
            await engine.command(renameSql([[holdName(t), t]], ctx));
        }
        if (back.some((t) => present.has(holdName(t)) && present.has(t))) throw err;
      }
      released = true;
    },
  };
  try {
    await waitForInserts(engine, names, opts.waitTimeoutMs ?? 120_000);
  } catch (err) {
    await hold.release();
    throw err;
  }
  return hold;
}

/** Waits until no INSERT that was running into one of `tables` (by their text) still runs. */
async function waitForInserts(engine: Engine, tables: readonly string[], timeoutMs: number): Promise<void> {
  const running = async () => {
    const rows = await engine.rows<{ query_id: string; query: string }>(
      'SELECT query_id, query FROM system.processes',
    );
    return rows
      .filter((r) => /^\s*INSERT\b/i.test(r.query) && tables.some((t) => r.query.includes(t)))
      .map((r) => r.query_id);
  };
  const first = new Set(await running());
  const deadline = Date.now() + timeoutMs;
  while (first.size > 0) {
    if (Date.now() > deadline) {
      throw new TallyError(
        'hold-timeout',
        `INSERTs into ${tables.join(', ')} still running after ${Math.round(timeoutMs / 1000)} s; deploy let them be and stopped`,
        {
          exitCode: 2,
          hint: 'run the deploy again when ingestion is quieter',
        },
      );
    }
    await new Promise((r) => setTimeout(r, 20));
    const now = new Set(await running());
    for (const id of first) if (!now.has(id)) first.delete(id);
  }
}

/**
 * `tables` and every table that feeds them through a live materialized view, transitively: the
 * set to hold so that nothing at all is written into `tables` meanwhile.
 */
export function feedingClosure(live: LiveState, tables: readonly string[]): string[] {
  const out = new Set(tables);
  const queue = [...tables];
  while (queue.length > 0) {
    const t = queue.shift()!;
    for (const view of live.tables.values()) {
      if (view.engine !== 'MaterializedView' || view.viewTarget !== t) continue;
      for (const src of live.tables.values()) {
        if (src.dependents.includes(view.name) && !out.has(src.name)) {
          out.add(src.name);
          queue.push(src.name);
        }
      }
    }
  }
  return [...out];
}

/** The live materialized views that fire on inserts into `table`. */
export function viewsReading(live: LiveState, table: string): string[] {
  return (live.tables.get(table)?.dependents ?? []).filter(
    (v) => live.tables.get(v)?.engine === 'MaterializedView',
  );
}
