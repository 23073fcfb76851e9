import type { Settings } from '../clickhouse/engine.ts';
import { EngineError, isConnectionFailure } from '../clickhouse/engine-error.ts';
import type { Endpoint, Pipe } from '../project/model.ts';
import { type CompiledQuery, compilePipe, ParamError, resolveParams } from '../sql/index.ts';
import { didYouMean } from '../util/did-you-mean.ts';
import { HttpError } from './http-error.ts';
import type { ServingState } from './serving-state.ts';

/** Defaults for every endpoint query; an endpoint's `limits` override them. */
export const DEFAULT_LIMITS = {
  maxExecutionTime: 10,
  maxRows: 100_000,
  maxBytes: 100 * 1024 * 1024,
  maxMemoryUsage: 2 * 1024 * 1024 * 1024,
} as const;

export type AnswerFormat = 'json' | 'csv' | 'ndjson';

/**
 * An endpoint's answer as computed once (and cached). For JSON, `body` stops inside the
 * `statistics` object, so per-response fields (freshness) are added by `finishBody` without
 * parsing or copying the data again.
 */
export interface EndpointAnswer {
  format: AnswerFormat;
  body: string;
  /** Rows in the answer (-1 when not counted: CSV and NDJSON). */
  rows: number;
  /** The last body finished from it (see finishedBody): most requests share a freshness. */
  finished?: FinishedBody & { freshnessSeconds: number | undefined };
}

/** A response body and its length in UTF-8 bytes. */
export interface FinishedBody {
  body: string;
  bytes: number;
}

/** A request's params validated and the pipe compiled: ready to run. */
export interface PreparedQuery {
  compiled: CompiledQuery;
  settings: Readonly<Settings>;
}

export interface RunHooks {
  /** ClickHouse refused or failed the query: its error code, or `unreachable`. */
  clickhouseError?(code: string): void;
}

/** Validates params and compiles the pipe; a bad param is a 400 naming it. */
export function prepareEndpoint(
  state: ServingState,
  endpoint: Endpoint,
  raw: Record<string, unknown>,
): PreparedQuery {
  const { project, engine } = state;
  const pipe = project.pipes.get(endpoint.pipe);
  if (!pipe)
    throw new HttpError(500, `endpoint \`${endpoint.name}\` reads the missing pipe \`${endpoint.pipe}\``);
  try {
    const resolved = resolveParams(pipe, raw);
    const unknown = unknownParam(endpoint.name, pipe, resolved.unknown);
    if (unknown)
      throw new HttpError(400, unknown.message, { param: unknown.param, expected: unknown.expected });
    const compiled = compilePipe(project, pipe.name, resolved, {
      capabilities: engine.capabilities,
      database: engine.database,
    });
    return { compiled, settings: limitSettings(endpoint) };
  } catch (err) {
    if (err instanceof ParamError) {
      // A required param missing beside one the endpoint does not know is most likely that one
      // misspelt (`acount_id`): the unknown one, with its "did you mean", is what to fix.
      const misspelt =
        err.code === 'missing-param'
          ? unknownParam(
              endpoint.name,
              pipe,
              Object.keys(raw).filter((k) => !pipe.params.has(k)),
            )
          : undefined;
      if (misspelt)
        throw new HttpError(400, misspelt.message, { param: misspelt.param, expected: misspelt.expected });
      throw new HttpError(400, err.message, { param: err.param, expected: err.expected });
    }
    throw err;
  }
}

/**
 * The first param a request gave that the endpoint does not declare, with the message a caller
 * gets (a misspelt optional param would silently give the answer without it). Names starting
 * with `_` are the caller's own (a cache buster, say) and are ignored.
 */
export function unknownParam(
  endpointName: string,
  pipe: Pipe,
  given: readonly string[],
): { param: string; message: string; expected: string } | undefined {
  const unknown = given.find((k) => !k.startsWith('_'));
  if (unknown === undefined) return undefined;
  const declared = [...pipe.params.keys()];
  return {
    param: unknown,
    message: `unknown param "${unknown}"${didYouMean(unknown, declared)}; endpoint \`${endpointName}\` takes ${declared.length > 0 ? declared.map((d) => `"${d}"`).join(', ') : 'no params'}`,
    expected: declared.length > 0 ? `one of ${declared.join(', ')}` : 'no params',
  };
}

