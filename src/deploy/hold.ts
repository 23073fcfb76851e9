/**
 * A write hold: tables renamed away (`t` -> `t__tally_hold`) so that no INSERT can start on
 * them, and every INSERT already running on them waited for. While held, the rows of a table
 * can only change by merges, which gives deploy an exact boundary: the rows there now, versus
 * everything inserted after the release.
 *
 * Two behaviours, checked on both back ends (docs/deploy.md):
 * - An Ordinary database (18.16) resolves a materialized view's source by name while pushing an
 *   INSERT's block through it. An INSERT running when its table is renamed away has already
 *   written the table, then fails in the view ("Table ... doesn't exist: while pushing to view"),
 *   and its writer retries: rows twice. So there the table's name is never left empty: one RENAME
 *   swaps in a gate, a Merge table over the held table with the same columns. Reads go through
 *   it; INSERTs are refused ("Method write is not supported by storage Merge", nothing written);
 *   the running INSERT's views still find the name. Views attached during the hold bind to the
 *   name, so they fire on the table once it is back.
 * - An Atomic database (current servers) binds views to a source's UUID: a view attached while a
 *   gate holds the name would stay bound to the gate. There the name is left empty (INSERTs and
 *   reads get "doesn't exist"); a running INSERT finishes into the renamed table, views found by
 *   UUID. chDB runs one statement at a time, so nothing runs across a RENAME at all.
 * Either way the writer gets an error for the milliseconds of the hold and retries.
 *
 * One table per RENAME, upstream first; released downstream first. On 18.16 an INSERT locks
 * its table, then each view and view target downstream, while a RENAME locks all its tables in
 * name order: a RENAME holding `account_balances` and waiting for `transactions`, against an
 * INSERT holding `transactions` and waiting for `account_balances`, waits forever (18.16 has
 * no lock timeout). A RENAME naming one table (and its gate) can always finish.
 */
import type { Engine } from '../clickhouse/engine.ts';
import { TallyError } from '../errors.ts';
import { type DdlContext, dropTableSql, qualified, renameSql, stringLiteral } from './ddl.ts';
import type { LiveState } from './introspect.ts';
import { gateName, holdName } from './names.ts';

export interface HoldOptions {
  /** Swap a gate into each held name (Ordinary databases; see above). */
  gate: boolean;
  /** How long to wait for INSERTs that were running when the hold began (default 120 s). */
  waitTimeoutMs?: number;
}

export interface Hold {
  /** The tables held, by their own names. */
  readonly tables: readonly string[];
  readonly gated: boolean;
  /** When the hold began (performance.now()). */
  readonly since: number;
  /**
   * Puts the tables back (all but `settled`: tables the caller already replaced itself, see
   * `vacate`); writers resume. Safe to call twice.
   */
  release(settled?: readonly string[]): Promise<void>;
  /**
   * The renames that free `table`'s name (the gate goes aside), to run in the same RENAME
   * statement as the renames that fill it again; then `dropGate(table)`.
   */
  vacate(table: string): Array<readonly [string, string]>;
  dropGate(table: string): Promise<void>;
}

export async function holdTables(
  engine: Engine,
  ctx: DdlContext,
  tables: readonly string[],
  opts: HoldOptions,
): Promise<Hold> {
  const names = [...new Set(tables)];
  const gated = opts.gate;
  if (gated) {
    for (const t of names) {
      await engine.command(dropTableSql(gateName(t), ctx));
      await engine.command(createGateSql(ctx, gateName(t), t, t));
    }
  }
  const since = performance.now();
  try {
    for (const t of names) {
      await engine.command(renameSql([[t, holdName(t)], ...(gated ? [[gateName(t), t] as const] : [])], ctx));
    }
  } catch (err) {
    // putBack looks at what is there: a table half-way through its RENAME is put back too.
    await putBack(engine, ctx, [...names].reverse());
    if (gated) for (const t of names) await engine.command(dropTableSql(gateName(t), ctx)).catch(() => {});
    throw err;
  }
  const hold = heldTables(engine, ctx, names, gated, since);
  try {
    await waitForInserts(engine, ctx.database, names, opts.waitTimeoutMs ?? 120_000);
  } catch (err) {
    await hold.release();
    throw err;
  }
  return hold;
}

