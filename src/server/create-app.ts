import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { TokenConfig } from '../config/config.ts';
import { isTallyError } from '../errors.ts';
import type { Ingestion } from '../ingest/ingestion.ts';
import type { Endpoint } from '../project/model.ts';
import { didYouMean } from '../util/did-you-mean.ts';
import { presentedToken, TokenAuth } from './auth.ts';
import { type Freshness, FreshnessTracker } from './freshness.ts';
import { type HomePage, renderHomePage } from './home-page.ts';
import { HttpError } from './http-error.ts';
import { createLogger, type Logger, type LogSink, redactUrl, silentLogger } from './logger.ts';
import { CONTENT_TYPE as METRICS_CONTENT_TYPE, MetricsRegistry, serverMetrics } from './metrics.ts';
import { buildOpenApi, openApiJson, ResponseColumns } from './openapi.ts';
import { ResultCache } from './result-cache.ts';
import {
  type EndpointAnswer,
  executeEndpoint,
  finishBody,
  type PreparedQuery,
  prepareEndpoint,
  type RunHooks,
} from './run-endpoint.ts';
import type { ServingState, StateHolder } from './serving-state.ts';

export interface AppOptions {
  state: StateHolder;
  tokens: readonly TokenConfig[];
  /** Where log entries go (one object each, redacted: tokens never reach it); default nowhere. */
  log?: LogSink;
  /** Cache entries kept per process. */
  cacheEntries?: number;
  /** The registry `/metrics` shows; pass one to add other modules' series (ingestion). */
  metrics?: MetricsRegistry;
  /** How freshness is measured (shared with whoever knows more, such as the ingester). */
  freshness?: FreshnessTracker;
  /**
   * `enforce` (default): an endpoint with `max_staleness` answers 503 when its data is staler.
   * `report`: only the header and `statistics.freshness_s` say so (for dev fixtures that age).
   */
  staleness?: 'enforce' | 'report';
  /**
   * Identical concurrent requests share one ClickHouse query (default true). Off only to measure
   * the cost of each request alone (bench/endpoints.ts).
   */
  coalesce?: boolean;
  /**
   * The ingestion running beside the server, for `/health`: Kafka reachability and each Kafka
   * data source's consumer-group lag. Absent (or undefined): `/health` says nothing of Kafka.
   */
  ingestion?: () => Ingestion | undefined;
  /**
   * More routes on the same app (the events API): called once, after the built-in routes, with
   * the app's token checker, metrics registry and logger.
   */
  routes?: (app: Hono, ctx: { auth: TokenAuth; metrics: MetricsRegistry; logger: Logger }) => void;
}

const FORMATS = {
  json: 'application/json',
  csv: 'text/csv; charset=utf-8',
  ndjson: 'application/x-ndjson',
} as const;
type Format = keyof typeof FORMATS;

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** What a request did, for its log line and metrics. */
interface RequestNote {
  id: string;
  endpoint?: string;
  cache?: string;
  freshness?: number | 'unknown';
  /** The response already carries X-Request-Id. */
  idSent?: boolean;
}

/**
 * The HTTP API: endpoints, OpenAPI, the try-it page, health, metrics. Pure hono, so tests call
 * `app.request()` in-process.
 */
