import { isConnectionFailure } from '../clickhouse/engine-error.ts';
import { isTallyError } from '../errors.ts';
import type { Endpoint } from '../project/model.ts';
import { didYouMean } from '../util/did-you-mean.ts';
import { presentedToken, type TokenAuth } from './auth.ts';
import type { Freshness, FreshnessTracker } from './freshness.ts';
import { HttpError, type PlainAnswer } from './http-error.ts';
import type { ServerMetrics } from './metrics.ts';
import type { RequestNote } from './request-tracker.ts';
import { ResultCache } from './result-cache.ts';
import {
  type EndpointAnswer,
  executeEndpoint,
  finishedBody,
  type PreparedQuery,
  prepareEndpoint,
  type RunHooks,
} from './run-endpoint.ts';
import type { ServingState, StateHolder } from './serving-state.ts';

export const FORMATS = {
  json: 'application/json',
  csv: 'text/csv; charset=utf-8',
  ndjson: 'application/x-ndjson',
} as const;
type Format = keyof typeof FORMATS;

/** A request for `/v0/pipes/{file}`, however it arrived. */
export interface EndpointRequest {
  method: string;
  /** `<endpoint>.<format>`, decoded. */
  file: string;
  /** Query-string params, the first value of each name. */
  query: Readonly<Record<string, string>>;
  /** A query-string name given more than once (repeated-param.ts): refused. */
  repeated?: string | undefined;
  authorization: string | undefined;
  /** A POST's params, read from its body. */
  body?: () => Promise<Record<string, unknown>>;
}

export interface ResponderOptions {
  state: StateHolder;
  auth: TokenAuth;
  metrics: ServerMetrics;
  freshness: FreshnessTracker;
  /** Endpoints with `max_staleness` answer 503 when staler (false: only report it). */
  enforceStaleness: boolean;
  /** Identical concurrent requests share one ClickHouse query. */
  coalesce: boolean;
  cacheEntries: number;
}

/**
 * Answers endpoint requests: params validated, token checked, freshness measured (a 503 past
 * `max_staleness`), the answer taken from the cache or computed once for identical concurrent
 * requests. Knows nothing of hono or node's http, so both carriers share every rule.
 */
export class EndpointResponder {
  private readonly cache: ResultCache<EndpointAnswer>;
  private readonly prepared: BoundedMap<string, PreparedQuery>;
  private readonly hooksByEndpoint = new Map<string, RunHooks>();

  constructor(private readonly o: ResponderOptions) {
    this.cache = new ResultCache<EndpointAnswer>(o.cacheEntries);
    this.prepared = new BoundedMap<string, PreparedQuery>(o.cacheEntries);
    o.state.onSwap(() => {
      this.cache.clear();
      this.prepared.clear();
    });
  }

  /** The answer to `req`; throws HttpError for every refusal. Fills `note` for the request log. */
  async answer(req: EndpointRequest, note: RequestNote): Promise<PlainAnswer> {
    const held = this.o.state.held;
    if (held) await held;
    const state = this.o.state.get();
    note.endpoint = '';
    const { name, format } = splitFile(req.file);
    const endpoint = state.project.endpoints.get(name);
    const query = req.query;
    const presented = presentedToken(req.authorization, query.token);
    // The token is checked before anything about the endpoint is said (that it exists, its
    // formats, names like it): a caller without one learns nothing of what is served.
    if (!endpoint) {
      const known = this.o.auth.callable(presented, state.project.endpoints.values()).map((e) => e.name);
      throw new HttpError(404, `no endpoint named \`${name}\`${didYouMean(name, known)}`);
    }
    note.endpoint = name;
    const caller = this.o.auth.check(presented, {
      kind: 'endpoint',
      name,
      ...(endpoint.token ? { required: endpoint.token } : {}),
    });
    if (!format || !endpoint.formats.includes(format)) {
      throw new HttpError(
        404,
        `endpoint \`${name}\` is served as ${endpoint.formats.map((f) => `${name}.${f}`).join(', ')}`,
      );
    }
    if (req.repeated !== undefined) {
      throw new HttpError(
        400,
        `param \`${req.repeated}\` is given more than once; give it once (an Array param takes its items comma-separated)`,
        { param: req.repeated, expected: 'one value' },
      );
    }
    // Copied without `token` (rather than deleted after: `delete` slows every later use of it).
    const raw: Record<string, unknown> = {};
    for (const k in query) if (k !== 'token') raw[k] = query[k];
    if (req.method === 'POST' && req.body) {
      // As in the query string: `token` is never a param (it is read from the header or ?token=).
      const body = await req.body();
      for (const k in body) if (k !== 'token') raw[k] = body[k];
    }

    const params = normalise(raw);
    const fresh =
      this.o.freshness.measureNow(state.project, state.engine, endpoint.pipe) ??
      (await this.o.freshness.measure(state.project, state.engine, endpoint.pipe));
    note.freshness = fresh.seconds ?? 'unknown';
    const freshHeader = fresh.seconds === undefined ? 'unknown' : String(fresh.seconds);
    if (this.o.enforceStaleness && isStale(endpoint, fresh)) {
      this.prepare(state, endpoint, params, raw); // a bad request is still a 400
      const maxS = endpoint.maxStalenessMs! / 1000;
      throw new HttpError(
        503,
        `endpoint \`${name}\` refuses to answer: its data is ${fresh.seconds} s old, more than max_staleness ${maxS} s`,
        { staleness_s: fresh.seconds, max_staleness_s: maxS },
        { 'x-tally-freshness': freshHeader },
      );
    }

    const key = `${state.version}\u0000${name}\u0000${format}\u0000${params}`;
    // Answers to very large param sets are not kept: a cache bounded by entries would otherwise
    // hold gigabytes of keys (and their compiled SQL) from a few hundred large requests.
    const ttl = params.length <= MAX_KEPT_PARAMS_CHARS ? (endpoint.cacheMs ?? 0) : 0;
    // A hit is answered without creating the loader (closures cost on the busiest path).
    let value = ttl > 0 ? this.cache.fresh(key) : undefined;
    let hit = value !== undefined;
    if (value === undefined) {
      const load = async () =>
        executeEndpoint(
          state,
          endpoint,
          this.prepare(state, endpoint, params, raw),
          format,
          this.hooksFor(name),
        ).catch(toHttp);
      try {
        ({ value, hit } =
          ttl === 0 && !this.o.coalesce
            ? { value: await load(), hit: false }
            : await this.cache.get(key, ttl, load));
      } catch (err) {
        throw shownTo(err, this.o.auth.enabled && caller?.scope !== 'admin', note);
      }
    }
    note.cache = ttl > 0 ? (hit ? 'hit' : 'miss') : 'off';
    if (ttl > 0) this.o.metrics.cache.inc({ endpoint: name, result: note.cache });
    const { body, bytes } = finishedBody(value, fresh.seconds);
    return {
      status: 200,
      headers: {
        'content-type': FORMATS[format],
        'x-tally-freshness': freshHeader,
        'x-tally-cache': note.cache,
      },
      body,
      bytes,
    };
  }

