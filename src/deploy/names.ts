/**
 * Names of the ClickHouse objects deploy creates around a project's own tables. One place, so
 * the planner, the applier and crash recovery agree on what a leftover is.
 */
import { shardTableName } from '../clickhouse/replicated-engine.ts';
import type { Project } from '../project/model.ts';

/** Prefix of Tally's own bookkeeping tables (DESIGN: `tally_`). */
export const TALLY_PREFIX = 'tally_';

/** The keys of a data source's stored rows, for dedup (ingest/ingest-tables.ts fills it). */
export function seenTableName(ds: string): string {
  return `tally_seen_${ds}`;
}

/** `prefix` followed by the 8-hex hash ingestion names its views and probe tables with. */
export function isHashedName(name: string, prefix: string): boolean {
  return name.startsWith(prefix) && /^[0-9a-f]{8}$/.test(name.slice(prefix.length));
}

/**
 * What ingestion keeps beside data source `ds`, among `names` (ingest/ingest-tables.ts makes
 * them): the views over its tables that mark what is stored (seen keys, offset marks), its probe
 * tables, and its seen-keys table (with its table per shard). They go when the data source goes:
 * keys left behind would make a data source created again under the name drop every event sent
 * to it before as a duplicate.
 */
export function ingestStateOf(ds: string, names: Iterable<string>): { views: string[]; tables: string[] } {
  const seen = seenTableName(ds);
  const viewPrefixes = [`${seen}_mv_`, `tally_wm_${ds}_`, `tally_wmq_${ds}_`];
  const views: string[] = [];
  const tables: string[] = [];
  for (const n of names) {
    if (viewPrefixes.some((p) => isHashedName(n, p))) views.push(n);
    else if (isHashedName(n, `tally_probe_${ds}_`) || n === seen || n === shardTableName(seen))
      tables.push(n);
  }
  return { views: views.sort(), tables: tables.sort() };
}

/** A table renamed away so that no INSERT can start on it (see hold.ts). */
export function holdName(table: string): string {
  return `${table}__tally_hold`;
}

/** A table being built by a rebuild or a recompute, swapped in when complete. */
export function nextName(table: string): string {
  return `${table}__tally_next`;
}

/**
 * The ZooKeeper path name of a deploy's next table on a cluster: unique per deploy, because the
 * table keeps it once swapped in, and the next rebuild's next table must not collide with it.
 */
export function nextPathName(table: string, deployId: string): string {
  return `${nextName(table)}_${deployId}`;
}

/** A table swapped out to be dropped at once (crash recovery's refill); a leftover is dropped. */
export function discardName(table: string): string {
  return `${table}__tally_discard`;
}

/** The previous table after a rebuild, kept until the next successful deploy. */
export function backupName(table: string, deployId: string): string {
  return `${table}__backup_${deployId}`;
}

/** A shadow materialized view that fills `nextName(target)` during a recompute. */
export function shadowViewName(view: string): string {
  return `${view}__tally_next`;
}

/** During a hold on an Ordinary database: the stand-in that keeps the table's name taken (see hold.ts). */
export function gateName(table: string): string {
  return `${table}__tally_gate`;
}

/** A materialized view that copies new rows into `nextName(table)` while a rebuild copies the old ones. */
export function copyViewName(table: string): string {
  return `${table}__tally_copy`;
}

/** The database that holds the snapshots a backfill reads (same table names as the sources). */
export function scratchDatabaseName(database: string): string {
  return `${database}__tally_backfill`;
}

const HOLD = /^(.+)__tally_hold$/;
// On a sharded cluster a next table has a table per shard too (`<t>__tally_next__tally_shard`).
const NEXT = /^(.+?)__tally_(?:next|copy|gate|discard)(?:__tally_shard)?$/;
const BACKUP = /^(.+)__backup_(\d{17}_[a-z0-9]{4})$/;

/** What an object name says about itself: a project object or one of deploy's leftovers. */
export type NameRole =
  | { role: 'hold'; of: string }
  /** A half-built table, a shadow or copy view, a gate not in place: dropped by recovery. */
  | { role: 'next'; of: string }
  | { role: 'backup'; of: string; deployId: string }
  | { role: 'tally' }
  | { role: 'other' };

export function nameRole(name: string): NameRole {
  let m = HOLD.exec(name);
  if (m) return { role: 'hold', of: m[1]! };
  m = NEXT.exec(name);
  if (m) return { role: 'next', of: m[1]! };
  m = BACKUP.exec(name);
  if (m) return { role: 'backup', of: m[1]!, deployId: m[2]! };
  if (name.startsWith(TALLY_PREFIX)) return { role: 'tally' };
  return { role: 'other' };
}

/**
 * The project view whose target lacks the rows that the failing view `name` did not write, when
 * recomputing that target (a deploy's replace-view, `tally replay --apply`) refills them: the
 * view itself, or the view a recompute's shadow stands for. Undefined for deploy's copy views
 * (the rows are missing from a rebuilt table, which no recompute refills) and Tally's own views.
 */
export function healableViewOf(name: string): string | undefined {
  const shadow = /^(.+)__tally_next$/.exec(name);
  if (shadow) return shadow[1];
  return nameRole(name).role === 'other' ? name : undefined;
}

/**
 * The materialized view of a pipe is named after the pipe, so `SHOW TABLES` reads like the
 * project. A pipe may share its name with the data source it fills (`account_balances` into
 * `account_balances`); its view is then `<pipe>_mv`.
 */
export function viewName(project: Pick<Project, 'datasources'>, pipe: string): string {
  return project.datasources.has(pipe) ? `${pipe}_mv` : pipe;
}

let lastStamp = 0;

/**
 * A sortable deployment id: UTC time to the millisecond and 4 random characters. Ids made by one
 * process always increase, so the newest deployment sorts last even within a millisecond.
 */
export function newDeployId(now = new Date()): string {
  const ms = Math.max(now.getTime(), lastStamp + 1);
  lastStamp = ms;
  const stamp = new Date(ms)
    .toISOString()
    .replace(/[-:T.Z]/g, '')
    .slice(0, 17);
  return `${stamp}_${Math.random().toString(36).slice(2, 6).padEnd(4, '0')}`;
}
