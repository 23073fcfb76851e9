/** What the step executors share while a deploy applies its plan. */
import type { Engine } from '../clickhouse/engine.ts';
import type { OutputColumn } from './attach.ts';
import type { BackfillProgress, Snapshot } from './backfill.ts';
import type { DdlContext } from './ddl.ts';
import type { Step } from './plan-types.ts';

export type DeployEvent =
  | { type: 'step-start'; step: Step }
  | { type: 'step-done'; step: Step; ms: number }
  | { type: 'step-failed'; step: Step; error: string }
  | { type: 'backfill'; step: Step; progress: BackfillProgress }
  /**
   * Writers were held off these tables for `ms`; `database`: every in-process writer of the
   * database waited (the embedded engine's write gate), not only those of `tables`.
   */
  | { type: 'hold'; step: Step; tables: readonly string[]; ms: number; database?: true };

export interface ApplyContext {
  engine: Engine;
  ctx: DdlContext;
  deployId: string;
  /** The database is Atomic (current servers): ATTACH wants a UUID, views bind to a source's UUID. */
  atomic: boolean;
  /** Rows per backfill INSERT. */
  chunkRows?: number;
  holdTimeoutMs?: number;
  /** See ApplyOptions (tests only). */
  afterClusterViewCreated?: () => Promise<void>;
  /** See ApplyOptions (tests only). */
  beforeClusterSwap?: () => Promise<void>;
  emit: (e: DeployEvent) => void;
  /**
   * create-view hands the backfill step after it the view's columns and its boundary: a snapshot
   * of the source (server), or the closed write gate to reopen once filled (embedded).
   */
  pending: Map<
    string,
    {
      snapshot?: Snapshot;
      reopenGate?: () => void;
      gateClosedAt?: number;
      /** A sharded cluster's backfill, over the shards' snapshot (shard-snapshot.ts). */
      fill?: () => Promise<void>;
      columns: OutputColumn[];
    }
  >;
}
