import { describe, expect, it } from 'vitest';
import { type NotedViewFailure, viewsMissingRows } from '../../../src/clickhouse/view-failure-log.ts';

const failure = (at: number, failures = 1, error = `failed at ${at}`) => ({
  failures,
  firstAt: at,
  lastAt: at,
  error,
});

describe('viewsMissingRows: what the table said, and what this process met since', () => {
  it('without a read (the table not read yet, or ClickHouse away), this process alone', () => {
    const noted: Record<string, NotedViewFailure> = { v: { ...failure(100), recordedAt: 110 } };
    expect(viewsMissingRows(undefined, noted)).toEqual({ v: failure(100) });
    expect(viewsMissingRows(undefined, undefined)).toEqual({});
  });

  it("lists another instance's failure, and one from before this process started", () => {
    expect(viewsMissingRows({ at: 500, views: { w: failure(50, 3) } }, {})).toEqual({ w: failure(50, 3) });
  });

  it('drops what was written before the read began and is gone from it (recomputed since)', () => {
    const noted = { v: { ...failure(100), recordedAt: 110 } };
    expect(viewsMissingRows({ at: 200, views: {} }, noted)).toEqual({});
  });

  it('keeps what the read could not have seen: written after it began, still being written, or refused', () => {
    const read = { at: 200, views: {} };
    expect(viewsMissingRows(read, { v: { ...failure(190), recordedAt: 205 } })).toEqual({ v: failure(190) });
    expect(viewsMissingRows(read, { v: failure(250) })).toEqual({ v: failure(250) });
  });

  it('joins a view in both: the most failures, the first and last times, the newest error', () => {
    const read = { at: 300, views: { v: { failures: 4, firstAt: 10, lastAt: 250, error: 'old' } } };
    const noted = { v: { failures: 2, firstAt: 240, lastAt: 320, error: 'new' } };
    expect(viewsMissingRows(read, noted)).toEqual({
      v: { failures: 4, firstAt: 10, lastAt: 320, error: 'new' },
    });
    const older = { v: { failures: 5, firstAt: 5, lastAt: 200, error: 'mine', recordedAt: 400 } };
    expect(viewsMissingRows(read, older)).toEqual({
      v: { failures: 5, firstAt: 5, lastAt: 250, error: 'old' },
    });
  });
});
