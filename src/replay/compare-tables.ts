/** Compares a live target with its replayed shadow per key: counts, and samples of each kind. */
import type { Engine } from '../clickhouse/engine.ts';
import type { TableSpec } from '../deploy/table-spec.ts';
import {
  type DiffKind,
  diffCountsQuery,
  diffSampleQuery,
  keyAndValues,
  keyCountQuery,
  readDiffRow,
} from './target-diff-sql.ts';

export interface KeyDiff {
  key: Record<string, unknown>;
  /** Finalized values in the live target (absent for an added key). */
  live?: Record<string, unknown>;
  /** Finalized values after the replay (absent for a removed key). */
  replayed?: Record<string, unknown>;
}

export interface TargetDiff {
  /** The key columns (the target's sorting key). */
  key: string[];
  liveKeys: number;
  replayedKeys: number;
  counts: Record<DiffKind, number>;
  samples: Record<DiffKind, KeyDiff[]>;
}

export async function compareTables(
  engine: Engine,
  live: string,
  shadow: string,
  spec: Pick<TableSpec, 'columns' | 'engine'>,
  opts: { sample: number },
): Promise<TargetDiff> {
  const shape = { columns: spec.columns, engine: spec.engine };
  const [counts] = await engine.rows<Record<DiffKind, string | number>>(diffCountsQuery(live, shadow, shape));
  const [liveKeys] = await engine.rows<{ n: string | number }>(keyCountQuery(live, shape));
  const [replayedKeys] = await engine.rows<{ n: string | number }>(keyCountQuery(shadow, shape));
  const samples: Record<DiffKind, KeyDiff[]> = { added: [], removed: [], changed: [] };
  for (const kind of ['added', 'removed', 'changed'] as const) {
    if (opts.sample <= 0 || Number(counts?.[kind] ?? 0) === 0) continue;
    const rows = await engine.rows(diffSampleQuery(live, shadow, shape, kind, opts.sample));
    samples[kind] = rows.map((r) => {
      const d = readDiffRow(r, shape);
      return {
        key: d.key,
        ...(d.live ? { live: d.live } : {}),
        ...(d.shadow ? { replayed: d.shadow } : {}),
      };
    });
  }
  return {
    key: keyAndValues(shape).keys,
    liveKeys: Number(liveKeys?.n ?? 0),
    replayedKeys: Number(replayedKeys?.n ?? 0),
    counts: {
      added: Number(counts?.added ?? 0),
      removed: Number(counts?.removed ?? 0),
      changed: Number(counts?.changed ?? 0),
    },
    samples,
  };
}
