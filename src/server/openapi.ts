/**
 * The OpenAPI 3.1 document of a served project: one path per endpoint and format, GET with query
 * params and POST with a JSON body, params as JSON Schema from their declared ClickHouse types,
 * and the JSON answer with the endpoint's output columns when ClickHouse has told us them.
 *
 * Type mapping (docs/http.md):
 * - (U)Int8..(U)Int256: `integer` with the type's range (exact, also past 2^53) intersected
 *   with the param's min/max.
 * - Float32/64: `number`. Decimal(P, S): a `string` of exact digits with a pattern for P and S
 *   (JSON numbers are accepted too, but binary floats cannot carry every decimal exactly).
 * - Date: `string`, format `date`. DateTime: `string` matching `YYYY-MM-DD hh:mm:ss` (UTC),
 *   the same with `T`, either with a fraction and `Z` or an offset (none: UTC), or epoch seconds.
 * - Boolean: `boolean`. Nullable(T): T or null. Array(T): `array` of T, comma-separated in a
 *   query string (`style: form, explode: false`) or a JSON array.
 * Defaults and enum values are written as their schema types them (schemaValue).
 */
import { basename } from 'node:path';
import type { ColumnMeta, Engine } from '../clickhouse/engine.ts';
import type { Endpoint, Param, Project, TypeNode } from '../project/model.ts';
import { parseType } from '../project/parse-type.ts';
import { compilePipe, MAX_ARRAY_ITEMS, type ParamType, paramType, sampleParams } from '../sql/index.ts';
import { limitSettings } from './run-endpoint.ts';
import type { ServingState } from './serving-state.ts';

export type JsonSchema = Record<string, unknown>;

export interface OpenApiOptions {
  /** `info.version`: the served project version. */
  version: string;
  /** Base URL of the server (from the request), for `servers`. */
  serverUrl?: string;
  /** Tokens are configured: every endpoint needs one. */
  secured: boolean;
  /** Output columns per endpoint, where known. */
  columns?: ReadonlyMap<string, readonly ColumnMeta[] | undefined>;
}

const CONTENT: Record<string, string> = {
  json: 'application/json',
  csv: 'text/csv',
  ndjson: 'application/x-ndjson',
};

/** The OpenAPI 3.1 document; serialize it with `openApiJson` (it may hold bigints). */
export function buildOpenApi(project: Project, opts: OpenApiOptions): JsonSchema {
  const paths: Record<string, unknown> = {};
  const names = [...project.endpoints.keys()].sort();
  for (const name of names) {
    const endpoint = project.endpoints.get(name)!;
    const pipe = project.pipes.get(endpoint.pipe);
    const params = pipe ? [...pipe.params.values()] : [];
    for (const format of endpoint.formats) {
      paths[`/v0/pipes/${name}.${format}`] = {
        get: operation(endpoint, format, 'get', params, opts),
        post: operation(endpoint, format, 'post', params, opts),
      };
    }
  }
  const doc: JsonSchema = {
    openapi: '3.1.0',
    info: {
      title: `${project.config.name ?? basename(project.root)}: Tally endpoints`,
      version: opts.version,
      description:
        'Endpoints served by Tally. Each answers GET with query params or POST with a JSON object of params.',
    },
    ...(opts.serverUrl ? { servers: [{ url: opts.serverUrl }] } : {}),
    tags: [{ name: 'endpoints', description: 'Pipes served as HTTP endpoints' }],
    paths,
    components: {
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: { type: 'string', description: 'What went wrong, in words a caller can act on' },
            param: { type: 'string', description: 'The param at fault (400)' },
            expected: { type: 'string', description: 'What a valid value of that param looks like (400)' },
            limit: { type: 'string', description: 'The ClickHouse limit exceeded (413, 422, 504)' },
            clickhouse_code: {
              type: 'string',
              description: "ClickHouse's error code, as text; `unknown` when it gave none (500)",
            },
            staleness_s: { type: 'integer', description: 'Measured staleness in seconds (503)' },
            max_staleness_s: { type: 'number', description: "The endpoint's max_staleness in seconds (503)" },
          },
        },
        ColumnMeta: {
          type: 'object',
          required: ['name', 'type'],
          properties: { name: { type: 'string' }, type: { type: 'string', description: 'ClickHouse type' } },
        },
        Statistics: {
          type: 'object',
          required: ['elapsed', 'rows_read', 'bytes_read', 'freshness_s'],
          properties: {
            elapsed: { type: 'number', description: 'Seconds ClickHouse spent' },
            rows_read: { type: 'integer' },
            bytes_read: { type: 'integer' },
            freshness_s: {
              type: ['integer', 'null'],
              description:
                'Age in seconds of the last ingested batch of the stalest data source read; null when unknown',
            },
          },
        },
      },
      ...(opts.secured
        ? {
            securitySchemes: {
              bearer: { type: 'http', scheme: 'bearer', description: 'A token from tally.yaml' },
              tokenQuery: {
                type: 'apiKey',
                in: 'query',
                name: 'token',
                description: 'The same token as `?token=`',
              },
            },
          }
        : {}),
    },
  };
  return doc;
}