/** The Hold over `names`, already renamed aside (with gates when `gated`). */
function heldTables(
  engine: Engine,
  ctx: DdlContext,
  names: readonly string[],
  gated: boolean,
  since: number,
): Hold {
  let released = false;
  const hold: Hold = {
    tables: names,
    gated,
    since,
    async release(settled = []) {
      if (released) return;
      const back = names.filter((t) => !settled.includes(t)).reverse();
      try {
        for (const t of back) await engine.command(renameSql([...hold.vacate(t), [holdName(t), t]], ctx));
      } catch {
        // Half-way (a table already swapped, a rename that failed): put back each table that is
        // still held, one by one, and let recovery judge the rest.
        const stuck = await putBack(engine, ctx, back);
        if (stuck.length > 0) {
          throw new TallyError('hold-release', `could not put back ${stuck.join(', ')} after a hold`, {
            exitCode: 2,
            hint: 'the next deploy renames them back (recovery)',
          });
        }
      }
      for (const t of back) await hold.dropGate(t);
      released = true;
    },
    vacate(table) {
      return gated ? [[table, gateName(table)] as const] : [];
    },
    async dropGate(table) {
      if (gated) await engine.command(dropTableSql(gateName(table), ctx));
    },
  };
  return hold;
}

/**
 * A hold that a process left behind (it failed, or died, before releasing), for tables whose
 * `__tally_hold` name is present: taken over whole when every table of `tables` is held that way
 * (its owner stopped in the middle of its work: the caller redoes it, then releases), or else
 * undefined after the held ones were put back (its owner had finished and was releasing).
 * The name of a held table is its gate or empty; any other table there is an error.
 */
export async function adoptLeftoverHold(
  engine: Engine,
  ctx: DdlContext,
  tables: readonly string[],
): Promise<Hold | undefined> {
  const names = [...new Set(tables)];
  const rows = await engine.rows<{ name: string; engine: string }>(
    `SELECT name, engine FROM system.tables WHERE database = ${stringLiteral(ctx.database)}`,
  );
  const present = new Map(rows.map((r) => [r.name, r.engine]));
  const held = names.filter((t) => present.has(holdName(t)));
  if (held.length === 0) return undefined;
  for (const t of held) {
    const there = present.get(t);
    if (there !== undefined && there !== 'Merge') {
      throw new TallyError(
        'hold-release',
        `both ${t} and ${holdName(t)} exist: a hold was left behind and the name was taken since`,
        { exitCode: 2, hint: `keep the table with the rows (usually ${holdName(t)}) and rename it to ${t}` },
      );
    }
    if (there === undefined) {
      // An empty name (Atomic databases hold without a gate): give it one, as holds here do.
      await engine.command(dropTableSql(gateName(t), ctx));
      await engine.command(createGateSql(ctx, t, holdName(t), t));
    }
  }
  const hold = heldTables(engine, ctx, held, true, performance.now());
  if (held.length === names.length) return hold;
  await hold.release();
  return undefined;
}

/** Puts back each table still held, one by one; returns those it could not. */
async function putBack(engine: Engine, ctx: DdlContext, tables: readonly string[]): Promise<string[]> {
  const rows = await engine.rows<{ name: string; engine: string }>(
    `SELECT name, engine FROM system.tables WHERE database = ${stringLiteral(ctx.database)}`,
  );
  const present = new Map(rows.map((r) => [r.name, r.engine]));
  const stuck: string[] = [];
  for (const t of tables) {
    if (!present.has(holdName(t))) continue;
    if (present.get(t) === 'Merge') await engine.command(renameSql([[t, gateName(t)]], ctx));
    else if (present.has(t)) {
      stuck.push(t);
      continue;
    }
    await engine.command(renameSql([[holdName(t), t]], ctx));
  }
  return stuck;
}

