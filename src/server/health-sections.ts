/**
 * The ingestion parts of `/health`: Kafka (consumers, group lag) and ingest (each data source
 * taking events, failing writes, views that failed on stored rows), from the ingestion's stats.
 */
import { viewName } from '../deploy/names.ts';
import type { IngestStats } from '../ingest/ingestion.ts';
import type { Project } from '../project/model.ts';
import { isAggregateState } from '../project/parse-type.ts';

interface KafkaHealth {
  ok: boolean;
  datasources: Record<
    string,
    {
      topic: string;
      group: string;
      state: string;
      lag: number | null;
      /** Seconds since the broker last answered the lag question. */
      measured_s_ago: number | null;
      error?: string;
    }
  >;
}

/** Kafka's part of `/health`, from the ingestion's view; undefined when nothing consumes Kafka. */
export function kafkaHealth(stats: IngestStats | undefined): KafkaHealth | undefined {
  if (!stats) return undefined;
  const now = Date.now();
  const datasources: KafkaHealth['datasources'] = {};
  let ok = true;
  for (const d of stats.datasources) {
    if (!d.kafka) continue;
    const g = d.groupLag;
    const error = d.kafka.error ?? g?.error;
    if (error || d.kafka.state === 'retrying' || g?.measuredAt === undefined) ok = false;
    datasources[d.name] = {
      topic: d.kafka.topic,
      group: d.kafka.group,
      state: d.kafka.state,
      lag: g?.lag ?? null,
      measured_s_ago: g?.measuredAt === undefined ? null : Math.round((now - g.measuredAt) / 1000),
      ...(error ? { error } : {}),
    };
  }
  return Object.keys(datasources).length > 0 ? { ok, datasources } : undefined;
}

interface IngestHealth {
  ok: boolean;
  datasources: Record<
    string,
    {
      /** False when the data source cannot take events (not deployed, a column it cannot read). */
      taking_events: boolean;
      /** Seconds since the first failed attempt of the write to ClickHouse failing now. */
      failing_s?: number;
      error?: string;
      /** Views that failed on rows stored since their targets were last recomputed (tally_view_failures). */
      views_missing_rows?: ViewMissingRows[];
    }
  >;
}

interface ViewMissingRows {
  view: string;
  /** The materialized pipe the view is made from, when the project has it. */
  pipe?: string;
  /** Failed writes that named the view. */
  failures: number;
  first_s_ago: number;
  last_s_ago: number;
  error: string;
  hint: string;
}

/**
 * Every data source's part of `/health` (HTTP-only ones too): whether it takes events, whether
 * its writes to ClickHouse are failing now, and which of its views failed on rows it stored;
 * undefined when nothing ingests.
 */
export function ingestHealth(
  stats: IngestStats | undefined,
  project: Pick<Project, 'pipes' | 'datasources'>,
): IngestHealth | undefined {
  if (!stats) return undefined;
  const now = Date.now();
  const ago = (t: number) => Math.max(0, Math.round((now - t) / 1000));
  const datasources: IngestHealth['datasources'] = {};
  let ok = true;
  for (const d of stats.datasources) {
    const since = d.totals.failingSince;
    const failed = Object.entries(d.viewsMissingRows ?? {});
    // Only materialized pipes fill it (aggregate states): it takes no events by design, which
    // is nothing for a load balancer to notice; listed only for views that failed on it.
    const byDesign = d.errorCode === 'ingest-unsupported' && filledByPipesOnly(project, d.name);
    if (byDesign && failed.length === 0) continue;
    let entry: IngestHealth['datasources'][string];
    if (byDesign) {
      entry = { taking_events: false };
    } else if (d.error !== undefined) {
      ok = false;
      entry = { taking_events: false, error: d.error };
    } else if (since !== undefined) {
      ok = false;
      entry = {
        taking_events: true,
        failing_s: ago(since),
        ...(d.totals.lastError ? { error: d.totals.lastError } : {}),
      };
    } else {
      entry = { taking_events: true };
    }
    if (failed.length > 0) {
      // A target that lacks rows answers wrong numbers: degraded until it is recomputed.
      ok = false;
      entry.views_missing_rows = failed.map(([view, f]) => {
        const pipe = pipeOfView(project, view);
        return {
          view,
          ...(pipe ? { pipe } : {}),
          failures: f.failures,
          first_s_ago: ago(f.firstAt),
          last_s_ago: ago(f.lastAt),
          error: f.error,
          hint: `the rows are in ${d.name}, not in what the view fills: fix ${pipe ? `pipes/${pipe}` : 'the view'}, deploy, then \`tally replay ${pipe ?? '<pipe>'} --apply\` recomputes its target (listed until a recompute, by every instance)`,
        };
      });
    }
    datasources[d.name] = entry;
  }
  return Object.keys(datasources).length > 0 ? { ok, datasources } : undefined;
}

/** A data source of aggregate states with no Kafka topic: materialized pipes fill it, events never do. */
function filledByPipesOnly(project: Pick<Project, 'datasources'>, name: string): boolean {
  const ds = project.datasources.get(name);
  return ds !== undefined && !ds.kafka && ds.columns.some((c) => isAggregateState(c.type));
}

/** The materialized pipe whose view is `view` (deploy/names.ts names it). */
function pipeOfView(project: Pick<Project, 'pipes' | 'datasources'>, view: string): string | undefined {
  for (const p of project.pipes.values())
    if (p.materialize && viewName(project, p.name) === view) return p.name;
  return undefined;
}
