/**
 * The boundary of a data step on a cluster. On one server deploy holds a table by renaming it
 * away; a rename on one node does not stop writers on the others, so a cluster deploy needs the
 * writers paused for the step instead, checks that they are before it changes anything, and
 * checks again before and after it swaps anything in (cluster-view.ts, cluster-swap.ts).
 *
 * Quiet means: no INSERT into the tables runs on any node (`system.processes` of every node),
 * and their block numbers (read from every node; those of a replicated table come from ZooKeeper
 * and only grow) do not move for a second.
 */
import { logicalName } from '../clickhouse/replicated-engine.ts';
import { TallyError } from '../errors.ts';
import type { ApplyContext } from './apply-context.ts';
import {
  type ClusterBlocks,
  clusterBlocks,
  clusterHosts,
  clusterShards,
  sameClusterBlocks,
  waitClusterInserts,
} from './cluster-nodes.ts';
import { qualified } from './ddl.ts';

/** How long the tables must stay unwritten before the step changes anything. */
export const QUIET_MS = 1000;

export interface QuietTables {
  /** Every node's `host:port`, for further looks at the cluster. */
  readonly hosts: readonly string[];
  /** The block numbers at the quiet point. */
  readonly blocks: ClusterBlocks;
  /** Waits until no INSERT into the tables that runs now on any node still runs. */
  waitInserts(): Promise<void>;
  /** Reads the block numbers of `tables` (default: the quiet tables) on every node. */
  read(tables?: readonly string[]): Promise<ClusterBlocks>;
  /** Waits for running INSERTs; true when none of the tables was written since the quiet point. */
  stillQuiet(): Promise<boolean>;
}

/**
 * Waits for INSERTs running into `tables`, then checks that nothing writes them for QUIET_MS;
 * `sync` (tables whose rows the step will read on this node) are fetched from the other replicas
 * meanwhile. A table written during that second is a `cluster-busy` error (`busy` words it);
 * nothing has been changed then.
 */
export async function awaitQuiet(
  ac: ApplyContext,
  tables: readonly string[],
  sync: readonly string[],
  busy: (detail: string, extra?: string) => TallyError,
): Promise<QuietTables> {
  const { engine, ctx } = ac;
  const waitMs = ac.holdTimeoutMs ?? 120_000;
  const [hosts, shards] = await Promise.all([
    clusterHosts(engine, ctx.cluster!),
    clusterShards(engine, ctx.cluster!),
  ]);
  const waitInserts = () => waitClusterInserts(engine, hosts, ctx.database, tables, waitMs);
  const read = (which: readonly string[] = tables) => clusterBlocks(engine, shards, ctx.database, which);
  await waitInserts();
  const first = await read();
  await new Promise((r) => setTimeout(r, QUIET_MS));
  for (const t of sync) await engine.command(`SYSTEM SYNC REPLICA ${qualified(ctx, t)}`);
  const blocks = await read();
  if (!sameClusterBlocks(first, blocks))
    throw busy(
      `${writtenOnes(first, blocks)} written (checked for ${QUIET_MS / 1000} s)`,
      '; nothing was changed',
    );
  return {
    hosts,
    blocks,
    waitInserts,
    read,
    async stillQuiet() {
      await waitInserts();
      return sameClusterBlocks(blocks, await read());
    },
  };
}

/** `t is being` / `t1, t2 are being`: the tables whose blocks moved. */
function writtenOnes(a: ClusterBlocks, b: ClusterBlocks): string {
  const moved = [...a.keys()]
    .filter((t) => !sameClusterBlocks(new Map([[t, a.get(t)!]]), new Map([[t, b.get(t)!]])))
    .map(logicalName);
  return `${moved.join(', ')} ${moved.length === 1 ? 'is' : 'are'} being`;
}

/**
 * The `cluster-busy` error of a step whose tables were written: what happened and how to pause
 * (apply prefixes the step).
 */
export function clusterBusy(paused: readonly string[], rule: string) {
  return (detail: string, extra = '') =>
    new TallyError('cluster-busy', `${detail}; ${rule}${extra}`, {
      exitCode: 2,
      hint: `pause ingestion of ${paused.join(', ')} for the deploy (stop the tally serve instances that consume it, or their writers), deploy, then start them again`,
    });
}
