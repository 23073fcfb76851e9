/**
 * `tally_deployments`: one row per deploy and status change (ReplacingMergeTree on the row
 * version; read with argMax, which is exact on every server, unlike FINAL with a WHERE on 18.16).
 * It says what was applied, so the next plan can tell a change from ClickHouse's reformatting,
 * and which steps a failed deploy ran.
 */
import type { Engine } from '../clickhouse/engine.ts';
import { createTableSql, type DdlContext, qualified } from './ddl.ts';
import { TALLY_PREFIX } from './names.ts';
import type { TableSpec } from './table-spec.ts';

export const DEPLOYMENTS_TABLE = `${TALLY_PREFIX}deployments`;

export type DeploymentStatus = 'running' | 'succeeded' | 'failed';

export interface DeploymentRecord {
  id: string;
  /** ISO time. */
  startedAt: string;
  status: DeploymentStatus;
  projectHash: string;
  /** Hash per resource (`datasource:x`, `view:y`) as applied by the end of this deploy. */
  resourceHashes: Record<string, string>;
  /** The applied definition per resource, to compare field by field with the next project. */
  resourceSpecs: Record<string, unknown>;
  /** The plan's steps (JSON). */
  plan: unknown;
  /** What each step did (JSON). */
  steps: unknown;
  durationMs: number;
  error: string;
}

export const DEPLOYMENTS_SPEC: TableSpec = {
  name: DEPLOYMENTS_TABLE,
  role: 'bookkeeping',
  columns: [
    { name: 'id', type: 'String', comment: 'deployment id: UTC time and 4 random characters' },
    { name: 'started_at', type: 'DateTime', comment: 'when the deploy started (UTC)' },
    { name: 'version', type: 'UInt64', comment: 'row version: the newest row of an id is its state' },
    { name: 'status', type: 'String', comment: 'running, succeeded or failed' },
    { name: 'project_hash', type: 'String', comment: 'hash of every resource hash' },
    { name: 'resource_hashes', type: 'String', comment: 'JSON: hash per resource as applied' },
    { name: 'resource_specs', type: 'String', comment: 'JSON: definition per resource as applied' },
    { name: 'plan', type: 'String', comment: 'JSON: the planned steps' },
    { name: 'steps', type: 'String', comment: 'JSON: what each step did' },
    { name: 'duration_ms', type: 'UInt64', comment: 'wall time of the deploy' },
    { name: 'error', type: 'String', comment: 'why it failed' },
  ],
  engine: { type: 'ReplacingMergeTree', version: 'version', sortingKey: ['id'], settings: {} },
};

export function createDeploymentsTableSql(ctx: DdlContext): string {
  return createTableSql(DEPLOYMENTS_SPEC, ctx);
}

/** The recent deployments, newest first (empty when the table does not exist yet). */
export async function readDeployments(
  engine: Engine,
  ctx: DdlContext,
  limit = 20,
): Promise<DeploymentRecord[]> {
  const t = qualified(ctx, DEPLOYMENTS_TABLE);
  // On a cluster the record is replicated after the deploy that wrote it on another node: read
  // before this replica has it, the plan would redo that deploy's work (a view "no deploy
  // recorded complete" is recomputed). Best effort, for 10 s at most: a replica that cannot sync
  // (another node down) reads what it has.
  if (ctx.cluster) {
    await engine.command(`SYSTEM SYNC REPLICA ${t}`, { signal: AbortSignal.timeout(10_000) }).catch(() => {});
  }
  const rows = await engine.rows<Record<string, string | number>>(
    `SELECT id, any(started_at) AS started_at, argMax(status, version) AS status, argMax(project_hash, version) AS project_hash,
       argMax(resource_hashes, version) AS resource_hashes, argMax(resource_specs, version) AS resource_specs,
       argMax(plan, version) AS plan, argMax(steps, version) AS steps, argMax(duration_ms, version) AS duration_ms,
       argMax(error, version) AS error
     FROM ${t} GROUP BY id ORDER BY id DESC LIMIT ${Math.max(1, Math.floor(limit))}`,
  );
  return rows.map((r) => ({
    id: String(r.id),
    startedAt: String(r.started_at),
    status: String(r.status) as DeploymentStatus,
    projectHash: String(r.project_hash),
    resourceHashes: parseJson(r.resource_hashes, {}),
    resourceSpecs: parseJson(r.resource_specs, {}),
    plan: parseJson(r.plan, null),
    steps: parseJson(r.steps, null),
    durationMs: Number(r.duration_ms),
    error: String(r.error ?? ''),
  }));
}

/** Writes a deployment's state (a new row version of its id). */
export async function writeDeployment(engine: Engine, ctx: DdlContext, rec: DeploymentRecord): Promise<void> {
  await engine.insert(qualified(ctx, DEPLOYMENTS_TABLE), [
    {
      id: rec.id,
      started_at: toDateTime(rec.startedAt),
      version: Date.now() * 1000 + nextSeq(),
      status: rec.status,
      project_hash: rec.projectHash,
      resource_hashes: JSON.stringify(rec.resourceHashes),
      resource_specs: JSON.stringify(rec.resourceSpecs),
      plan: JSON.stringify(rec.plan),
      steps: JSON.stringify(rec.steps),
      duration_ms: Math.max(0, Math.round(rec.durationMs)),
      error: rec.error,
    },
  ]);
}

let seq = 0;
/** Two writes in the same millisecond still get increasing versions. */
function nextSeq(): number {
  seq = (seq + 1) % 1000;
  return seq;
}

/** `2026-11-28T06:41:30.332Z` -> `2026-11-28 06:41:30` (what DateTime parses on every server). */
function toDateTime(iso: string): string {
  return iso.replace('T', ' ').slice(0, 19);
}

function parseJson<T>(v: unknown, fallback: T): T {
  if (typeof v !== 'string' || v === '') return fallback;
  try {
    return JSON.parse(v) as T;
  } catch {
    return fallback;
  }
}
