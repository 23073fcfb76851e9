import { quoteString } from '../sql/render-literal.ts';
import type { Engine } from './engine.ts';

/** Column names of a table of the engine's database (empty when it does not exist). */
export async function columnsOf(engine: Engine, table: string): Promise<Set<string>> {
  const rows = await engine.rows<{ name: string }>(
    `SELECT name FROM system.columns WHERE database = ${quoteString(engine.database)} AND table = ${quoteString(table)}`,
  );
  return new Set(rows.map((r) => r.name));
}
