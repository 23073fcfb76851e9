/**
 * What a plan says on a cluster: which node(s) run each step, and which steps are refused.
 * Statements that change a table's definition run ON CLUSTER (every node, through ZooKeeper's
 * DDL queue); data a step writes goes into a replicated table on the node Tally is connected
 * to, and the other replicas fetch it.
 */
import { TallyError } from '../errors.ts';
import type { Step, StepKind } from './plan-types.ts';

/**
 * Steps built on the write hold (renaming a table away on one server), which Tally does not run
 * across nodes yet. recover only undoes what such a step left behind, so it never occurs here.
 */
export const CLUSTER_REFUSED: readonly StepKind[] = ['rebuild-table', 'replace-view'];

/** Where a step runs, for `tally deploy --check`. */
export function runsOn(kind: StepKind, cluster: string): string {
  switch (kind) {
    case 'backfill':
      return 'this node; replicas fetch the rows';
    case 'create-view':
      return `every node (ON CLUSTER ${cluster}); boundary checked on all`;
    case 'rebuild-table':
    case 'replace-view':
      return 'refused on a cluster';
    default:
      return `every node (ON CLUSTER ${cluster})`;
  }
}

/** Why a plan with `step` is refused on a cluster, and what to do instead. */
export function clusterRefusal(step: Step, cluster: string): string {
  const what =
    step.kind === 'rebuild-table'
      ? `a change that needs a new table (${step.why})`
      : `recomputing ${step.resource}'s target from its sources`;
  return new TallyError(
    'cluster-unsupported',
    `step ${step.n} (${step.what}) is ${what}, which swaps tables under a write hold; Tally does not run the hold across the nodes of a cluster yet (clickhouse.cluster = ${cluster})`,
    {
      hint: 'make the change additive (a new column with a default, a new data source and pipe), or pause ingestion and recreate the table with a new name; `tally deploy --check` shows the plan',
    },
  ).format();
}
