import { describe, expect, it } from 'vitest';
import { csvEvents, ndjsonEvents } from '../../../src/cli/append-input.ts';
import { takeRows } from '../../../src/cli/commands/append.ts';
import { TallyError } from '../../../src/errors.ts';
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

describe('a CSV header naming a column events do not fill', () => {
  const returns: DataSource = dataSource('returns', [
    { name: 'id', type: 'String' },
    { name: 'reason', type: 'String', json: null, default: "'unspecified'", defaultValue: 'unspecified' },
    { name: 'seen', type: 'DateTime', json: null, default: 'now()' },
    { name: 'n', type: 'AggregateFunction(count)', json: null },
  ]);

  it('says a column with a default and no json is not read from events, and how to read it', () => {
    let err: TallyError | undefined;
    try {
      csvEvents('id,reason\na,damaged', returns, 'in.csv');
    } catch (e) {
      err = e as TallyError;
    }
    expect(err).toBeInstanceOf(TallyError);
    expect(err!.message).toBe(
      "in.csv:1: CSV column 2 `reason` is column `reason` of `returns`, which is not read from events: it has a default ('unspecified') and no json, so every row gets the default",
    );
    expect(err!.hint).toBe(
      'write json: $.reason on the column (test.datasource.yaml:1:1) to read the field and fall back to the default, or leave reason out of the header',
    );
  });

  it('says a default_expr column is computed, and an aggregate state filled by pipes', () => {
    expect(() => csvEvents('id,seen\na,2024-01-01', returns, 'in.csv')).toThrow(
      'in.csv:1: CSV column 2 `seen` is column `seen` of `returns`, which is not read from events: it is computed by default_expr (now())',
    );
    expect(() => csvEvents('id,n\na,1', returns, 'in.csv')).toThrow(
      'in.csv:1: CSV column 2 `n` is column `n` of `returns`, which holds aggregate states: materialized pipes fill it, events cannot',
    );
  });
});