export function createApp(opts: AppOptions): Hono {
  const app = new Hono();
  const auth = new TokenAuth(opts.tokens);
  const cache = new ResultCache<EndpointAnswer>(opts.cacheEntries ?? 1000);
  const prepared = new BoundedMap<string, PreparedQuery>(opts.cacheEntries ?? 1000);
  opts.state.onSwap(() => {
    cache.clear();
    prepared.clear();
  });
  const logger = opts.log ? createLogger({ level: 'debug', sink: opts.log }) : silentLogger;
  const registry = opts.metrics ?? new MetricsRegistry();
  const metrics = serverMetrics(registry);
  const freshness =
    opts.freshness ??
    new FreshnessTracker({
      onError: (err) => logger.warn('freshness lookup failed', { error: String(err) }),
    });
  const enforce = (opts.staleness ?? 'enforce') === 'enforce';
  const coalesce = opts.coalesce ?? true;
  const columns = new ResponseColumns();
  const notes = new WeakMap<Request, RequestNote>();
  const hooksByEndpoint = new Map<string, RunHooks>();
  let page: { version: string; page: HomePage } | undefined;

  app.use('*', async (c, next) => {
    const given = requestHeader(c, 'x-request-id');
    const id = given && REQUEST_ID.test(given) ? given : randomUUID();
    const note: RequestNote = { id };
    notes.set(c.req.raw, note);
    const t0 = performance.now();
    await next();
    // Endpoint answers carry the id already (built with plain headers in the pipes route).
    if (!note.idSent) c.res.headers.set('X-Request-Id', id);
    const seconds = (performance.now() - t0) / 1000;
    const status = c.res.status;
    if (note.endpoint !== undefined) {
      metrics.requests.inc({ endpoint: note.endpoint, status: String(status) });
      if (note.endpoint !== '') metrics.duration.observe({ endpoint: note.endpoint }, seconds);
    }
    if (logger === silentLogger) return;
    const level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
    logger[level]('request', {
      id,
      method: c.req.method,
      path: redactUrl(c.req.path),
      status,
      ms: +(seconds * 1000).toFixed(2),
      ...(note.endpoint ? { endpoint: note.endpoint } : {}),
      ...(note.cache ? { cache: note.cache } : {}),
      ...(note.freshness !== undefined ? { freshness_s: note.freshness } : {}),
    });
  });

  app.onError((err, c) => {
    if (err instanceof HttpError) {
      // A 413 is sent before the body was read: the connection cannot carry another request.
      if (err.status === 413) c.header('Connection', 'close');
      // RFC 9110: a 401 says how to authenticate.
      if (err.status === 401) c.header('WWW-Authenticate', 'Bearer realm="tally"');
      return c.json(err.body(), err.status);
    }
    logger.error('internal error', { id: notes.get(c.req.raw)?.id, error: err });
    return c.json({ error: 'internal error' }, 500);
  });
  app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${c.req.path}` }, 404));

  app.get('/', (c) => {
    const state = opts.state.get();
    if (page?.version !== state.version) {
      page = {
        version: state.version,
        page: renderHomePage(state.project, { version: state.version, secured: auth.enabled }),
      };
    }
    c.header('Content-Security-Policy', page.page.csp);
    c.header('X-Content-Type-Options', 'nosniff');
    return c.html(page.page.html);
  });

  app.get('/v0/openapi.json', async (c) => {
    const state = opts.state.get();
    const doc = buildOpenApi(state.project, {
      version: state.version,
      serverUrl: new URL(c.req.url).origin,
      secured: auth.enabled,
      columns: await columns.get(state),
    });
    c.header('Content-Type', 'application/json');
    return c.body(openApiJson(doc));
  });

  // 503 only when endpoints cannot answer (ClickHouse down); Kafka trouble or lag is
  // `degraded` with 200: the instance still serves reads, so a load balancer should keep it.
  app.get('/health', async (c) => {
    const { engine, version } = opts.state.get();
    const kafka = kafkaHealth(opts.ingestion?.());
    const kafkaPart = kafka ? { kafka } : {};
    try {
      await engine.rows('SELECT 1 AS ok');
      return c.json({
        status: kafka && !kafka.ok ? 'degraded' : 'ok',
        version,
        clickhouse: { ok: true, version: engine.capabilities.version, backend: engine.backend },
        ...kafkaPart,
      });
    } catch (err) {
      return c.json(
        {
          status: 'down',
          version,
          clickhouse: { ok: false, error: String((err as Error).message) },
          ...kafkaPart,
        },
        503,
      );
    }
  });

  app.get('/metrics', (c) => {
    const query = c.req.query('token');
    auth.check(presentedToken(c.req.header('authorization'), query), { kind: 'admin' });
    c.header('Content-Type', METRICS_CONTENT_TYPE);
    return c.body(registry.render());
  });

  // Params are small: a body past this is refused while it streams in, never buffered whole.
  app.post(
    '/v0/pipes/:file',
    bodyLimit({
      maxSize: MAX_PARAMS_BODY,
      onError: (c) =>
        c.json(
          { error: `the request body is over ${MAX_PARAMS_BODY} bytes; params are small JSON objects` },
          413,
          { Connection: 'close' },
        ),
    }),
  );
  app.on(['GET', 'POST'], '/v0/pipes/:file', async (c) => {
    const state = opts.state.get();
    const note = notes.get(c.req.raw) ?? { id: '' };
    note.endpoint = '';
    const { name, format } = splitFile(c.req.param('file'));
    const endpoint = state.project.endpoints.get(name);
    if (!endpoint) {
      throw new HttpError(
        404,
        `no endpoint named \`${name}\`${didYouMean(name, state.project.endpoints.keys())}`,
      );
    }
    note.endpoint = name;
    if (!format || !endpoint.formats.includes(format)) {
      throw new HttpError(
        404,
        `endpoint \`${name}\` is served as ${endpoint.formats.map((f) => `${name}.${f}`).join(', ')}`,
      );
    }
    const query = c.req.query();
    auth.check(presentedToken(requestHeader(c, 'authorization'), query.token), {
      kind: 'endpoint',
      name,
      ...(endpoint.token ? { required: endpoint.token } : {}),
    });
    // Copied without `token` (rather than deleted after: `delete` slows every later use of it).
    const raw: Record<string, unknown> = {};
    for (const k in query) if (k !== 'token') raw[k] = query[k];
    if (c.req.method === 'POST') Object.assign(raw, await jsonBody(c.req.raw));

    const params = normalise(raw);
    const fresh = await measure(state, endpoint);
    note.freshness = fresh.seconds ?? 'unknown';
    const freshHeader = fresh.seconds === undefined ? 'unknown' : String(fresh.seconds);
    if (enforce && isStale(endpoint, fresh)) {
      c.header('X-Tally-Freshness', freshHeader);
      prepare(state, endpoint, params, raw); // a bad request is still a 400
      const maxS = endpoint.maxStalenessMs! / 1000;
      throw new HttpError(
        503,
        `endpoint \`${name}\` refuses to answer: its data is ${fresh.seconds} s old, more than max_staleness ${maxS} s`,
        {
          staleness_s: fresh.seconds,
          max_staleness_s: maxS,
        },
      );
    }

    const key = `${state.version}\u0000${name}\u0000${format}\u0000${params}`;
    const ttl = endpoint.cacheMs ?? 0;
    // A hit is answered without creating the loader (closures cost on the busiest path).
    let value = ttl > 0 ? cache.fresh(key) : undefined;
    let hit = value !== undefined;
    if (value === undefined) {
      const load = async () =>
        executeEndpoint(state, endpoint, prepare(state, endpoint, params, raw), format, hooksFor(name)).catch(
          toHttp,
        );
      ({ value, hit } =
        ttl === 0 && !coalesce ? { value: await load(), hit: false } : await cache.get(key, ttl, load));
    }
    note.cache = ttl > 0 ? (hit ? 'hit' : 'miss') : 'off';
    if (ttl > 0) metrics.cache.inc({ endpoint: name, result: note.cache });
    // A Response with plain headers, which @hono/node-server writes as they are: the busiest
    // path then builds no fetch Headers (their validation was ~10% of a cache hit's CPU).
    note.idSent = true;
    return new Response(finishBody(value, fresh.seconds), {
      status: 200,
      headers: {
        'content-type': FORMATS[format],
        'x-request-id': note.id,
        'x-tally-freshness': freshHeader,
        'x-tally-cache': note.cache,
      },
    });
  });

  opts.routes?.(app, { auth, metrics: registry, logger });
  app.all('/v0/pipes/:file', (c) => {
    // Counted like any answer on the endpoints path: by endpoint, '' when there is no such one.
    const note = notes.get(c.req.raw);
    if (note) {
      const { name } = splitFile(c.req.param('file'));
      note.endpoint = opts.state.get().project.endpoints.has(name) ? name : '';
    }
    return c.json({ error: `method ${c.req.method} not allowed; use GET or POST` }, 405, {
      Allow: 'GET, POST',
    });
  });
  return app;

  /** Params validated and the pipe compiled, reused for the same params (a bad param: a 400). */
  function prepare(
    state: ServingState,
    endpoint: Endpoint,
    params: string,
    raw: Record<string, unknown>,
  ): PreparedQuery {
    const compiledKey = `${state.version}\u0000${endpoint.name}\u0000${params}`;
    const known = prepared.get(compiledKey);
    if (known) return known;
    try {
      const fresh = prepareEndpoint(state, endpoint, raw);
      prepared.set(compiledKey, fresh);
      return fresh;
    } catch (err) {
      return toHttp(err);
    }
  }

  function hooksFor(endpoint: string): RunHooks {
    let hooks = hooksByEndpoint.get(endpoint);
    if (!hooks) {
      hooks = { clickhouseError: (code) => metrics.clickhouseErrors.inc({ endpoint, code }) };
      hooksByEndpoint.set(endpoint, hooks);
    }
    return hooks;
  }

  async function measure(state: ServingState, endpoint: Endpoint): Promise<Freshness> {
    return freshness.measure(state.project, state.engine, endpoint.pipe);
  }
}

