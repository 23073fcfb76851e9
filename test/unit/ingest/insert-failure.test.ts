import { describe, expect, it } from 'vitest';
import { EngineError, engineMessage } from '../../../src/clickhouse/engine-error.ts';
import { TallyError } from '../../../src/errors.ts';
import {
  backoffMs,
  classifyFailure,
  clickhouseCode,
  failedViewOf,
} from '../../../src/ingest/insert-failure.ts';

const unreachable = (m: string) =>
  new TallyError('clickhouse-unreachable', `cannot reach ClickHouse at x: ${m}`);

describe('what a failed write means', () => {
  it('not sent: connection refused, unknown host', () => {
    expect(classifyFailure(unreachable('connect ECONNREFUSED 127.0.0.1:8123'))).toBe('unreachable');
    expect(classifyFailure(unreachable('getaddrinfo ENOTFOUND ch'))).toBe('unreachable');
  });
  it('maybe applied: reset, hang up, timeout, or no ClickHouse answer at all', () => {
    expect(classifyFailure(unreachable('read ECONNRESET'))).toBe('ambiguous');
    expect(classifyFailure(unreachable('socket hang up'))).toBe('ambiguous');
    expect(classifyFailure(new Error('Timeout error.'))).toBe('ambiguous');
    expect(classifyFailure(new Error('<html>502 Bad Gateway</html>'))).toBe('ambiguous');
  });
  it('a refused value (18.16 and current message styles), but not a table that differs from the model', () => {
    const old = new EngineError(
      'Code: 27, e.displayText() = DB::Exception: Cannot parse input: expected " before: x (at row 4)',
      undefined,
      undefined,
      'INSERT',
    );
    expect(clickhouseCode(old)).toBe(27);
    expect(classifyFailure(old)).toBe('data');
    expect(
      classifyFailure(new EngineError('Cannot parse DateTime', '41', 'CANNOT_PARSE_DATETIME', 'INSERT')),
    ).toBe('data');
    const schema = new EngineError(
      'Unknown field found while parsing JSONEachRow format: x',
      '117',
      'INCORRECT_DATA',
      'INSERT',
    );
    expect(classifyFailure(schema)).toBe('server');
  });
  it('a view that failed after the rows were stored, even with the code of a refused value', () => {
    const old = new EngineError(
      'Code: 153, e.displayText() = DB::Exception: Division by zero: while pushing to view db.balances_mv, e.what() = DB::Exception',
      undefined,
      undefined,
      'INSERT',
    );
    expect(classifyFailure(old)).toBe('view');
    const copy = new EngineError(
      "Cannot parse string 'zzz' as UInt64: while pushing to view db.tx__tally_copy",
      '6',
      'CANNOT_PARSE_TEXT',
      'INSERT',
    );
    expect(classifyFailure(copy)).toBe('view');
  });
  it('other ClickHouse errors: nothing written, retry later', () => {
    expect(classifyFailure(new EngineError('Too many parts', '252', 'TOO_MANY_PARTS', 'INSERT'))).toBe(
      'server',
    );
    expect(classifyFailure(new EngineError("Table t doesn't exist", '60', 'UNKNOWN_TABLE', 'INSERT'))).toBe(
      'server',
    );
  });
  it('shortens 18.16 messages and backs off exponentially with a cap', () => {
    expect(
      engineMessage(
        new Error(
          "Code: 60, e.displayText() = DB::Exception: Table x.y doesn't exist., e.what() = DB::Exception",
        ),
      ),
    ).toBe("Table x.y doesn't exist. (code 60)");
    const d = [0, 1, 2, 3, 10, 30].map((a) => backoffMs(a, 200, 30_000));
    expect(d[0]).toBeGreaterThanOrEqual(150);
    expect(d[0]).toBeLessThanOrEqual(250);
    expect(d[3]).toBeGreaterThanOrEqual(1200);
    expect(d[5]).toBeLessThanOrEqual(37_500);
  });
});

describe('the view a failed push names', () => {
  it('as 18.16 and current servers write it, quoted or not, with or without a UUID', () => {
    expect(
      failedViewOf(
        new Error(
          'Code: 153, e.displayText() = DB::Exception: Division by zero: while pushing to view db.balances_mv, e.what() = DB::Exception',
        ),
      ),
    ).toBe('balances_mv');
    expect(
      failedViewOf(
        new Error(
          "Value passed to 'throwIf' function is non-zero: while executing 'FUNCTION throwIf(...)': while pushing to view vf.mv_fail.",
        ),
      ),
    ).toBe('mv_fail');
    expect(failedViewOf(new Error('x: while pushing to view `db`.`orders` (1f0e-aa)'))).toBe('orders');
    expect(failedViewOf(new Error('Too many parts'))).toBeUndefined();
  });
});
