import { expect, it } from 'vitest';
import type { Engine } from '../../../src/clickhouse/engine.ts';
import { validateView } from '../../../src/deploy/attach.ts';
import type { ViewSpec } from '../../../src/deploy/ddl.ts';
import { TallyError } from '../../../src/errors.ts';
import type { PipeNode } from '../../../src/project/model.ts';

const node = {
  name: 'balances',
  sql: 'SELECT account_id, sumState(amount) AS balance\nFROM transactions\nGROUP BY account_id,',
  sqlStart: { file: 'pipes/balances_mv.pipe.yaml', line: 4, col: 7 },
} as unknown as PipeNode;
const view = {
  name: 'balances_mv',
  pipe: 'balances_mv',
  source: 'transactions',
  target: 'balances',
  file: 'pipes/balances_mv.pipe.yaml',
  nodes: [node],
  query: 'SELECT ...',
} as unknown as ViewSpec;

const refusing = (message: string) =>
  ({
    database: 'db',
    rows: async () => [],
    query: async () => {
      throw new Error(message);
    },
  }) as unknown as Engine;

it("a view's SQL that does not parse: located in the pipe, ClickHouse's line without the parser's word list or the wrapper", async () => {
  const chdb =
    'Syntax error: failed at position 184 ()) (line 7, col 21): ) LIMIT 0. Expected one of: expression with optional alias, element of expression with optional alias, lambda expression, CAST operator, NOT';
  const err = await validateView(refusing(chdb), view, 'balances').catch((e: unknown) => e);
  expect(err).toBeInstanceOf(TallyError);
  expect((err as TallyError).format()).toBe(
    'pipes/balances_mv.pipe.yaml:4:7: the SQL of materialized pipe balances_mv does not run: Syntax error near `)`\n  hint: try it with `tally sql`; the view would write into balances',
  );
});

it('an unknown column: located at its line in the pipe', async () => {
  const err = await validateView(
    refusing('Unknown expression identifier `amount` in scope SELECT ...'),
    view,
    'balances',
  ).catch((e: unknown) => e);
  expect((err as TallyError).location).toEqual({ file: 'pipes/balances_mv.pipe.yaml', line: 4, col: 35 });
});
