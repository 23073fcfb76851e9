import { CONVERSION_CODES, EngineError, engineMessage } from '../clickhouse/engine-error.ts';
import { TallyError } from '../errors.ts';
import { locateEngineError } from '../sql/locate-engine-error.ts';
import type { ViewSpec } from './ddl.ts';

/**
 * ClickHouse's codes for a SELECT that fails on the values it reads: a division by zero (153), a
 * throwIf (395), a value that does not parse, convert or fit (6, 27, 38, 41, 69, 70, 72, 321,
 * 407), a function given what it cannot take (36, 43, 44, 53).
 */
const DATA_CODES = new Set([...CONVERSION_CODES, '36', '43', '44', '53', '153', '395', '407']);
/** The same failures as chDB words them when it gives no code. */
const DATA_MESSAGES =
  /Division by zero|throwIf|Cannot parse|Cannot convert|out of range|overflow|Illegal type/i;

/**
 * A materialized pipe's SELECT that ClickHouse refused while computing its target from the log
 * (a deploy's backfill or recompute, a replay) because of the values it read: the pipe's logic
 * failing on rows of the log, so a user error located in the pipe rather than an anonymous
 * ClickHouse failure. Anything else (the server out of disk or memory, a lost connection, too
 * many parts) is left as it is: not the pipe's to fix, and worth retrying.
 */
export function viewQueryError(view: ViewSpec, err: unknown): unknown {
  if (!(err instanceof EngineError) || !view.nodes) return err;
  const code = err.clickhouseCode ?? /Code: (\d+)/.exec(err.message)?.[1];
  if (!(code !== undefined ? DATA_CODES.has(code) : DATA_MESSAGES.test(err.message))) return err;
  const location = locateEngineError(view.nodes, err);
  return new TallyError(
    'view-query-failed',
    `materialized pipe \`${view.pipe}\` failed on ClickHouse while computing ${view.target} from ${view.source}: ${engineMessage(err)}`,
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
