import { describe, expect, it } from 'vitest';
import { csvEvents, ndjsonEvents } from '../../../src/cli/append-input.ts';
import { takeRows } from '../../../src/cli/commands/append.ts';
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

describe('append input that is easy to get wrong', () => {
  it('refuses a CSV header that fills one column twice (the last cell won silently)', () => {
    expect(() => csvEvents('id,money.amount,$.money.amount\na,1,2', payments, 'in.csv')).toThrow(
      'in.csv:1: CSV columns 2 and 3 both fill `amount`',
    );
  });

  it('names the file of an unclosed quoted cell', () => {
    expect(() => csvEvents('id,money.amount\n"a,1\n', payments, 'in.csv')).toThrow(
      'in.csv:2: a quoted cell is not closed',
    );
  });

  it('drops a byte-order mark before the first NDJSON event, as CSV does', () => {
    expect(ndjsonEvents('\ufeff{"id":"a"}\r\n\n{"id":"b"}\n')).toEqual([
      { line: 1, text: '{"id":"a"}' },
      { line: 3, text: '{"id":"b"}' },
    ]);
  });
});

describe('takeRows: the chunks tally append sends a running server', () => {
  const rows = ['a'.repeat(9), 'b'.repeat(9), 'c'.repeat(9), 'd'];
  it('stops at the row count or the byte limit (lines with their newline), whichever comes first', () => {
    expect(takeRows(rows, 0, 3, 1000)).toEqual(rows.slice(0, 3));
    expect(takeRows(rows, 0, 10, 20)).toEqual(rows.slice(0, 2)); // 10 + 10 bytes
    expect(takeRows(rows, 2, 10, 20)).toEqual(rows.slice(2, 4));
  });

  it('always takes one row, so a row too big alone gets the server own answer', () => {
    expect(takeRows(rows, 0, 10, 5)).toEqual([rows[0]]);
    expect(takeRows(rows, 4, 10, 5)).toEqual([]);
  });
});