function isStale(endpoint: Endpoint, fresh: Freshness): boolean {
  return (
    endpoint.maxStalenessMs !== undefined &&
    fresh.seconds !== undefined &&
    fresh.seconds * 1000 > endpoint.maxStalenessMs
  );
}

/**
 * A request header. Under @hono/node-server, read from Node's own parsed headers: `c.req.header`
 * would first build a fetch Headers of all of them. In-process (`app.request`), from the Request.
 */
function requestHeader(c: Context, name: string): string | undefined {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (incoming) {
    const v = incoming.headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  }
  return c.req.header(name);
}

function splitFile(file: string): { name: string; format?: Format } {
  const dot = file.lastIndexOf('.');
  if (dot < 0) return { name: file };
  const ext = file.slice(dot + 1);
  return { name: file.slice(0, dot), ...(ext in FORMATS ? { format: ext as Format } : {}) };
}

/** Largest POST body of params accepted by an endpoint (bytes). */
export const MAX_PARAMS_BODY = 1024 * 1024;

async function jsonBody(req: Request): Promise<Record<string, unknown>> {
  const text = await req.text();
  if (text.trim() === '') return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'the request body must be a JSON object of params');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, 'the request body must be a JSON object of params');
  }
  return body as Record<string, unknown>;
}

/** A Map that forgets its oldest entry past `max` entries. */
class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly max: number) {
    super();
  }

  override set(key: K, value: V): this {
    if (this.size >= this.max && !this.has(key)) {
      const oldest = this.keys().next();
      if (!oldest.done) this.delete(oldest.value);
    }
    return super.set(key, value);
  }
}

