/**
 * How a live table differs from what the project wants: ALTERs where ClickHouse can change the
 * table in place, reasons to rebuild where it cannot, and what either would lose.
 *
 * ClickHouse reformats what it stores (`INTERVAL 1 DAY` comes back as `toIntervalDay(1)`), so a
 * field whose wanted value equals the value the last deploy applied counts as unchanged even when
 * the live text differs. Column names and types are always compared with the live table.
 */
import type { Capabilities } from '../clickhouse/capabilities.ts';
import { plural } from '../util/plural.ts';
import {
  addColumnCmd,
  commentColumnCmd,
  dropColumnCmd,
  modifyColumnTypeCmd,
  modifyDefaultCmd,
  modifySettingCmd,
  modifyTtlCmd,
} from './ddl.ts';
import type { LiveTable } from './introspect.ts';
import type { ColumnSpec, TableSpec } from './table-spec.ts';

export interface AlterOp {
  /** The ALTER command (after `ALTER TABLE t`). */
  command: string;
  /** One line for humans: `add column c String`. */
  what: string;
  /** Set when the command loses data. */
  loses?: string;
}

export interface TableDiff {
  alters: AlterOp[];
  /** Why the table must be rebuilt (empty: it need not). */
  rebuild: string[];
  /** Live columns the project no longer has (their data goes with a rebuild or DROP COLUMN). */
  droppedColumns: string[];
}

export function diffTable(
  want: TableSpec,
  live: LiveTable,
  applied: TableSpec | undefined,
  caps: Capabilities,
  cluster: boolean,
): TableDiff {
  const alters: AlterOp[] = [];
  const rebuild: string[] = [];
  const e = want.engine;
  const ae = applied?.engine;
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const changed = (wanted: unknown, appliedValue: unknown, liveMatches: boolean) =>
    applied !== undefined && same(wanted, appliedValue) ? false : !liveMatches;

  const engineName = `${cluster ? 'Replicated' : ''}${e.type}`;
  if (live.engine !== engineName) rebuild.push(`engine ${live.engine} -> ${engineName}`);
  const wantArgs = [e.version ?? '', (e.sumColumns ?? []).join(',')].filter(Boolean).join(',');
  const liveArgs = cluster ? stripReplicatedArgs(live.engineArgs) : live.engineArgs;
  if (changed([e.version, e.sumColumns], [ae?.version, ae?.sumColumns], norm(wantArgs) === norm(liveArgs))) {
    rebuild.push(`engine parameters (${live.engineArgs || 'none'}) -> (${wantArgs || 'none'})`);
  }
  const sorting = e.sortingKey.join(', ');
  if (changed(e.sortingKey, ae?.sortingKey, normKey(sorting) === normKey(live.sortingKey))) {
    rebuild.push(`sorting key (${live.sortingKey || 'none'}) -> (${sorting || 'none'})`);
  }
  const primary = (e.primaryKey ?? e.sortingKey).join(', ');
  if (changed(e.primaryKey, ae?.primaryKey, normKey(primary) === normKey(live.primaryKey))) {
    rebuild.push(`primary key (${live.primaryKey || 'none'}) -> (${primary || 'none'})`);
  }
  const partition = e.partitionKey ?? '';
  if (changed(e.partitionKey, ae?.partitionKey, normKey(partition) === normKey(live.partitionKey))) {
    rebuild.push(`partition key (${live.partitionKey || 'none'}) -> (${partition || 'none'})`);
  }
  if (changed(e.ttl, ae?.ttl, norm(e.ttl ?? '') === norm(live.ttl ?? ''))) {
    if (!e.ttl && !caps.alterRemoveTtl) rebuild.push('TTL removed (this server cannot REMOVE TTL)');
    else alters.push({ command: modifyTtlCmd(e.ttl), what: e.ttl ? `TTL ${e.ttl}` : 'remove TTL' });
  }
  const settingsDiff = Object.entries(e.settings).filter(([k, v]) => live.settings[k] !== String(v));
  if (settingsDiff.length > 0 && changed(e.settings, ae?.settings, false)) {
    const text = settingsDiff.map(([k, v]) => `${k} = ${v}`).join(', ');
    if (caps.alterModifySetting)
      alters.push({ command: modifySettingCmd(Object.fromEntries(settingsDiff)), what: `settings ${text}` });
    else rebuild.push(`settings ${text} (this server cannot MODIFY SETTING)`);
  }

  const liveCols = new Map(live.columns.map((c) => [c.name, c]));
  const appliedCols = new Map((applied?.columns ?? []).map((c) => [c.name, c]));
  const keyColumns = keyColumnNames([
    sorting,
    primary,
    partition,
    live.sortingKey,
    live.primaryKey,
    live.partitionKey,
  ]);
  let previous: string | undefined;
  for (const c of want.columns) {
    const l = liveCols.get(c.name);
    if (!l) {
      alters.push({ command: addColumnCmd(c, previous, !cluster), what: `add column ${c.name} ${c.type}` });
      previous = c.name;
      continue;
    }
    previous = c.name;
    const a = appliedCols.get(c.name);
    if (norm(l.type) !== norm(c.type)) {
      if (keyColumns.has(c.name)) rebuild.push(`column ${c.name} ${l.type} -> ${c.type} (a key column)`);
      else if (safeTypeChange(l.type, c.type))
        alters.push({ command: modifyColumnTypeCmd(c), what: `column ${c.name} ${l.type} -> ${c.type}` });
      else rebuild.push(`column ${c.name} ${l.type} -> ${c.type}`);
      continue;
    }
    const liveDefault = l.defaultKind === 'DEFAULT' ? l.defaultExpression : undefined;
    if (changed(c.default, a?.default, norm(liveDefault ?? '') === norm(c.default ?? ''))) {
      alters.push({
        command: modifyDefaultCmd(c, caps),
        what:
          c.default !== undefined
            ? `column ${c.name} DEFAULT ${c.default}`
            : `column ${c.name}: remove default`,
      });
    }
    // On a cluster tables carry no comments (see ddl.ts columnDefinition).
    if (!cluster && changed(c.comment ?? '', a?.comment ?? '', (c.comment ?? '') === l.comment)) {
      alters.push({ command: commentColumnCmd(c), what: `comment on ${c.name}` });
    }
  }
  const wanted = new Set(want.columns.map((c) => c.name));
  const droppedColumns = live.columns.filter((c) => !wanted.has(c.name)).map((c) => c.name);
  if (rebuild.length === 0) {
    for (const name of droppedColumns) {
      alters.push({
        command: dropColumnCmd(name),
        what: `drop column ${name}`,
        loses: `column ${name} of ${want.name} (${plural(live.rows, 'row')})`,
      });
    }
  }
  return { alters, rebuild, droppedColumns };
}

