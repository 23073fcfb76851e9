/** The one error that reaches HTTP: a status and a JSON body a client can act on. */
export class HttpError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 408 | 413 | 422 | 429 | 500 | 502 | 503 | 504,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }

  body(): Record<string, unknown> {
    return { error: this.message, ...this.details };
  }
}
