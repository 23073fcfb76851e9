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
  /** Writers were held off these tables for `ms`. */
  | { type: 'hold'; step: Step; tables: readonly string[]; ms: number };

export interface ApplyContext {
  engine: Engine;
  ctx: DdlContext;
  deployId: string;
  /** The database is Atomic (current servers): ATTACH wants a UUID, views bind to a source's UUID. */
  atomic: boolean;
  /** Rows per backfill INSERT. */
  chunkRows?: number;
  holdTimeoutMs?: number;
  emit: (e: DeployEvent) => void;
  /** create-view hands its snapshot and the view's columns to the backfill step after it. */
  pending: Map<string, { snapshot: Snapshot; columns: OutputColumn[] }>;
}