/** Params in a stable order, so the same request is the same cache key. */
function normalise(raw: Record<string, unknown>): string {
  return JSON.stringify(
    Object.keys(raw)
      .sort()
      .map((k) => [k, raw[k]]),
  );
}

function toHttp(err: unknown): never {
  if (err instanceof HttpError) throw err;
  if (isTallyError(err)) throw new HttpError(err.code === 'clickhouse-unreachable' ? 503 : 500, err.message);
  throw err;
}

interface KafkaHealth {
  ok: boolean;
  datasources: Record<
    string,
    {
      topic: string;
      group: string;
      state: string;
      lag: number | null;
      /** Seconds since the broker last answered the lag question. */
      measured_s_ago: number | null;
      error?: string;
    }
  >;
}

/** Kafka's part of `/health`, from the ingestion's view; undefined when nothing consumes Kafka. */
function kafkaHealth(ingestion: Ingestion | undefined): KafkaHealth | undefined {
  if (!ingestion) return undefined;
  const now = Date.now();
  const datasources: KafkaHealth['datasources'] = {};
  let ok = true;
  for (const d of ingestion.stats().datasources) {
    if (!d.kafka) continue;
    const g = d.groupLag;
    const error = d.kafka.error ?? g?.error;
    if (error || d.kafka.state === 'retrying' || g?.measuredAt === undefined) ok = false;
    datasources[d.name] = {
      topic: d.kafka.topic,
      group: d.kafka.group,
      state: d.kafka.state,
      lag: g?.lag ?? null,
      measured_s_ago: g?.measuredAt === undefined ? null : Math.round((now - g.measuredAt) / 1000),
      ...(error ? { error } : {}),
    };
  }
  return Object.keys(datasources).length > 0 ? { ok, datasources } : undefined;
}
