import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { PlainAnswer } from './http-error.ts';
import { type Logger, redactUrl, silentLogger } from './logger.ts';
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
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The start and end of every request, wherever it is served (hono or the direct node path):
 * its id (the caller's X-Request-Id when well formed), then its metrics and its one log line.
 */
export class RequestTracker {
  constructor(
    private readonly metrics: ServerMetrics,
    private readonly logger: Logger,
  ) {}

  begin(givenId: string | undefined): RequestNote {
    const id = givenId && REQUEST_ID.test(givenId) ? givenId : randomUUID();
    return { id, t0: performance.now() };
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
    if (this.logger === silentLogger) return;
    const level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
    const fields: Record<string, unknown> = {
      id: note.id,
      method,
      path: redactUrl(path),
      status,
      ms: Math.round(seconds * 100_000) / 100,
    };
    if (note.endpoint) fields.endpoint = note.endpoint;
    if (note.cache) fields.cache = note.cache;
    if (note.freshness !== undefined) fields.freshness_s = note.freshness;
    this.logger[level]('request', fields);
  }
}

/** A request header from node's parsed headers (repeated ones joined, as fetch's Headers does). */
export function incomingHeader(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}
