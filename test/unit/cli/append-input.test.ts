import { describe, expect, it } from 'vitest';
import { csvEvents } from '../../../src/cli/append-input.ts';
import { compileRowParser } from '../../../src/ingest/row-parser.ts';
import type { DataSource } from '../../../src/project/model.ts';
import { dataSource, pathSegments } from '../ingest/type-node.ts';

const LOC = { file: 'payments.datasource.yaml', line: 1, col: 1 };
const path = (text: string) => ({ text, segments: pathSegments(text) });

const payments: DataSource = {
  ...dataSource('payments', [
    { name: 'id', type: 'String' },
    { name: 'amount', type: 'Decimal(18, 2)', json: '$.money.amount' },
  ]),
  versions: {
    field: path('$.version'),
    missing: '2',
    mappings: [
      {
        version: '1',
        columns: [{ column: 'amount', json: path('$.amount_cents'), shift: -2, loc: LOC }],
        loc: LOC,
      },
      { version: '2', columns: [], loc: LOC },
    ],
    loc: LOC,
  },
};

describe('csvEvents with versioned events', () => {
  it('takes the version field and the paths a version maps as headers, next to the columns', () => {
    const csv = ['id,version,amount_cents,money.amount', 'a,1,1234,', 'b,2,,5.50', 'c,,,7'].join('\n');
    const events = csvEvents(csv, payments, 'in.csv');
    expect(events.map((e) => e.text)).toEqual([
      '{"id":"a","version":"1","amount_cents":"1234"}',
      '{"id":"b","version":"2","money":{"amount":"5.50"}}',
      '{"id":"c","money":{"amount":"7"}}',
    ]);
    const parser = compileRowParser(payments);
    expect(events.map((e) => parser.parse(e.text)).map((r) => r.ok && r.cells[1])).toEqual([
      '12.34',
      '5.5',
      '7',
    ]);
  });

  it('still names an unknown header', () => {
    expect(() => csvEvents('id,amount_cent\na,1', payments, 'in.csv')).toThrow(
      /in.csv:1: CSV column 2 `amount_cent` is not a column of `payments`/,
    );
  });
});