/**
 * Type changes ClickHouse converts in place without losing values: integer widening, Float32 to
 * Float64, more Decimal precision at the same scale, T to Nullable(T), String <-> LowCardinality(String).
 */
export function safeTypeChange(from: string, to: string): boolean {
  const f = norm(from);
  const t = norm(to);
  if (t === `Nullable(${f})`) return true;
  if (
    (f === 'String' && t === 'LowCardinality(String)') ||
    (f === 'LowCardinality(String)' && t === 'String')
  )
    return true;
  if (f === 'Float32' && t === 'Float64') return true;
  const int = (s: string) => /^(U?)Int(8|16|32|64|128|256)$/.exec(s);
  const fi = int(f);
  const ti = int(t);
  if (fi && ti) {
    const fb = Number(fi[2]);
    const tb = Number(ti[2]);
    if (fi[1] === ti[1]) return tb >= fb;
    return fi[1] === 'U' && ti[1] === '' && tb > fb;
  }
  const dec = (s: string) => /^Decimal\((\d+),(\d+)\)$/.exec(s);
  const fd = dec(f);
  const td = dec(t);
  if (fd && td) return fd[2] === td[2] && Number(td[1]) >= Number(fd[1]);
  return false;
}

/** Whitespace and backquotes do not count. */
export function norm(s: string): string {
  return s.replace(/[\s`]/g, '');
}

/** A key: `(a, b)`, `a, b` and `tuple()`-for-none are the same. */
export function normKey(s: string): string {
  let n = norm(s);
  if (n === 'tuple()') n = '';
  if (n.startsWith('(') && n.endsWith(')') && balanced(n.slice(1, -1))) n = n.slice(1, -1);
  return n;
}

function balanced(s: string): boolean {
  let depth = 0;
  for (const ch of s) {
    if (ch === '(') depth++;
    else if (ch === ')' && --depth < 0) return false;
  }
  return depth === 0;
}

/** `'/clickhouse/tables/{shard}/db/t', '{replica}', ver` -> `ver` */
function stripReplicatedArgs(args: string): string {
  return args.replace(/^\s*'[^']*'\s*,\s*'[^']*'\s*,?\s*/, '');
}

function keyColumnNames(keys: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const k of keys)
    for (const m of k.matchAll(/`([^`]+)`|([A-Za-z_][A-Za-z0-9_]*)/g)) names.add((m[1] ?? m[2])!);
  return names;
}

export type { ColumnSpec };