/** Runs a prepared query read-only under the endpoint's limits and formats the answer. */
export async function executeEndpoint(
  state: ServingState,
  endpoint: Endpoint,
  prepared: PreparedQuery,
  format: AnswerFormat,
  hooks: RunHooks = {},
): Promise<EndpointAnswer> {
  const { engine } = state;
  const { compiled, settings } = prepared;
  const t0 = performance.now();
  try {
    if (format === 'json') {
      const text = await engine.text(compiled.sql, 'JSON', { params: { ...compiled.params }, settings });
      return { format, ...jsonAnswer(text, compiled.sql, (performance.now() - t0) / 1000) };
    }
    const body = await engine.text(compiled.sql, format === 'csv' ? 'CSVWithNames' : 'JSONEachRow', {
      params: { ...compiled.params },
      settings,
    });
    return { format, body, rows: -1 };
  } catch (err) {
    throw toHttpError(err, endpoint, hooks);
  }
}

/** Validates, compiles and runs: `prepareEndpoint` then `executeEndpoint`. */
export async function runEndpoint(
  state: ServingState,
  endpoint: Endpoint,
  raw: Record<string, unknown>,
  format: AnswerFormat,
  hooks: RunHooks = {},
): Promise<EndpointAnswer> {
  return executeEndpoint(state, endpoint, prepareEndpoint(state, endpoint, raw), format, hooks);
}

/**
 * The JSON answer from ClickHouse's `FORMAT JSON` text, its rows never parsed: ClickHouse's text
 * up to its top-level `rows` (`meta`, `data`, and `totals`/`extremes` when a query has them) as
 * it is, then `rows` and Tally's `statistics`, laid out as ClickHouse lays them out. Parsing and
 * writing it again would round every number a double cannot hold (a UInt64 past 2^53, an Int128,
 * a Decimal(38, 10)) and cost a parse and a stringify of every row. `rows_before_limit_at_least`
 * is left out. `body` stops inside `statistics`; finishBody closes it.
 */
export function jsonAnswer(
  text: string,
  sql: string,
  measuredSeconds: number,
): { body: string; rows: number } {
  // In JSON text every `"` inside a string is escaped, so `"rows":` is a key. The last one is the
  // top level's: columns named `rows` are keys of the rows of `data` and `totals`, before it, and
  // nothing after it is named so (`statistics` has `rows_read`).
  const at = text.lastIndexOf('"rows":');
  let tail: JsonTail | undefined;
  try {
    tail = at > 0 ? (JSON.parse(`{${text.slice(at)}`) as JsonTail) : undefined;
  } catch {
    tail = undefined;
  }
  if (typeof tail?.exception === 'string') {
    // Servers that write an error met mid-answer into the answer itself.
    throw new EngineError(tail.exception.trim(), /Code: (\d+)/.exec(tail.exception)?.[1], undefined, sql);
  }
  if (!tail || typeof tail.rows !== 'number') {
    throw new EngineError(
      `ClickHouse's answer is not the expected FORMAT JSON: ${JSON.stringify(text.slice(0, 200))}`,
      undefined,
      undefined,
      sql,
    );
  }
  const s = tail.statistics;
  const body =
    `${text.slice(0, at)}"rows": ${tail.rows},\n\n\t"statistics":\n\t{\n` +
    `\t\t"elapsed": ${Number(s?.elapsed ?? measuredSeconds)},\n` +
    `\t\t"rows_read": ${Number(s?.rows_read ?? 0)},\n` +
    `\t\t"bytes_read": ${Number(s?.bytes_read ?? 0)}`;
  return { body, rows: tail.rows };
}

/** What follows `data` in a `FORMAT JSON` answer. */
interface JsonTail {
  rows?: unknown;
  statistics?: { elapsed?: unknown; rows_read?: unknown; bytes_read?: unknown };
  exception?: unknown;
}

/**
 * `finishBody` with its byte length, kept on the answer for the next request that can reuse it (a
 * cached answer is sent thousands of times a second): CSV and NDJSON bodies do not depend on
 * freshness, so theirs is measured once; a JSON body changes with the freshness (whole seconds),
 * and is kept only while it is small, as a kept body is a second copy of the answer for as long
 * as the answer is cached.
 */
export function finishedBody(answer: EndpointAnswer, freshnessSeconds: number | undefined): FinishedBody {
  const last = answer.finished;
  if (answer.format !== 'json') {
    if (last !== undefined) return last;
    const made = { body: answer.body, bytes: Buffer.byteLength(answer.body), freshnessSeconds: undefined };
    answer.finished = made;
    return made;
  }
  if (last !== undefined && last.freshnessSeconds === freshnessSeconds) return last;
  const body = finishBody(answer, freshnessSeconds);
  const made = { body, bytes: Buffer.byteLength(body), freshnessSeconds };
  if (body.length <= KEEP_FINISHED_CHARS) answer.finished = made;
  return made;
}

