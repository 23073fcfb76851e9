import { TallyError } from '../errors.ts';
import { quoteString } from '../sql/render-literal.ts';
import type { Settings } from './engine.ts';

/**
 * `sql` with `settings` as its own SETTINGS clause. chDB applies a client's settings with SET,
 * which outlives the query in its session; a clause is the query's alone.
 */
export function withSettingsClause(sql: string, settings: Settings | undefined): string {
  if (!settings) return sql;
  const entries = Object.entries(settings);
  if (entries.length === 0) return sql;
  const clause = entries
    .map(([k, v]) => `${settingName(k)} = ${typeof v === 'string' ? quoteString(v) : Number(v)}`)
    .join(', ');
  return `${sql.replace(/;\s*$/, '')}\nSETTINGS ${clause}`;
}

function settingName(k: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
    throw new TallyError('invalid-setting', `invalid ClickHouse setting name: ${k}`);
  return k;
}
