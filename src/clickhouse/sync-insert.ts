import type { Engine } from './engine.ts';

const syncInsertClauses = new WeakMap<Engine, Promise<string>>();

/**
 * The SETTINGS clause of Tally's inserts (before FORMAT), from the settings the server has:
 * - `async_insert = 0` (newer releases, and chDB, which turns async inserts on by default):
 *   Tally's inserts are already batched and ordered; an async insert would wait up to 200 ms
 *   for other inserts to join it;
 * - `input_format_json_named_tuples_as_objects = 0`: a named Tuple is written as an array, which
 *   every server reads (18.16 reads only that; newer ones read objects by default).
 * '' when the server has neither.
 */
export function syncInsertClause(engine: Engine): Promise<string> {
  let p = syncInsertClauses.get(engine);
  if (!p) {
    p = engine
      .rows<{ name: string }>(
        "SELECT name FROM system.settings WHERE name IN ('async_insert', 'input_format_json_named_tuples_as_objects')",
      )
      .then((rows) => {
        const has = new Set(rows.map((r) => r.name));
        const parts = [
          ...(has.has('async_insert') ? ['async_insert = 0'] : []),
          ...(has.has('input_format_json_named_tuples_as_objects')
            ? ['input_format_json_named_tuples_as_objects = 0']
            : []),
        ];
        return parts.length > 0 ? ` SETTINGS ${parts.join(', ')}` : '';
      });
    p.catch(() => syncInsertClauses.delete(engine));
    syncInsertClauses.set(engine, p);
  }
  return p;
}
