/**
 * `engine.ttl` on a server without TTL (before ClickHouse 19.6; 18.16 answers "Code: 62 Syntax
 * error ... TTL", naming no file): refused before any DDL, naming the data source and where its
 * `ttl` is written, as column-types.ts refuses a type the server lacks.
 */
import type { Capabilities } from '../clickhouse/capabilities.ts';
import { TallyError } from '../errors.ts';
import type { Project } from '../project/model.ts';

/** The release that brought table TTL (capabilities.ts `ttl`). */
const TTL_RELEASE = '19.6';

export function checkTableTtl(project: Pick<Project, 'datasources'>, capabilities: Capabilities): void {
  if (capabilities.ttl) return;
  for (const ds of project.datasources.values()) {
    if (ds.engine.ttl === undefined) continue;
    throw new TallyError(
      'unsupported-on-server',
      `data source \`${ds.name}\` sets engine.ttl (${ds.engine.ttl}): ClickHouse ${capabilities.version} has no TTL (it needs ClickHouse ${TTL_RELEASE} or newer)`,
      {
        location: ds.engine.ttlLoc ?? ds.loc,
        hint: `remove ttl and drop old partitions yourself, or use ClickHouse ${TTL_RELEASE} or newer; the embedded engine has TTL`,
      },
    );
  }
}
