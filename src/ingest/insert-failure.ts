/**
 * What a failed write to ClickHouse means for a retry:
 * - `unreachable`: the request was never sent (connection refused): retry as is.
 * - `ambiguous`: sent, but no answer (reset, timeout): it may have been applied; check before
 *   retrying (watermarks, seen keys).
 * - `data`: ClickHouse refused a value: find the row (bisect) and quarantine it.
 * - `view`: the rows were stored, then a view of the table failed on them (VIEW_FAILED): look
 *   up what is stored before retrying; never bisect (each half would be stored again).
 * - `server`: ClickHouse answered with another error (too many parts, memory, a missing table
 *   during a deploy, 218 "Table is dropped" when a view goes while the insert locks its views,
 *   which 18.16 throws before writing any block): nothing was written; retry later.
 */
import { NOT_SENT } from '../clickhouse/engine-error.ts';
import { isTallyError } from '../errors.ts';

export type FailureKind = 'unreachable' | 'ambiguous' | 'data' | 'server' | 'view';

/**
 * ClickHouse writes an INSERT's rows into the table first, then pushes them to the table's
 * views one by one: a view that fails (`... while pushing to view db.v`) fails the INSERT after
 * the rows are stored, with those views before it (18.16: in name order; newer servers: none)
 * holding them and the others, Tally's seen-key view among them maybe, not.
 */
const VIEW_FAILED = /while pushing to view/i;

/**
 * ClickHouse codes for a value it could not read (CANNOT_PARSE_*, TYPE_MISMATCH, out of range...).
 * A list, not "any answered error": a server error (too many parts, memory) bisected down to one
 * row would quarantine good rows. A value Tally's rules let through that ClickHouse refuses with a
 * code missing here blocks its data source until the event leaves the topic, so every parse code
 * a JSONEachRow insert can raise is listed: 25 escape sequence, 130 array, 349 NULL in a plain
 * column, 376 UUID, 441 domain value, 675 / 676 IPv4 / IPv6 (the last three of newer servers).
 */
const DATA_CODES = new Set([
  6, 25, 26, 27, 32, 38, 41, 53, 69, 70, 72, 117, 130, 131, 321, 349, 376, 407, 441, 675, 676, 691,
]);
/** Messages of those codes that mean the table does not match the model, not a bad row. */
const SCHEMA =
  /Unknown field|No such column|There is no column|Missing columns|doesn't exist|does not exist/i;

export function classifyFailure(err: unknown): FailureKind {
  const message = String((err as Error)?.message ?? err);
  // The sink's own refusal to write after a failover: nothing was sent.
  if (isTallyError(err) && err.code === 'clickhouse-moved') return 'unreachable';
  // A refused TLS handshake comes before any request: nothing was sent.
  if (isTallyError(err) && err.code === 'clickhouse-tls') return 'unreachable';
  // Refused before its INSERT: nothing was written; tried again until the process is restarted.
  if (isTallyError(err) && err.code === 'dedup-key-changed') return 'server';
  if (isTallyError(err) && err.code === 'clickhouse-unreachable') {
    return NOT_SENT.test(message) ? 'unreachable' : 'ambiguous';
  }
  const code = clickhouseCode(err);
  if (code !== undefined && VIEW_FAILED.test(message)) return 'view';
  // No ClickHouse answer (reset, timeout, a proxy's error page): it may have been applied.
  if (code === undefined) return NOT_SENT.test(message) ? 'unreachable' : 'ambiguous';
  if (DATA_CODES.has(code) && !SCHEMA.test(message)) return 'data';
  return 'server';
}

/**
 * The view named in a `while pushing to view db.v` failure, without its database: 18.16 writes
 * `db.v, e.what() = ...`, current servers `db.v.` at the end (or quoted, or with the view's UUID).
 */
export function failedViewOf(err: unknown): string | undefined {
  const m = /while pushing to view (\S+)/i.exec(String((err as Error)?.message ?? err));
  if (!m) return undefined;
  const name = m[1]!.replace(/[.,]+$/, '').replaceAll('`', '');
  return name.slice(name.indexOf('.') + 1) || undefined;
}

/** ClickHouse's numeric error code, from the error or (18.16 style) its message. */
export function clickhouseCode(err: unknown): number | undefined {
  const e = err as { clickhouseCode?: string; message?: string };
  if (e?.clickhouseCode && /^\d+$/.test(e.clickhouseCode)) return Number(e.clickhouseCode);
  const m = /Code: (\d+)/.exec(String(e?.message ?? ''));
  return m ? Number(m[1]) : undefined;
}

/** Exponential backoff with jitter: 200 ms, 400 ms, ... up to `maxMs`. */
export function backoffMs(attempt: number, initialMs = 200, maxMs = 30_000): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 20));
  return Math.round(base * (0.75 + Math.random() * 0.5));
}