/** JSON text of a document built here: bigints (exact integer bounds) as JSON numbers. */
export function openApiJson(doc: unknown): string {
  return JSON.stringify(doc, (_k, v) => (typeof v === 'bigint' ? `\u0000big:${v}` : v)).replace(
    /"\\u0000big:(-?\d+)"/g,
    '$1',
  );
}

function operation(
  endpoint: Endpoint,
  format: string,
  method: 'get' | 'post',
  params: Param[],
  opts: OpenApiOptions,
): JsonSchema {
  const summary = endpoint.description
    ? firstSentence(endpoint.description)
    : `The ${endpoint.name} endpoint`;
  const op: JsonSchema = {
    operationId: `${endpoint.name}_${format}_${method}`,
    tags: ['endpoints'],
    summary,
    ...(endpoint.description ? { description: endpoint.description } : {}),
  };
  if (method === 'get') {
    if (params.length > 0) op.parameters = params.map(queryParameter);
  } else {
    op.requestBody = {
      required: params.some((p) => p.required && p.default === undefined),
      content: {
        'application/json': {
          schema: {
            type: 'object',
            properties: Object.fromEntries(params.map((p) => [p.name, fullParamSchema(p)])),
            ...(requiredNames(params).length > 0 ? { required: requiredNames(params) } : {}),
            // JSON Schema's own word for "given only with": what `requires:` declares.
            ...(params.some((p) => p.requires)
              ? {
                  dependentRequired: Object.fromEntries(
                    params.filter((p) => p.requires).map((p) => [p.name, [...p.requires!]]),
                  ),
                }
              : {}),
          },
        },
      },
    };
  }
  op.responses = responses(endpoint, format, opts);
  if (opts.secured) op.security = [{ bearer: [] }, { tokenQuery: [] }];
  return op;
}

function requiredNames(params: Param[]): string[] {
  return params.filter((p) => p.required && p.default === undefined).map((p) => p.name);
}

function queryParameter(p: Param): JsonSchema {
  const t = paramType(p.type);
  const isArray = (t.kind === 'nullable' ? t.inner : t).kind === 'array';
  const description = describedParam(p);
  return {
    name: p.name,
    in: 'query',
    required: p.required && p.default === undefined,
    ...(description ? { description } : {}),
    ...(isArray ? { style: 'form', explode: false } : {}),
    schema: fullParamSchema(p),
  };
}

/** A param's schema with its description and default. */
function fullParamSchema(p: Param): JsonSchema {
  const description = describedParam(p);
  return {
    ...paramSchema(p),
    ...(description ? { description } : {}),
    ...(p.default !== undefined ? { default: schemaValue(paramType(p.type), p.default) } : {}),
  };
}

