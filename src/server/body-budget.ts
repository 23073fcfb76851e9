/**
 * Admission control for the events API: the request body bytes a process holds at once. A request
 * reserves its declared length (or, sent chunked, grows its reservation as it reads) before its
 * body is read, and is refused (503, Retry-After) rather than read when that does not fit. Without
 * it, N concurrent large requests each held their whole body, its text and its parsed lines while
 * waiting for the HTTP buffer, with no bound on N.
 */

/** The default budget is room for this many requests of the largest size... */
export const BODY_BUDGET_REQUESTS = 4;
/** ... and at least this much, so a small `max_request_bytes` does not also cap concurrency. */
export const MIN_BODY_BUDGET_BYTES = 64 * 1024 * 1024;
/** A body sent without Content-Length first reserves this much (at most the body limit), then grows. */
export const CHUNKED_FIRST_BYTES = 64 * 1024;

/** The default budget for `maxRequestBytes` (the events API's body limit). */
export function defaultBodyBudget(maxRequestBytes: number): number {
  return Math.max(BODY_BUDGET_REQUESTS * maxRequestBytes, MIN_BODY_BUDGET_BYTES);
}

export class BodyBudget {
  private used = 0;

  constructor(readonly capacity: number) {}

  /** Bytes reserved by requests in flight. */
  get inFlight(): number {
    return this.used;
  }

  /**
   * A reservation of `bytes`, or undefined when they do not fit (nothing is reserved then). An
   * idle budget admits any one request, so a body larger than the budget is not refused forever.
   */
  reserve(bytes: number): Reservation | undefined {
    if (!this.fits(bytes, 0)) return undefined;
    this.used += bytes;
    return new Reservation(this, bytes);
  }

  /** @internal Whether `more` bytes fit beside the `own` bytes of the reservation asking. */
  fits(more: number, own: number): boolean {
    return more <= 0 || this.used - own === 0 || this.used + more <= this.capacity;
  }

  /** @internal */
  adjust(delta: number): void {
    this.used += delta;
  }
}

/** One request's share of a BodyBudget; `release` is idempotent, so a `finally` can always call it. */
export class Reservation {
  private held: number;
  private released = false;

  constructor(
    private readonly budget: BodyBudget,
    bytes: number,
  ) {
    this.held = bytes;
  }

  get bytes(): number {
    return this.held;
  }

  /** Grows the reservation to at least `total` bytes; false (nothing changed) when that does not fit. */
  cover(total: number): boolean {
    if (this.released) return false;
    const more = total - this.held;
    if (more <= 0) return true;
    if (!this.budget.fits(more, this.held)) return false;
    this.budget.adjust(more);
    this.held = total;
    return true;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.budget.adjust(-this.held);
    this.held = 0;
  }
}