  /** Params validated and the pipe compiled, reused for the same params (a bad param: a 400). */
  private prepare(
    state: ServingState,
    endpoint: Endpoint,
    params: string,
    raw: Record<string, unknown>,
  ): PreparedQuery {
    const compiledKey = `${state.version}\u0000${endpoint.name}\u0000${params}`;
    const known = this.prepared.get(compiledKey);
    if (known) return known;
    try {
      const fresh = prepareEndpoint(state, endpoint, raw);
      if (params.length <= MAX_KEPT_PARAMS_CHARS) this.prepared.set(compiledKey, fresh);
      return fresh;
    } catch (err) {
      return toHttp(err);
    }
  }

  private hooksFor(endpoint: string): RunHooks {
    let hooks = this.hooksByEndpoint.get(endpoint);
    if (!hooks) {
      hooks = { clickhouseError: (code) => this.o.metrics.clickhouseErrors.inc({ endpoint, code }) };
      this.hooksByEndpoint.set(endpoint, hooks);
    }
    return hooks;
  }
}

/** `balance.json` -> the endpoint's name and its format (absent when not one we serve). */
export function splitFile(file: string): { name: string; format?: Format } {
  const dot = file.lastIndexOf('.');
  if (dot < 0) return { name: file };
  const name = file.slice(0, dot);
  const ext = file.slice(dot + 1);
  return Object.hasOwn(FORMATS, ext) ? { name, format: ext as Format } : { name };
}

function isStale(endpoint: Endpoint, fresh: Freshness): boolean {
  return (
    endpoint.maxStalenessMs !== undefined &&
    fresh.seconds !== undefined &&
    fresh.seconds * 1000 > endpoint.maxStalenessMs
  );
}

/** Params longer than this (as normalised text) are compiled and answered, but not kept. */
const MAX_KEPT_PARAMS_CHARS = 16 * 1024;

/** Params in a stable order, so the same request is the same cache key. */
function normalise(raw: Record<string, unknown>): string {
  // The text of JSON.stringify(sorted [name, value] pairs), written pair by pair (a third faster).
  // `_`-prefixed params are ignored by the endpoint (cache busters): they are not in the key, so
  // they cannot fill the cache with copies of one answer.
  const keys = Object.keys(raw);
  if (keys.length > 1) keys.sort();
  let out = '[';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (k.charCodeAt(0) === 95) continue;
    out += `${out.length > 1 ? ',' : ''}[${JSON.stringify(k)},${JSON.stringify(raw[k]) ?? 'null'}]`;
  }
  return `${out}]`;
}

/**
 * A failure as this caller may see it: ClickHouse's message (which can quote the pipe's SQL and
 * its tables) goes to the request log always, and into the answer only when no tokens are
 * configured or the caller holds an admin token; others get the code and the request id to ask
 * about. Decided per caller: a coalesced failure is shared by callers holding different tokens.
 */
function shownTo(err: unknown, guarded: boolean, note: RequestNote): unknown {
  if (!(err instanceof HttpError) || err.internal === undefined) return err;
  note.error = err.internal;
  const message = guarded
    ? `${err.message}; its message is in the server's log under request id ${note.id}`
    : `${err.message}: ${err.internal}`;
  return new HttpError(err.status, message, err.details, err.headers);
}

function toHttp(err: unknown): never {
  if (err instanceof HttpError) throw err;
  if (isTallyError(err)) throw new HttpError(isConnectionFailure(err) ? 503 : 500, err.message);
  throw err;
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
