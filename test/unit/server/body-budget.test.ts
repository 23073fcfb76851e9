import { describe, expect, it } from 'vitest';
import {
  BODY_BUDGET_REQUESTS,
  BodyBudget,
  defaultBodyBudget,
  MIN_BODY_BUDGET_BYTES,
} from '../../../src/server/body-budget.ts';

describe('BodyBudget', () => {
  it('admits reservations while they fit, and refuses (reserving nothing) once they do not', () => {
    const b = new BodyBudget(100);
    const r1 = b.reserve(60)!;
    expect(r1.bytes).toBe(60);
    expect(b.reserve(41)).toBeUndefined();
    expect(b.inFlight).toBe(60);
    const r2 = b.reserve(40)!;
    expect(b.inFlight).toBe(100);
    expect(b.reserve(1)).toBeUndefined();
    r1.release();
    expect(b.inFlight).toBe(40);
    r2.release();
    expect(b.inFlight).toBe(0);
  });

  it('release is idempotent: a second release (a finally after a catch) frees nothing of others', () => {
    const b = new BodyBudget(100);
    const r1 = b.reserve(30)!;
    const r2 = b.reserve(50)!;
    r1.release();
    r1.release();
    expect(b.inFlight).toBe(50);
    expect(r1.cover(10)).toBe(false);
    expect(b.inFlight).toBe(50);
    r2.release();
    expect(b.inFlight).toBe(0);
  });

  it('cover grows a reservation while the budget has room, and leaves it as it was when not', () => {
    const b = new BodyBudget(100);
    const chunked = b.reserve(10)!;
    const other = b.reserve(50)!;
    expect(chunked.cover(5)).toBe(true); // already covered
    expect(chunked.bytes).toBe(10);
    expect(chunked.cover(50)).toBe(true);
    expect(b.inFlight).toBe(100);
    expect(chunked.cover(51)).toBe(false);
    expect(chunked.bytes).toBe(50);
    expect(b.inFlight).toBe(100);
    other.release();
    chunked.release();
    expect(b.inFlight).toBe(0);
  });

  it('an idle budget admits any one request, so a body above the budget is not refused forever', () => {
    const b = new BodyBudget(100);
    const big = b.reserve(500)!;
    expect(big).toBeDefined();
    expect(b.reserve(0)).toBeDefined(); // an empty body holds nothing
    expect(b.reserve(1)).toBeUndefined();
    expect(big.cover(800)).toBe(true); // still the only one holding bytes
    big.release();
    const small = b.reserve(10)!;
    const alone = b.reserve(20)!;
    expect(alone.cover(500)).toBe(false); // not alone: the other holds 10
    small.release();
    alone.release();
    expect(b.inFlight).toBe(0);
  });

  it('defaults to room for a few requests of the largest size, and at least a floor', () => {
    expect(defaultBodyBudget(10 * 1024 * 1024)).toBe(
      Math.max(BODY_BUDGET_REQUESTS * 10 * 1024 * 1024, MIN_BODY_BUDGET_BYTES),
    );
    expect(defaultBodyBudget(1024)).toBe(MIN_BODY_BUDGET_BYTES);
    expect(defaultBodyBudget(100 * 1024 * 1024)).toBe(BODY_BUDGET_REQUESTS * 100 * 1024 * 1024);
  });
});
