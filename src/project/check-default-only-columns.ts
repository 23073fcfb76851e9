import type { Problem } from '../errors.ts';
import type { Column, DataSource, Pipe } from './model.ts';
import { isAggregateState } from './parse-type.ts';
import { pipesFilling } from './pipes-filling.ts';

/**
 * Columns of a data source that takes events, written with a literal `default:` and no `json:`.
 * Such a column is never read from the event (every row gets the default), yet it reads like
 * "$.name, or the default": warned at the column. Not for `default_expr` (a computed value such
 * as now() is meant to be computed), nor aggregate states (events never fill them), nor a column
 * a version maps a path onto (its author reads it on purpose, in that version). A data source
 * that pipes fill, and no Kafka topic, takes no events: its defaults fill what the pipes leave out.
 */
export function checkDefaultOnlyColumns(
  parts: { datasources: ReadonlyMap<string, DataSource>; pipes: ReadonlyMap<string, Pipe> },
  problems: Problem[],
): void {
  const writers = pipesFilling(parts);
  for (const ds of parts.datasources.values()) {
    if (!ds.kafka && writers.has(ds.name)) continue;
    for (const col of ds.columns) {
      if (!isDefaultOnly(col) || versionReads(ds, col.name)) continue;
      problems.push({
        severity: 'warning',
        code: 'default-not-read',
        message: `column \`${col.name}\` of \`${ds.name}\` has a default and no json, so it is never read from events: every row gets ${col.default}`,
        hint: `write json: $.${col.name} to read the field and fall back to the default`,
        location: col.loc,
      });
    }
  }
}

/** A literal `default:` and no `json:` (what the loader makes of `{ name, type, default }`). */
export function isDefaultOnly(col: Column): boolean {
  return col.json === undefined && col.defaultValue !== undefined && !isAggregateState(col.type);
}

function versionReads(ds: DataSource, column: string): boolean {
  return (ds.versions?.mappings ?? []).some((m) => m.columns.some((c) => c.column === column && c.json));
}
