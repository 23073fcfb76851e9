/** The one error that reaches HTTP: a status and a JSON body a client can act on. */
export class HttpError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 408 | 413 | 415 | 422 | 429 | 500 | 502 | 503 | 504,
    message: string,
    readonly details: Record<string, unknown> = {},
    /** Headers the answer carries besides the JSON body (a 503's measured freshness, say). */
    readonly headers: Readonly<Record<string, string>> = {},
    /**
     * What went wrong inside (ClickHouse's message, which may quote the pipe's SQL): for the
     * request log, and for callers who may see internals (see EndpointResponder), not the body.
     */
    readonly internal?: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }

  body(): Record<string, unknown> {
    return { error: this.message, ...this.details };
  }
}

/** An answer as plain data: what both the hono routes and the direct node path write. */
export interface PlainAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The body's length in UTF-8 bytes, when already known. */
  bytes?: number;
}

/**
 * The answer to a request that failed: an HttpError as its JSON body; anything else is a bug,
 * handed to `unexpected` (to log it) and answered with a bare 500 that tells nothing internal.
 */
export function errorAnswer(err: unknown, unexpected: (err: unknown) => void): PlainAnswer {
  if (!(err instanceof HttpError)) {
    unexpected(err);
    return jsonAnswer(500, { error: 'internal error' }, {});
  }
  const headers: Record<string, string> = { ...err.headers };
  // A 413 is sent before the body was read: the connection cannot carry another request.
  if (err.status === 413) headers.connection = 'close';
  // RFC 9110: a 401 says how to authenticate.
  if (err.status === 401) headers['www-authenticate'] = 'Bearer realm="tally"';
  return jsonAnswer(err.status, err.body(), headers);
}

function jsonAnswer(status: number, body: unknown, headers: Record<string, string>): PlainAnswer {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}
