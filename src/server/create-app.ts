import type { IncomingMessage } from 'node:http';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { TokenConfig } from '../config/config.ts';
import type { Ingestion } from '../ingest/ingestion.ts';
import type { Project } from '../project/model.ts';
import { requestToken, TokenAuth } from './auth.ts';
import { type DirectHandler, directEndpointRoute } from './direct-route.ts';
import { EndpointResponder, splitFile } from './endpoint-responder.ts';
import { FreshnessTracker } from './freshness.ts';
import { ingestHealth, kafkaHealth } from './health-sections.ts';
import { type HomePage, renderHomePage } from './home-page.ts';
import { errorAnswer, HttpError, type PlainAnswer } from './http-error.ts';
import { createLogger, type Logger, type LogSink, silentLogger } from './logger.ts';
import { CONTENT_TYPE as METRICS_CONTENT_TYPE, MetricsRegistry, serverMetrics } from './metrics.ts';
import { buildOpenApi, openApiJson, ResponseColumns } from './openapi.ts';
import { readQuery } from './read-query.ts';
import { incomingHeader, type RequestNote, RequestTracker } from './request-tracker.ts';
import type { StateHolder } from './serving-state.ts';

export interface AppOptions {
  state: StateHolder;
  tokens: readonly TokenConfig[];
  /**
   * Where log entries go (one object each, redacted: tokens never reach it); default nowhere. A
   * `jsonLines` sink gets each request's line as ready-made JSON members instead (the same keys,
   * redacted the same way; see RequestTracker).
   */
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

/** The hono app, and the direct node path that `startServer` puts in front of it for endpoint GETs. */
export type TallyApp = Hono & { readonly direct: DirectHandler };

/**
 * The HTTP API: endpoints, OpenAPI, the try-it page, health, metrics. Pure hono, so tests call
 * `app.request()` in-process; `startServer` also serves endpoint GETs through `app.direct`,
 * which shares the same responder.
 */
export function createApp(opts: AppOptions): TallyApp {
  const app = new Hono();
  const auth = new TokenAuth(opts.tokens);
  const logger = opts.log ? createLogger({ level: 'debug', sink: opts.log }) : silentLogger;
  const registry = opts.metrics ?? new MetricsRegistry();
  const metrics = serverMetrics(registry);
  const freshness =
    opts.freshness ??
    new FreshnessTracker({
      onError: (err) => logger.warn('freshness lookup failed', { error: String(err) }),
    });
  const responder = new EndpointResponder({
    state: opts.state,
    auth,
    metrics,
    freshness,
    enforceStaleness: (opts.staleness ?? 'enforce') === 'enforce',
    coalesce: opts.coalesce ?? true,
    cacheEntries: opts.cacheEntries ?? 1000,
  });
  const requests = new RequestTracker(metrics, opts.log);
  const unexpected = (error: unknown, id: string | undefined) =>
    logger.error('internal error', { id, error });
  const columns = new ResponseColumns();
  const notes = new WeakMap<Request, RequestNote>();
  /** Pages of the current version, by the endpoints shown (tokens see different sets). */
  let pages: { version: string; byEndpoints: Map<string, HomePage> } | undefined;
  /** The project as the request's token sees it: the endpoints it may call (all with no tokens). */
  const visible = (project: Project, token: string | undefined): Project => {
    if (!auth.enabled) return project;
    const endpoints = auth.callable(token, project.endpoints.values());
    return { ...project, endpoints: new Map(endpoints.map((e) => [e.name, e])) };
  };

  app.use('*', async (c, next) => {
    const note = requests.begin(requestHeader(c, 'x-request-id'));
    notes.set(c.req.raw, note);
    c.set('requestId', note.id);
    await next();
    // Endpoint answers carry the id already (built with plain headers in the pipes route).
    if (!note.idSent) c.res.headers.set('X-Request-Id', note.id);
    requests.end(note, c.req.method, c.req.path, c.res.status);
  });

  app.onError((err, c) => {
    const note = notes.get(c.req.raw);
    if (note) requests.failed(note, err);
    const answer = errorAnswer(err, (e) => unexpected(e, note?.id));
    return toResponse(note ? requests.stamp(note, answer) : answer);
  });
  app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${c.req.path}` }, 404));

  // With tokens configured, the page lists only what the request's token may call; without one
  // it asks for one (200), with an unknown one it says so (401).
  app.get('/', (c) => {
    const state = opts.state.get();
    const token = requestToken(c);
    let shown: Project | undefined;
    let locked: 'needed' | 'invalid' | undefined;
    try {
      shown = visible(state.project, token);
    } catch (err) {
      if (!(err instanceof HttpError) || err.status !== 401) throw err;
      locked = token ? 'invalid' : 'needed';
    }
    if (pages?.version !== state.version) pages = { version: state.version, byEndpoints: new Map() };
    const key = locked ?? [...(shown?.endpoints.keys() ?? [])].join('\u0000');
    let page = pages.byEndpoints.get(key);
    if (!page) {
      page = renderHomePage(shown ?? state.project, {
        version: state.version,
        secured: auth.enabled,
        ...(locked ? { locked } : {}),
      });
      pages.byEndpoints.set(key, page);
    }
    c.header('Content-Security-Policy', page.csp);
    c.header('X-Content-Type-Options', 'nosniff');
    return c.html(page.html, locked === 'invalid' ? 401 : 200);
  });

  // With tokens configured: needs one, and lists only the endpoints it may call.
  app.get('/v0/openapi.json', async (c) => {
    const state = opts.state.get();
    const doc = buildOpenApi(visible(state.project, requestToken(c)), {
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
  // Public: what ClickHouse and Kafka said (their addresses among it) is shown only to callers
  // who may see internals (no tokens, or an admin token); others get the request id to ask with.
  app.get('/health', async (c) => {
    const { engine, version } = opts.state.get();
    const note = notes.get(c.req.raw);
    const shown = auth.seesInternals(requestToken(c));
    const hidden = (what: string) =>
      `${what}; its message is in the server's log under request id ${note?.id}`;
    const said: string[] = [];
    // Read once: both parts come from the same figures.
    const stats = opts.ingestion?.()?.stats();
    const kafka = kafkaHealth(stats);
    for (const [name, d] of Object.entries(kafka?.datasources ?? {})) {
      if (d.error === undefined) continue;
      said.push(`kafka ${name}: ${d.error}`);
      if (!shown) d.error = hidden('the Kafka consumer is failing');
    }
    const ingest = ingestHealth(stats, opts.state.get().project);
    for (const [name, d] of Object.entries(ingest?.datasources ?? {})) {
      if (d.error === undefined) continue;
      said.push(`ingest ${name}: ${d.error}`);
      if (!shown)
        d.error = hidden(d.taking_events ? 'its writes to ClickHouse are failing' : 'it takes no events');
    }
    const down = await engine.rows('SELECT 1 AS ok').then(
      () => undefined,
      (err: unknown) => String((err as Error).message),
    );
    if (down !== undefined) said.unshift(`clickhouse: ${down}`);
    if (note && said.length > 0) note.error = said.join('; ');
    return c.json(
      {
        status:
          down !== undefined ? 'down' : (kafka && !kafka.ok) || (ingest && !ingest.ok) ? 'degraded' : 'ok',
        version,
        clickhouse:
          down === undefined
            ? { ok: true, version: engine.capabilities.version, backend: engine.backend }
            : { ok: false, error: shown ? down : hidden('ClickHouse does not answer') },
        ...(kafka ? { kafka } : {}),
        ...(ingest ? { ingest } : {}),
      },
      down !== undefined ? 503 : 200,
    );
  });

  app.get('/metrics', (c) => {
    auth.check(requestToken(c), { kind: 'admin' });
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
    const note = notes.get(c.req.raw) ?? requests.begin(undefined);
    const answer = await responder.answer(
      {
        method: c.req.method,
        file: c.req.param('file'),
        ...readQuery(c.req.url),
        authorization: requestHeader(c, 'authorization'),
        body: () => jsonBody(c.req.raw),
      },
      note,
    );
    return toResponse(requests.stamp(note, answer));
  });

  opts.routes?.(app, { auth, metrics: registry, logger });
  app.all('/v0/pipes/:file', (c) => {
    // Counted like any answer on the endpoints path: by endpoint, '' when there is no such one.
    const note = notes.get(c.req.raw);
    if (note) {
      const { name } = splitFile(c.req.param('file'));
      note.endpoint = opts.state.get().project.endpoints.has(name) ? name : '';
    }
    // HEAD is answered as GET is (hono's GET route, without the body), as HTTP asks of servers.
    return c.json({ error: `method ${c.req.method} not allowed; use GET or POST` }, 405, {
      Allow: 'GET, HEAD, POST',
    });
  });
  return Object.assign(app, { direct: directEndpointRoute(responder, requests, unexpected) });
}