/**
 * Waits until no INSERT that was running into one of `tables` of `database` (by the target its
 * text names) still runs.
 */
export async function waitForInserts(
  engine: Engine,
  database: string,
  tables: readonly string[],
  timeoutMs: number,
  opts: {
    /** Where the running queries are read: `system.processes`, or `remote(...)` over a cluster. */
    processes?: string;
    timedOut?: (seconds: number) => TallyError;
  } = {},
): Promise<void> {
  const running = async () => {
    const rows = await engine.rows<{ query_id: string; query: string }>(
      `SELECT query_id, query FROM ${opts.processes ?? 'system.processes'}`,
    );
    const wanted = new Set(tables);
    return rows
      .filter((r) => {
        const target = insertTarget(r.query);
        if (!target) return false;
        // Unqualified: the writer's database is unknown here (18.16 does not say): count it.
        return wanted.has(target.table) && (target.database === undefined || target.database === database);
      })
      .map((r) => r.query_id);
  };
  const first = new Set(await running());
  const deadline = Date.now() + timeoutMs;
  while (first.size > 0) {
    if (Date.now() > deadline) {
      const seconds = Math.round(timeoutMs / 1000);
      throw (
        opts.timedOut?.(seconds) ??
        new TallyError(
          'hold-timeout',
          `INSERTs into ${tables.join(', ')} still running after ${seconds} s; deploy let them be and stopped`,
          { exitCode: 2, hint: 'run the deploy again when ingestion is quieter' },
        )
      );
    }
    await new Promise((r) => setTimeout(r, 20));
    const now = new Set(await running());
    for (const id of first) if (!now.has(id)) first.delete(id);
  }
}

/**
 * The table an INSERT statement writes into (`INSERT INTO [db.]table ...`, names bare or in
 * backquotes or double quotes), or undefined for another statement.
 */
export function insertTarget(query: string): { database?: string; table: string } | undefined {
  const ident = '(`(?:[^`\\\\]|\\\\.)*`|"(?:[^"\\\\]|\\\\.)*"|[A-Za-z_][A-Za-z0-9_]*)';
  const m = new RegExp(`^\\s*INSERT\\s+INTO\\s+(?:TABLE\\s+)?${ident}(?:\\s*\\.\\s*${ident})?`, 'i').exec(
    query,
  );
  if (!m) return undefined;
  const bare = (x: string) =>
    x.startsWith('`') || x.startsWith('"') ? x.slice(1, -1).replace(/\\(.)/g, '$1') : x;
  return m[2] === undefined ? { table: bare(m[1]!) } : { database: bare(m[1]!), table: bare(m[2]) };
}

/** `name`: a read-only Merge table over `table`'s hold, with the columns of `like`. */
function createGateSql(ctx: DdlContext, name: string, like: string, table: string): string {
  return `CREATE TABLE ${qualified(ctx, name)} AS ${qualified(ctx, like)} ENGINE = Merge(${stringLiteral(ctx.database)}, ${stringLiteral(`^${regexEscape(holdName(table))}$`)})`;
}

function regexEscape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * `tables` and every table that feeds them through a live materialized view, transitively: the
 * set to hold so that nothing at all is written into `tables` meanwhile. Upstream first: each
 * table comes after every table that feeds it, the order `holdTables` needs.
 */
export function feedingClosure(live: LiveState, tables: readonly string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (t: string) => {
    if (seen.has(t)) return;
    seen.add(t);
    for (const view of live.tables.values()) {
      if (view.engine !== 'MaterializedView' || view.viewTarget !== t) continue;
      for (const src of live.tables.values()) if (src.dependents.includes(view.name)) visit(src.name);
    }
    out.push(t);
  };
  for (const t of tables) visit(t);
  return out;
}