/**
 * A value the project wrote (a default, an enum value) typed as the param's schema says: YAML
 * reads `default: 0` of a Decimal, or epoch seconds of a DateTime, as a number where the schema
 * says string, and the loader keeps an integer past 2^53 as a string where it says integer.
 */
function schemaValue(t: ParamType, v: unknown): unknown {
  if (v === null || v === undefined) return v;
  switch (t.kind) {
    case 'nullable':
      return schemaValue(t.inner, v);
    case 'array':
      return Array.isArray(v) ? v.map((x) => schemaValue(t.element, x)) : v;
    case 'int':
      return typeof v === 'string' ? exact(BigInt(v)) : v;
    case 'string':
    case 'decimal':
    case 'date':
    case 'datetime':
      return typeof v === 'string' ? v : String(v);
    case 'float':
    case 'bool':
      return v;
  }
}

/** The param's description, with what it must be given with (JSON Schema cannot say it per property). */
function describedParam(p: Param): string | undefined {
  if (!p.requires) return p.description;
  const needs = `Only together with ${p.requires.map((n) => `\`${n}\``).join(' and ')}.`;
  return p.description ? `${p.description}. ${needs}` : needs;
}

/** The JSON Schema of a param's values: its type, enum and min/max. */
export function paramSchema(p: Param): JsonSchema {
  return { ...typeSchema(paramType(p.type), p), 'x-clickhouse-type': p.type.text };
}

function typeSchema(t: ParamType, p: Param): JsonSchema {
  const enumOf = p.enum && p.enum.length > 0 ? { enum: p.enum.map((v) => schemaValue(t, v)) } : {};
  switch (t.kind) {
    case 'string':
      return { type: 'string', ...enumOf };
    case 'int': {
      const lo = p.min === undefined ? t.min : maxBig(t.min, BigInt(Math.ceil(p.min)));
      const hi = p.max === undefined ? t.max : minBig(t.max, BigInt(Math.floor(p.max)));
      return {
        type: 'integer',
        format: t.name.toLowerCase(),
        minimum: exact(lo),
        maximum: exact(hi),
        ...enumOf,
      };
    }
    case 'float':
      return {
        type: 'number',
        format: t.bits === 32 ? 'float' : 'double',
        ...(p.min !== undefined ? { minimum: p.min } : {}),
        ...(p.max !== undefined ? { maximum: p.max } : {}),
        ...enumOf,
      };
    case 'decimal': {
      // Only the bounds set: a missing one is no bound, not a null one.
      const bounds = {
        ...(p.min !== undefined ? { 'x-minimum': p.min } : {}),
        ...(p.max !== undefined ? { 'x-maximum': p.max } : {}),
      };
      return {
        type: 'string',
        format: 'decimal',
        pattern: decimalPattern(t.precision, t.scale),
        description: `Decimal(${t.precision}, ${t.scale}): at most ${t.precision - t.scale} digits before the point and ${t.scale} after`,
        ...bounds,
        ...enumOf,
      };
    }
    case 'bool':
      return { type: 'boolean' };
    case 'date':
      return { type: 'string', format: 'date', pattern: '^\\d{4}-\\d{2}-\\d{2}$', ...enumOf };
    case 'datetime':
      return {
        type: 'string',
        pattern: DATETIME_PATTERN,
        description:
          'YYYY-MM-DD hh:mm:ss or YYYY-MM-DDThh:mm:ss, with an optional fraction and Z or offset (none: UTC), or epoch seconds',
        // The examples are of any DateTime: with an enum they would be values it refuses.
        ...(p.enum && p.enum.length > 0
          ? enumOf
          : { examples: ['2024-03-12 08:00:00', '2024-03-12T08:00:00Z', '1710230400'] }),
      };
    case 'nullable':
      return { anyOf: [typeSchema(t.inner, p), { type: 'null' }] };
    case 'array':
      return { type: 'array', items: typeSchema(t.element, p), maxItems: MAX_ARRAY_ITEMS };
  }
}

const DATETIME_PATTERN =
  '^(\\d{4}-\\d{2}-\\d{2}[ T]\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?(Z|[+-]\\d{2}(:?\\d{2})?)?|\\d{1,10})$';

/** Exact digits within Decimal(P, S): leading zeros and trailing fraction zeros are fine. */
export function decimalPattern(precision: number, scale: number): string {
  const intDigits = precision - scale;
  const int = intDigits === 0 ? '0+' : `0*[0-9]{1,${intDigits}}`;
  const frac = scale === 0 ? '(\\.0+)?' : `(\\.[0-9]{1,${scale}}0*)?`;
  return `^-?${int}${frac}$`;
}

/** The JSON Schema of a value ClickHouse writes for a column of type `type` in FORMAT JSON. */
export function columnSchema(type: string): JsonSchema {
  const parsed = parseType(type);
  if (!parsed.ok) return { 'x-clickhouse-type': type };
  return { ...nodeSchema(parsed.type), 'x-clickhouse-type': type };
}

const INT_NAMES = /^U?Int(8|16|32|64|128|256)$/;

function nodeSchema(t: TypeNode): JsonSchema {
  const inner = t.args[0]?.kind === 'type' ? t.args[0].type : undefined;
  if (t.name === 'Nullable' && inner) return { anyOf: [nodeSchema(inner), { type: 'null' }] };
  if (t.name === 'LowCardinality' && inner) return nodeSchema(inner);
  if (t.name === 'Array' && inner) return { type: 'array', items: nodeSchema(inner) };
  const int = INT_NAMES.exec(t.name);
  if (int) {
    // 64-bit integers are sent as numbers (output_format_json_quote_64bit_integers = 0); wider
    // ones may still come quoted.
    return Number(int[1]) > 64 ? { type: ['integer', 'string'] } : { type: 'integer' };
  }
  if (t.name === 'Float32' || t.name === 'Float64') return { type: ['number', 'null'] };
  if (/^Decimal(32|64|128|256)?$/.test(t.name)) return { type: 'number' };
  if (t.name === 'Bool' || t.name === 'Boolean') return { type: 'boolean' };
  if (t.name === 'Date' || t.name === 'Date32') return { type: 'string', format: 'date' };
  if (t.name === 'DateTime' || t.name === 'DateTime64') return { type: 'string' };
  if (t.name === 'String' || t.name === 'FixedString' || t.name === 'UUID' || t.name.startsWith('IPv')) {
    return { type: 'string' };
  }
  if (t.name === 'Enum8' || t.name === 'Enum16') {
    const names = t.args.flatMap((a) => (a.kind === 'enum' ? [a.name] : []));
    return { type: 'string', ...(names.length > 0 ? { enum: names } : {}) };
  }
  if (t.name === 'Map') return { type: 'object' };
  return {};
}

function responses(endpoint: Endpoint, format: string, opts: OpenApiOptions): JsonSchema {
  const headers = {
    'X-Tally-Freshness': {
      description: 'Seconds since the last ingested batch of the stalest data source read, or `unknown`',
      schema: { type: 'string', pattern: '^(\\d+|unknown)$' },
    },
    'X-Tally-Cache': {
      description: '`hit`, `miss`, or `off`',
      schema: { type: 'string', enum: ['hit', 'miss', 'off'] },
    },
    'X-Request-Id': { description: 'The request id, also in the logs', schema: { type: 'string' } },
  };
  const columns = opts.columns?.get(endpoint.name);
  const row: JsonSchema = columns
    ? {
        type: 'object',
        properties: Object.fromEntries(columns.map((c) => [c.name, columnSchema(c.type)])),
        required: columns.map((c) => c.name),
      }
    : { type: 'object', description: 'A row; its columns were not known when this document was made' };
  const content: JsonSchema =
    format === 'json'
      ? {
          'application/json': {
            schema: {
              type: 'object',
              required: ['meta', 'data', 'rows', 'statistics'],
              properties: {
                meta: { type: 'array', items: { $ref: '#/components/schemas/ColumnMeta' } },
                data: { type: 'array', items: row },
                rows: { type: 'integer', minimum: 0 },
                statistics: { $ref: '#/components/schemas/Statistics' },
              },
            },
          },
        }
      : format === 'ndjson'
        ? {
            [CONTENT.ndjson!]: {
              schema: { type: 'string', description: 'One JSON object per line', 'x-row': row },
            },
          }
        : {
            [CONTENT[format] ?? 'text/plain']: {
              schema: { type: 'string', description: 'CSV with a header row' },
            },
          };
  const error = (description: string) => ({
    description,
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  });
  return {
    '200': { description: 'The answer', headers, content },
    '400': error(
      'A param is missing or does not parse as its type; `param` and `expected` say which and how',
    ),
    ...(opts.secured
      ? { '401': error('No token, or not a valid one'), '403': error('The token may not call this endpoint') }
      : {}),
    '404': error('No such endpoint or format'),
    '413': error('The answer exceeds max_result_rows or max_result_bytes'),
    '422': error('The query exceeded max_memory_usage or a read limit, or tried to write'),
    '500': error(
      opts.secured
        ? "ClickHouse refused or failed the query (`clickhouse_code`); ClickHouse's message is in `error` for an admin token, else in the server's log under the request id `error` names"
        : "ClickHouse refused or failed the query (`clickhouse_code`; ClickHouse's message is in `error`)",
    ),
    '503': error(
      endpoint.maxStalenessMs !== undefined
        ? 'The data is staler than max_staleness (`staleness_s`, `max_staleness_s`), or ClickHouse is unreachable'
        : 'ClickHouse is unreachable',
    ),
    '504': error('The query exceeded max_execution_time'),
  };
}

/**
 * The output columns of each endpoint, asked of ClickHouse once per project version: the pipe
 * compiled with sample params, run as `SELECT * FROM (...) LIMIT 0` (which reads nothing on
 * every server version and answers `meta`). An endpoint whose query fails is left unknown.
 */
export class ResponseColumns {
  private current?: { version: string; columns: Promise<Map<string, ColumnMeta[] | undefined>> };

  get(state: ServingState): Promise<Map<string, ColumnMeta[] | undefined>> {
    if (this.current?.version !== state.version) {
      this.current = { version: state.version, columns: describeAll(state.project, state.engine) };
    }
    return this.current.columns;
  }
}

async function describeAll(project: Project, engine: Engine): Promise<Map<string, ColumnMeta[] | undefined>> {
  const out = new Map<string, ColumnMeta[] | undefined>();
  // One at a time: cheap queries, and no burst on a server that is also serving.
  for (const endpoint of project.endpoints.values()) {
    out.set(endpoint.name, await describe(project, engine, endpoint).catch(() => undefined));
  }
  return out;
}

async function describe(project: Project, engine: Engine, endpoint: Endpoint): Promise<ColumnMeta[]> {
  const pipe = project.pipes.get(endpoint.pipe);
  if (!pipe) throw new Error('no pipe');
  const compiled = compilePipe(project, pipe.name, sampleParams(pipe), {
    capabilities: engine.capabilities,
    database: engine.database,
  });
  const res = await engine.query(`SELECT * FROM (${compiled.sql}) LIMIT 0`, {
    params: { ...compiled.params },
    settings: { ...limitSettings(endpoint), max_execution_time: 5 },
  });
  return res.meta.map((m) => ({ name: m.name, type: m.type }));
}

function firstSentence(s: string): string {
  const line = s.split('\n')[0] ?? s;
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}

function exact(n: bigint): number | bigint {
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

function maxBig(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

function minBig(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