/**
 * A Response with plain headers, which @hono/node-server writes as they are: no fetch Headers
 * built (their validation was ~10% of a cache hit's CPU).
 */
function toResponse(answer: PlainAnswer): Response {
  return new Response(answer.body, { status: answer.status, headers: answer.headers });
}

/**
 * A request header. Under @hono/node-server, read from Node's own parsed headers: `c.req.header`
 * would first build a fetch Headers of all of them. In-process (`app.request`), from the Request.
 */
function requestHeader(c: Context, name: string): string | undefined {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  return incoming ? incomingHeader(incoming, name) : c.req.header(name);
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
  for (const [name, value] of Object.entries(body)) {
    // Params are values or arrays of them; thousands of levels would overflow what reads them.
    if (tooDeep(value, MAX_PARAM_DEPTH)) {
      throw new HttpError(400, `param "${name}" is nested more than ${MAX_PARAM_DEPTH} levels deep`);
    }
  }
  return body as Record<string, unknown>;
}

/** Deepest nesting a POSTed param may have (Array(Array(...)) types go a few levels). */
const MAX_PARAM_DEPTH = 32;

/** Whether `value` nests deeper than `limit` (walked without recursion). */
function tooDeep(value: unknown, limit: number): boolean {
  let level: unknown[] = [value];
  for (let depth = 0; level.length > 0; depth++) {
    if (depth > limit) return true;
    const next: unknown[] = [];
    for (const v of level) {
      if (v !== null && typeof v === 'object') for (const item of Object.values(v)) next.push(item);
    }
    level = next;
  }
  return false;
}
