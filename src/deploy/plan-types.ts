/** The shape of a deploy plan: ordered steps, and what each resource will go through. */
import type { ViewSpec } from './ddl.ts';
import type { RuntimeChange } from './runtime-changes.ts';
import type { AlterOp } from './table-diff.ts';
import type { TableSpec } from './table-spec.ts';

export type StepKind =
  /** Undo or finish what an interrupted deploy left behind (held tables, half-built tables). */
  | 'recover'
  | 'create-bookkeeping'
  | 'create-table'
  | 'alter-table'
  /** New table, copy, RENAME swap; the old table stays as a backup until the next successful deploy. */
  | 'rebuild-table'
  /** Attach a new materialized view at an exact boundary (the source's parts at that instant). */
  | 'create-view'
  /** Insert what the view would have produced from the rows before that boundary. */
  | 'backfill'
  /** Recompute a target from its views' sources into a new table and swap it in. */
  | 'replace-view'
  | 'drop-view'
  | 'drop-table'
  | 'drop-backup';

export type ResourceKind = 'datasource' | 'view' | 'tally';

export interface Step {
  /** 1-based position. */
  n: number;
  kind: StepKind;
  resource: string;
  resourceKind: ResourceKind;
  /** Other resources this step changes too (the views of a recomputed target). */
  also?: string[];
  /** What it does, one line. */
  what: string;
  /** Why it is needed, one line. */
  why: string;
  /** Loses data that Tally cannot rebuild; refused unless allowed. */
  destructive: boolean;
  /** What would be lost, one entry per table or column. */
  loses?: string[];
  /** The statements, or an outline of the protocol for composite steps. */
  sql: string[];
  /** Rows read or copied, where known from the live database. */
  rows?: number;
  /** On a cluster: which node(s) run it (see cluster-plan.ts). */
  runsOn?: string;
  // What apply needs, beyond the text.
  tables?: TableSpec[];
  table?: string;
  alters?: AlterOp[];
  view?: ViewSpec;
  views?: ViewSpec[];
  /** replace-view: the target's wanted table. */
  targetSpec?: TableSpec;
  /** rebuild-table, replace-view on a sharded cluster: the Distributed table's sharding key. */
  shardingKey?: string;
  names?: string[];
}

export type ResourceAction = 'create' | 'alter' | 'rebuild' | 'replace' | 'drop' | 'unchanged';

export interface ResourcePlan {
  name: string;
  kind: ResourceKind;
  action: ResourceAction;
  /** Step numbers that change it. */
  steps: number[];
}

export interface Plan {
  deployId: string;
  database: string;
  /** engine.description */
  server: string;
  /** `clickhouse.cluster`, when deploying to a cluster. */
  cluster?: string;
  steps: Step[];
  resources: ResourcePlan[];
  /** Steps that change something (every step does; recovery included). */
  changes: number;
  /** Things seen and left alone: objects Tally did not create, an unfinished deploy. */
  notes: string[];
  /**
   * What changes without DDL since the applied deployment (endpoints, copy pipes, data sources'
   * ingestion settings): taken up by the processes that read the files, not by ClickHouse.
   */
  runtimeChanges: RuntimeChange[];
  /**
   * Whether applying this plan records the project's runtime resources as deployed: a deploy
   * does; `tally replay --apply`, which applies one recompute of it, does not.
   */
  recordsRuntime: boolean;
  projectHash: string;
  /**
   * Hash per resource key of what the project wants: `datasource:x`, `view:y`, and the runtime
   * resources `endpoint:e`, `copy:c`, `ingest:x` (runtime-specs.ts).
   */
  resourceHashes: Record<string, string>;
  /** Definition per resource key, recorded when applied. */
  resourceSpecs: Record<string, unknown>;
  /** The newest recorded deployment, if any. */
  lastDeployment?: { id: string; status: string; startedAt: string };
}

export function datasourceKey(name: string): string {
  return `datasource:${name}`;
}

export function viewKey(name: string): string {
  return `view:${name}`;
}

export function endpointKey(name: string): string {
  return `endpoint:${name}`;
}

export function copyKey(name: string): string {
  return `copy:${name}`;
}

/** A data source's ingestion settings (what of its file is not in the table's DDL). */
export function ingestKey(name: string): string {
  return `ingest:${name}`;
}
