/**
 * What the project wants in ClickHouse: a table and a quarantine table per data source, a view per
 * materialized pipe; and what is recorded of it beside them, its runtime resources (endpoints,
 * copy pipes, ingestion settings: runtime-specs.ts).
 */
import type { Project } from '../project/model.ts';
import type { DdlContext, ViewSpec } from './ddl.ts';
import { stableHash } from './hash.ts';
import { datasourceKey, viewKey } from './plan-types.ts';
import { runtimeSpecsFor } from './runtime-specs.ts';
import { quarantineSpecFor, shardingKeyFor, type TableSpec, tableSpecFor } from './table-spec.ts';
import { viewSpecsFor } from './view-spec.ts';

export interface DesiredDatasource {
  name: string;
  table: TableSpec;
  quarantine: TableSpec;
  /** Ingested from Kafka: rows that no view produced, so recomputing the table would lose them. */
  ingested: boolean;
  /** On a sharded cluster, what spreads its rows over the shards (table-spec.ts). */
  shardingKey: string;
}

export interface DesiredState {
  datasources: Map<string, DesiredDatasource>;
  /** In dependency order: a view reading another view's target comes after it. */
  views: ViewSpec[];
  /** Per resource key: the tables and views, and the runtime resources (no DDL). */
  resourceHashes: Record<string, string>;
  resourceSpecs: Record<string, unknown>;
  projectHash: string;
}

export function desiredState(
  project: Pick<Project, 'datasources' | 'pipes'> & Partial<Pick<Project, 'endpoints'>>,
  ctx: DdlContext,
): DesiredState {
  const datasources = new Map<string, DesiredDatasource>();
  const resourceHashes: Record<string, string> = {};
  const resourceSpecs: Record<string, unknown> = {};
  for (const ds of project.datasources.values()) {
    const d = {
      name: ds.name,
      table: tableSpecFor(ds),
      quarantine: quarantineSpecFor(ds),
      ingested: ds.kafka !== undefined,
      shardingKey: shardingKeyFor(ds),
    };
    datasources.set(ds.name, d);
    const spec = { table: d.table, quarantine: d.quarantine };
    resourceSpecs[datasourceKey(ds.name)] = spec;
    resourceHashes[datasourceKey(ds.name)] = stableHash(spec);
  }
  const views = dependencyOrder(viewSpecsFor(project, ctx));
  for (const v of views) {
    resourceHashes[viewKey(v.name)] = v.hash;
    resourceSpecs[viewKey(v.name)] = { pipe: v.pipe, source: v.source, target: v.target, hash: v.hash };
  }
  for (const [key, spec] of Object.entries(runtimeSpecsFor(project))) {
    resourceSpecs[key] = spec;
    resourceHashes[key] = stableHash(spec);
  }
  return { datasources, views, resourceHashes, resourceSpecs, projectHash: stableHash(resourceHashes) };
}

/** Views whose source is another view's target come after that view (stable otherwise). */
export function dependencyOrder(views: readonly ViewSpec[]): ViewSpec[] {
  const out: ViewSpec[] = [];
  const placed = new Set<string>();
  const visiting = new Set<string>();
  const visit = (v: ViewSpec) => {
    if (placed.has(v.name) || visiting.has(v.name)) return;
    visiting.add(v.name);
    for (const up of views) if (up !== v && up.target === v.source) visit(up);
    visiting.delete(v.name);
    placed.add(v.name);
    out.push(v);
  };
  for (const v of views) visit(v);
  return out;
}