/** Largest finished JSON body kept on its answer (characters). */
export const KEEP_FINISHED_CHARS = 64 * 1024;

/** The response body: for JSON, closes `statistics` with `freshness_s` (null when unknown). */
export function finishBody(answer: EndpointAnswer, freshnessSeconds: number | undefined): string {
  if (answer.format !== 'json') return answer.body;
  return `${answer.body},\n\t\t"freshness_s": ${freshnessSeconds ?? 'null'}\n\t}\n}\n`;
}

/** The ClickHouse settings an endpoint's queries run with: its `settings`, then the limits. */
export function limitSettings(endpoint: Endpoint): Readonly<Settings> {
  const l = endpoint.limits;
  // Frozen: the server's reader keeps the request path it built for this very object.
  return Object.freeze({
    // `https://x/y`, not `https:\/\/x\/y` (the same string to a JSON parser, not to a reader);
    // an endpoint's `settings` may ask for ClickHouse's escaping back.
    output_format_json_escape_forward_slashes: 0,
    // The endpoint's own tuning next: the loader refuses the names set below (OWNED_SETTINGS).
    ...endpoint.settings,
    readonly: 2,
    // Whole seconds: 18.16 reads 0.5 as 0, which is no limit at all.
    max_execution_time: Math.ceil(l.maxExecutionTime ?? DEFAULT_LIMITS.maxExecutionTime),
    max_result_rows: l.maxRows ?? DEFAULT_LIMITS.maxRows,
    max_result_bytes: l.maxBytes ?? DEFAULT_LIMITS.maxBytes,
    result_overflow_mode: 'throw',
    max_memory_usage: l.maxMemoryUsage ?? DEFAULT_LIMITS.maxMemoryUsage,
    // The same JSON from every server version: 64-bit integers as numbers (18.16 quotes them).
    output_format_json_quote_64bit_integers: 0,
  });
}

/** ClickHouse codes for the limits we set, mapped to a clear answer. */
const LIMIT_CODES: Record<string, { limit: string; status: 413 | 422 | 504 }> = {
  '159': { limit: 'max_execution_time', status: 504 },
  '160': { limit: 'max_execution_time', status: 504 },
  '396': { limit: 'max_result_rows / max_result_bytes', status: 413 },
  '241': { limit: 'max_memory_usage', status: 422 },
  '164': { limit: 'readonly', status: 422 },
  // Read limits an endpoint may add in its `settings`.
  '158': { limit: 'max_rows_to_read', status: 422 },
  '307': { limit: 'max_bytes_to_read', status: 422 },
};

/** The endpoint file's `limits` key of a ClickHouse limit, for the message. */
const ENDPOINT_KEYS: Record<string, string> = {
  max_result_rows: 'max_rows',
  max_result_bytes: 'max_bytes',
  max_execution_time: 'max_execution_time',
  max_memory_usage: 'max_memory_usage',
};

/** Which result limit code 396 is ("Limit for result exceeded, max rows: ..." or "max bytes: ..."). */
function resultLimit(message: string): string {
  if (/max rows/i.test(message)) return 'max_result_rows';
  if (/max bytes/i.test(message)) return 'max_result_bytes';
  return 'max_result_rows / max_result_bytes';
}

function toHttpError(err: unknown, endpoint: Endpoint, hooks: RunHooks): unknown {
  if (err instanceof EngineError) {
    const code = err.clickhouseCode ?? /Code: (\d+)/.exec(err.message)?.[1];
    hooks.clickhouseError?.(code ?? 'unknown');
    const hit = code ? LIMIT_CODES[code] : undefined;
    if (hit) {
      const limit = code === '396' ? resultLimit(err.message) : hit.limit;
      return new HttpError(
        hit.status,
        `endpoint \`${endpoint.name}\` exceeded ${limit}${ENDPOINT_KEYS[limit] ? ` (its limits.${ENDPOINT_KEYS[limit]})` : ''}`,
        { limit },
        {},
        firstLine(err.message),
      );
    }
    return new HttpError(
      500,
      `endpoint \`${endpoint.name}\` failed in ClickHouse (code ${code ?? 'unknown'})`,
      { clickhouse_code: code ?? 'unknown' },
      {},
      firstLine(err.message),
    );
  }
  if (isConnectionFailure(err)) {
    hooks.clickhouseError?.('unreachable');
    // Where ClickHouse is (its URL) is shown per caller, as ClickHouse's messages are.
    return new HttpError(503, `endpoint \`${endpoint.name}\` cannot reach ClickHouse`, {}, {}, err.message);
  }
  return err;
}

function firstLine(s: string): string {
  return (s.split('\n')[0] ?? s).slice(0, 500);
}
