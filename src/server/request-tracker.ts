import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError, type PlainAnswer } from './http-error.ts';
import { type LogSink, redact, redactText, takesMembers } from './logger.ts';
import type { ServerMetrics } from './metrics.ts';

/** What a request did, for its log line and metrics. */
export interface RequestNote {
  id: string;
  /** performance.now() when the request began. */
  t0: number;
  /** The endpoint answered ('' for an endpoints-path request naming none); absent off that path. */
  endpoint?: string;
  cache?: string;
  freshness?: number | 'unknown';
  /** The response already carries X-Request-Id. */
  idSent?: boolean;
  /** What failed inside, for the log line (an HttpError's `internal`). */
  error?: string;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** A request's id: the caller's X-Request-Id when well formed, else a new one. */
export function settleRequestId(givenId: string | undefined): string {
  return givenId && REQUEST_ID.test(givenId) ? givenId : randomUUID();
}

declare module 'hono' {
  interface ContextVariableMap {
    /** The request's id (RequestTracker.begin), the one its answer carries in X-Request-Id. */
    requestId: string | undefined;
  }
}

/**
 * The start and end of every request, wherever it is served (hono or the direct node path):
 * its id (the caller's X-Request-Id when well formed), then its metrics and its one log line.
 */
export class RequestTracker {
  /** `log`: where each request's line goes (none: no request log). */
  constructor(
    private readonly metrics: ServerMetrics,
    private readonly log: LogSink | undefined,
  ) {}

  begin(givenId: string | undefined): RequestNote {
    return { id: settleRequestId(givenId), t0: performance.now() };
  }

  /** A refusal about to be answered: a 5xx is logged at level error, so with its reason. */
  failed(note: RequestNote, err: unknown): void {
    if (err instanceof HttpError && err.status >= 500) note.error ??= err.message;
  }

  /** Puts the request's id on its answer (and notes that it is there). */
  stamp(note: RequestNote, answer: PlainAnswer): PlainAnswer {
    note.idSent = true;
    answer.headers['x-request-id'] = note.id;
    return answer;
  }

  end(note: RequestNote, method: string, path: string, status: number): void {
    const seconds = (performance.now() - note.t0) / 1000;
    if (note.endpoint !== undefined) {
      this.metrics.requests.inc({ endpoint: note.endpoint, status: String(status) });
      if (note.endpoint !== '') this.metrics.duration.observe({ endpoint: note.endpoint }, seconds);
    }
    const log = this.log;
    if (!log) return;
    const level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
    const ms = Math.round(seconds * 100_000) / 100;
    if (takesMembers(log)) {
      log.members(requestMembers(note, level, method, path, status, ms));
      return;
    }
    const entry: Record<string, unknown> = { level, msg: 'request', id: note.id, method, path, status, ms };
    if (note.endpoint) entry.endpoint = note.endpoint;
    if (note.cache) entry.cache = note.cache;
    if (note.freshness !== undefined) entry.freshness_s = note.freshness;
    if (note.error !== undefined) entry.error = note.error;
    log(redact(entry));
  }
}

/**
 * A string value of the request log, redacted, then JSON-escaped. Methods, paths, endpoint names
 * and cache results repeat from request to request: each is worked out once (up to a bound).
 */
function text(s: string): string {
  // Long strings (a client's made-up path) are not kept: the memo stays small and useful.
  if (s.length > 256) return JSON.stringify(redactText(s));
  let out = written.get(s);
  if (out === undefined) {
    out = JSON.stringify(redactText(s));
    if (written.size >= 1000) written.clear();
    written.set(s, out);
  }
  return out;
}
const written = new Map<string, string>();

/**
 * The request's log entry written straight as JSON members: the same keys, values and redaction
 * as the object `end` builds for other sinks (every string through redactText; a test holds the
 * two equal), without an object to build, redact and serialise on the busiest path.
 */
function requestMembers(
  note: RequestNote,
  level: string,
  method: string,
  path: string,
  status: number,
  ms: number,
): string {
  // An id of REQUEST_ID's characters (every id `begin` makes) needs neither redaction nor
  // escaping; any other is redacted and escaped like the rest (never memoized: ids do not repeat).
  const id = REQUEST_ID.test(note.id) ? `"${note.id}"` : JSON.stringify(redactText(note.id));
  let out = `"level":"${level}","msg":"request","id":${id},"method":${text(method)},"path":${text(path)},"status":${JSON.stringify(status)},"ms":${JSON.stringify(ms)}`;
  if (note.endpoint) out += `,"endpoint":${text(note.endpoint)}`;
  if (note.cache) out += `,"cache":${text(note.cache)}`;
  if (note.freshness !== undefined) {
    out += `,"freshness_s":${typeof note.freshness === 'string' ? text(note.freshness) : JSON.stringify(note.freshness)}`;
  }
  // Never memoized: messages hold values that do not repeat.
  if (note.error !== undefined) out += `,"error":${JSON.stringify(redactText(note.error))}`;
  return out;
}

/** A request header from node's parsed headers (repeated ones joined, as fetch's Headers does). */
export function incomingHeader(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}
