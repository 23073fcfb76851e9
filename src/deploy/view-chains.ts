/**
 * A materialized pipe whose source is another materialized pipe's target is a chain: the second
 * view fires on the rows the first one writes. ClickHouse 18.16 does not do that (an INSERT fires
 * the views of the table it names, not those of the targets its views write into; measured
 * here), so such a view would stay empty for ever after its backfill. Refused there, with where.
 */
import type { Capabilities } from '../clickhouse/capabilities.ts';
import { TallyError } from '../errors.ts';
import type { Project } from '../project/model.ts';
import type { ViewSpec } from './ddl.ts';

export function checkViewChains(
  project: Pick<Project, 'pipes'>,
  views: readonly ViewSpec[],
  capabilities: Capabilities,
): void {
  if (capabilities.viewsFireOnViewWrites) return;
  const feeders = new Map(views.map((v) => [v.target, v.pipe]));
  for (const v of views) {
    const upstream = feeders.get(v.source);
    if (upstream === undefined) continue;
    const pipe = project.pipes.get(v.pipe);
    throw new TallyError(
      'unsupported-on-server',
      `materialized pipe ${v.pipe} reads ${v.source}, which materialized pipe ${upstream} fills: ClickHouse ${capabilities.version} does not fire a view from rows another view wrote, so ${v.pipe} would never see a new event`,
      {
        ...(pipe?.materialize ? { location: pipe.materialize.loc } : pipe ? { location: pipe.loc } : {}),
        hint: `read from ${upstream}'s own source in ${v.pipe}, or use a ClickHouse 19 or newer (the embedded engine chains views)`,
      },
    );
  }
}
