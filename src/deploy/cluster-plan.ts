/**
 * What a plan says on a cluster: which node(s) run each step, and which steps are refused.
 * Statements that change a table's definition run ON CLUSTER (every node, through ZooKeeper's
 * DDL queue); data a step writes goes into a replicated table on the node Tally is connected
 * to, and the other replicas fetch it.
 */
import { TallyError } from '../errors.ts';
import type { Step, StepKind } from './plan-types.ts';

/**
 * Steps that swap tables, which Tally runs on a cluster only with Ordinary databases (18.16):
 * on an Atomic one views follow a renamed table by UUID, so the swap would leave them on the
 * backup (cluster-swap.ts).
 */
export const CLUSTER_ATOMIC_REFUSED: readonly StepKind[] = ['rebuild-table', 'replace-view'];

/** Where a step runs, for `tally deploy --check`. */
export function runsOn(kind: StepKind, cluster: string, sharded = false): string {
  switch (kind) {
    case 'backfill':
      return sharded
        ? 'every shard: each copies its rows ON CLUSTER; the result goes in through the Distributed target'
        : 'this node; replicas fetch the rows';
    case 'create-view':
      return `every node (ON CLUSTER ${cluster}); boundary checked on all`;
    case 'rebuild-table':
    case 'replace-view':
      return sharded
        ? `every node (ON CLUSTER ${cluster}); each shard copies its rows; writers paused: checked`
        : `every node (ON CLUSTER ${cluster}); the copy on this node; writers paused: checked`;
    default:
      return `every node (ON CLUSTER ${cluster})`;
  }
}

/** Why a plan with `step` is refused on a cluster of Atomic databases, and what to do instead. */
export function clusterRefusal(step: Step, cluster: string): string {
  const what =
    step.kind === 'rebuild-table'
      ? `a change that needs a new table (${step.why})`
      : `recomputing ${step.resource}'s target from its sources`;
  return new TallyError(
    'cluster-unsupported',
    `step ${step.n} (${step.what}) is ${what}, which swaps tables; on a cluster (clickhouse.cluster = ${cluster}) Tally runs swaps only in Ordinary databases (ClickHouse 18.16), and this one is Atomic: views would stay bound to the old table`,
    {
      hint: 'make the change additive (a new column with a default, a new data source and pipe), or pause ingestion and recreate the table with a new name; `tally deploy --check` shows the plan',
    },
  ).format();
}
