import { expect, it } from 'vitest';
import { EngineError } from '../../../src/clickhouse/engine-error.ts';
import type { ViewSpec } from '../../../src/deploy/ddl.ts';
import { viewQueryError } from '../../../src/deploy/view-query-error.ts';
import { TallyError } from '../../../src/errors.ts';
import { pipe } from '../../support/model-builder.ts';

const view: ViewSpec = {
  name: 'totals_mv',
  pipe: 'totals_mv',
  target: 'totals',
  source: 'events',
  reads: ['events'],
  query: 'SELECT ...',
  hash: 'h',
  nodes: pipe('totals_mv', 'SELECT account, sumState(amount) AS total FROM events GROUP BY account', 'totals')
    .nodes,
};
const failed = (message: string, code?: string) =>
  new EngineError(message, code, undefined, 'INSERT ... SELECT');

it("the SELECT failing on the values it reads is the pipe's: located, exit 1", () => {
  for (const err of [
    failed('Code: 153, e.displayText() = DB::Exception: Division by zero'),
    failed("Value passed to 'throwIf' function is non zero", '395'),
    failed('Cannot parse input: expected , before: x', '27'),
    // chDB without a code: known by its words.
    failed("Division by zero: while executing 'FUNCTION intDiv(...)'"),
  ]) {
    const r = viewQueryError(view, err);
    expect(r, err.message).toBeInstanceOf(TallyError);
    expect((r as TallyError).code).toBe('view-query-failed');
    expect((r as TallyError).exitCode).toBe(1);
    expect((r as TallyError).location?.file).toBe('pipes/totals_mv.pipe.yaml');
  }
});

it("the server's trouble stays ClickHouse's (exit 2, retried by scripts): disk, parts, memory, replicas", () => {
  for (const [message, code] of [
    ['Cannot reserve 1.00 MiB, not enough space', '243'],
    ['Too many parts (300). Merges are processing significantly slower than inserts', '252'],
    ['Memory limit (total) exceeded: would use 9.31 GiB', '241'],
    ['Table is in readonly mode', '242'],
  ] as const) {
    const err = failed(message, code);
    expect(viewQueryError(view, err)).toBe(err);
  }
  const other = new Error('socket hang up');
  expect(viewQueryError(view, other)).toBe(other);
});
