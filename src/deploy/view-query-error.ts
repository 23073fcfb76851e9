import { EngineError } from '../clickhouse/engine-error.ts';
import { TallyError } from '../errors.ts';
import { engineErrorLine, locateEngineError } from '../sql/locate-engine-error.ts';
import type { ViewSpec } from './ddl.ts';

/**
 * A materialized pipe's SELECT that ClickHouse refused while computing its target from the log
 * (a deploy's backfill or recompute, a replay): the pipe's logic failing on rows of the log
 * (a division by zero, a throwIf, a limit), so a user error located in the pipe rather than an
 * anonymous ClickHouse failure. A lost connection, or any other error, is left as it is.
 */
export function viewQueryError(view: ViewSpec, err: unknown): unknown {
  if (!(err instanceof EngineError) || !view.nodes) return err;
  const location = locateEngineError(view.nodes, err);
  return new TallyError(
    'view-query-failed',
    `materialized pipe \`${view.pipe}\` failed on ClickHouse while computing ${view.target} from ${view.source}: ${engineErrorLine(err)}`,
    {
      ...(location ? { location } : {}),
      hint: 'its SELECT fails on rows already in the log: change the pipe (try a node with `tally sql`) and run again',
      cause: err,
    },
  );
}

/** Runs a fill of `view`'s target, its SELECT's refusal located in the pipe (see viewQueryError). */
export async function fillingView<T>(view: ViewSpec, fill: Promise<T>): Promise<T> {
  try {
    return await fill;
  } catch (err) {
    throw viewQueryError(view, err);
  }
}
