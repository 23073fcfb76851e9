import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import type { TokenConfig } from '../config/config.ts';
import { isTallyError } from '../errors.ts';
import { didYouMean } from '../util/did-you-mean.ts';
import { TokenAuth } from './auth.ts';
import { HttpError } from './http-error.ts';
import { runEndpoint, type EndpointAnswer } from './run-endpoint.ts';
import { ResultCache } from './result-cache.ts';
import type { StateHolder } from './serving-state.ts';
import { presentedToken } from './auth.ts';

export interface AppOptions {
  state: StateHolder;
  tokens: readonly TokenConfig[];
  /** Structured log lines (one JSON object each); tokens never reach it. */
  log?: (entry: Record<string, unknown>) => void;
  /** Cache entries kept per process. */
  cacheEntries?: number;
}

const FORMATS = { json: 'application/json', csv: 'text/csv; charset=utf-8', ndjson: 'application/x-ndjson' } as const;
type Format = keyof typeof FORMATS;

/** The HTTP API: endpoints, health. Pure hono, so tests call `app.request()` in-process. */
export function createApp(opts: AppOptions): Hono {
  const app = new Hono();
  const auth = new TokenAuth(opts.tokens);
  const cache = new ResultCache<EndpointAnswer>(opts.cacheEntries ?? 1000);
  opts.state.onSwap(() => cache.clear());
  const log = opts.log ?? (() => {});

  app.use('*', async (c, next) => {
    const id = c.req.header('x-request-id') ?? randomUUID();
    c.header('X-Request-Id', id);
    const t0 = performance.now();
    await next();
    log({ msg: 'request', id, method: c.req.method, path: c.req.path, status: c.res.status, ms: +(performance.now() - t0).toFixed(2) });
  });

  app.onError((err, c) => {
    if (err instanceof HttpError) return c.json(err.body(), err.status);
    log({ msg: 'internal error', error: String((err as Error)?.stack ?? err) });
    return c.json({ error: 'internal error' }, 500);
  });
  app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${c.req.path}` }, 404));

  app.get('/health', async (c) => {
    const { engine, version } = opts.state.get();
    try {
      await engine.rows('SELECT 1 AS ok');
      return c.json({ status: 'ok', version, clickhouse: { ok: true, version: engine.capabilities.version, backend: engine.backend } });
    } catch (err) {
      return c.json({ status: 'degraded', version, clickhouse: { ok: false, error: String((err as Error).message) } }, 503);
    }
  });

  app.on(['GET', 'POST'], '/v0/pipes/:file', async (c) => {
    const state = opts.state.get();
    const { name, format } = splitFile(c.req.param('file'));
    const endpoint = state.project.endpoints.get(name);
    if (!endpoint) {
      throw new HttpError(404, `no endpoint named \`${name}\`${didYouMean(name, state.project.endpoints.keys())}`);
    }
    if (!format || !endpoint.formats.includes(format)) {
      throw new HttpError(404, `endpoint \`${name}\` is served as ${endpoint.formats.map((f) => `${name}.${f}`).join(', ')}`);
    }
    const query = c.req.query();
    auth.check(presentedToken(c.req.header('authorization'), query.token), {
      kind: 'endpoint',
      name,
      ...(endpoint.token ? { required: endpoint.token } : {}),
    });
    const raw: Record<string, unknown> = { ...query };
    delete raw.token;
    if (c.req.method === 'POST') Object.assign(raw, await jsonBody(c.req.raw));

    const key = `${state.version}\u0000${name}\u0000${format}\u0000${normalise(raw)}`;
    const ttl = endpoint.cacheMs ?? 0;
    const { value, hit } = await cache.get(key, ttl, () => runEndpoint(state, endpoint, raw, format).catch(toHttp));
    c.header('X-Tally-Cache', ttl > 0 ? (hit ? 'hit' : 'miss') : 'off');
    c.header('Content-Type', FORMATS[format]);
    return c.body(value.body);
  });

  app.all('/v0/pipes/:file', (c) => c.json({ error: `method ${c.req.method} not allowed; use GET or POST` }, 405));
  return app;
}

function splitFile(file: string): { name: string; format?: Format } {
  const dot = file.lastIndexOf('.');
  if (dot < 0) return { name: file };
  const ext = file.slice(dot + 1);
  return { name: file.slice(0, dot), ...(ext in FORMATS ? { format: ext as Format } : {}) };
}

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

/** Params in a stable order, so the same request is the same cache key. */
function normalise(raw: Record<string, unknown>): string {
  return JSON.stringify(Object.keys(raw).sort().map((k) => [k, raw[k]]));
}

function toHttp(err: unknown): never {
  if (err instanceof HttpError) throw err;
  if (isTallyError(err)) throw new HttpError(err.code === 'clickhouse-unreachable' ? 503 : 500, err.message);
  throw err;
}
