/**
 * Endpoint `settings` the server does not know: refused at deploy, naming the endpoint file and
 * line, instead of every request to that endpoint failing with ClickHouse's "Unknown setting".
 * The names differ between releases (18.16 lacks many of today's), so they are checked against
 * the server's own `system.settings`.
 */
import type { Engine } from '../clickhouse/engine.ts';
import { TallyError } from '../errors.ts';
import type { Project } from '../project/model.ts';
import { stringLiteral } from './ddl.ts';

export async function checkEndpointSettings(
  project: Pick<Project, 'endpoints'>,
  engine: Engine,
): Promise<void> {
  const used = new Set<string>();
  for (const e of project.endpoints.values()) for (const name of Object.keys(e.settings)) used.add(name);
  if (used.size === 0) return;
  const rows = await engine.rows<{ name: string }>(
    `SELECT name FROM system.settings WHERE name IN (${[...used].map(stringLiteral).join(', ')})`,
  );
  const known = new Set(rows.map((r) => r.name));
  for (const e of project.endpoints.values()) {
    for (const name of Object.keys(e.settings)) {
      if (known.has(name)) continue;
      const location = e.settingsLoc?.[name];
      throw new TallyError(
        'unsupported-on-server',
        `endpoint \`${e.name}\` sets \`${name}\`, which ClickHouse ${engine.capabilities.version} does not have`,
        {
          ...(location ? { location } : {}),
          hint: 'check the name in system.settings of this server, or remove it',
        },
      );
    }
  }
}
