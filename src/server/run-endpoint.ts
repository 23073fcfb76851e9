import { EngineError } from '../clickhouse/engine-error.ts';
import type { Settings } from '../clickhouse/engine.ts';
import type { Endpoint } from '../project/model.ts';
import { type CompiledQuery, compilePipe, ParamError, resolveParams } from '../sql/index.ts';
import { HttpError } from './http-error.ts';
import type { ServingState } from './serving-state.ts';

/** Defaults for every endpoint query; an endpoint's `limits` override them. */
export const DEFAULT_LIMITS = {
  maxExecutionTime: 10,
  maxRows: 100_000,
  maxBytes: 100 * 1024 * 1024,
  maxMemoryUsage: 2 * 1024 * 1024 * 1024,
} as const;

export interface EndpointAnswer {
  body: string;
  rows: number;
}

/** Validates params, compiles the pipe, runs it read-only under limits, formats the answer. */
export async function runEndpoint(
  state: ServingState,
  endpoint: Endpoint,
  raw: Record<string, unknown>,
  format: 'json' | 'csv' | 'ndjson',
): Promise<EndpointAnswer> {
  const { project, engine } = state;
  const pipe = project.pipes.get(endpoint.pipe);
  if (!pipe) throw new HttpError(500, `endpoint \`${endpoint.name}\` reads the missing pipe \`${endpoint.pipe}\``);

  let compiled: CompiledQuery;
  try {
    const resolved = resolveParams(pipe, raw);
    compiled = compilePipe(project, pipe.name, resolved, {
      capabilities: engine.capabilities,
      database: engine.database,
    });
  } catch (err) {
    if (err instanceof ParamError) {
      throw new HttpError(400, err.message, { param: err.param, expected: err.expected });
    }
    throw err;
  }

  const settings = limitSettings(endpoint);
  const t0 = performance.now();
  try {
    if (format === 'json') {
      const res = await engine.query(compiled.sql, { params: { ...compiled.params }, settings });
      const statistics = {
        elapsed: res.statistics?.elapsed ?? (performance.now() - t0) / 1000,
        rows_read: res.statistics?.rows_read ?? 0,
        bytes_read: res.statistics?.bytes_read ?? 0,
      };
      return { body: JSON.stringify({ meta: res.meta, data: res.data, rows: res.rows, statistics }), rows: res.rows };
    }
    const body = await engine.text(compiled.sql, format === 'csv' ? 'CSVWithNames' : 'JSONEachRow', {
      params: { ...compiled.params },
      settings,
    });
    return { body, rows: -1 };
  } catch (err) {
    throw limitError(err, endpoint) ?? err;
  }
}

function limitSettings(endpoint: Endpoint): Settings {
  const l = endpoint.limits;
  return {
    readonly: 2,
    max_execution_time: l.maxExecutionTime ?? DEFAULT_LIMITS.maxExecutionTime,
    max_result_rows: l.maxRows ?? DEFAULT_LIMITS.maxRows,
    max_result_bytes: l.maxBytes ?? DEFAULT_LIMITS.maxBytes,
    result_overflow_mode: 'throw',
    max_memory_usage: l.maxMemoryUsage ?? DEFAULT_LIMITS.maxMemoryUsage,
    // The same JSON from every server version: 64-bit integers as numbers (18.16 quotes them).
    output_format_json_quote_64bit_integers: 0,
  };
}

/** ClickHouse codes for the limits we set, mapped to a clear answer. */
const LIMIT_CODES: Record<string, { limit: string; status: 413 | 422 | 504 }> = {
  '159': { limit: 'max_execution_time', status: 504 },
  '160': { limit: 'max_execution_time', status: 504 },
  '396': { limit: 'max_result_rows / max_result_bytes', status: 413 },
  '241': { limit: 'max_memory_usage', status: 422 },
  '164': { limit: 'readonly', status: 422 },
};

function limitError(err: unknown, endpoint: Endpoint): HttpError | undefined {
  if (!(err instanceof EngineError)) return undefined;
  const code = err.clickhouseCode ?? /Code: (\d+)/.exec(err.message)?.[1];
  const hit = code ? LIMIT_CODES[code] : undefined;
  if (hit) {
    return new HttpError(hit.status, `endpoint \`${endpoint.name}\` exceeded ${hit.limit}: ${firstLine(err.message)}`, {
      limit: hit.limit,
    });
  }
  return new HttpError(500, `endpoint \`${endpoint.name}\` failed in ClickHouse: ${firstLine(err.message)}`);
}

function firstLine(s: string): string {
  return (s.split('\n')[0] ?? s).slice(0, 500);
}
