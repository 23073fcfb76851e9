import { describe, expect, it } from 'vitest';
import { batchLines, type IncomingEvent } from '../../../src/ingest/datasource-sink.ts';
import { compileRowParser } from '../../../src/ingest/row-parser.ts';
import { dataSource } from './type-node.ts';

function parseAll(raws: string[], parser: ReturnType<typeof compileRowParser>) {
  const lines: string[] = [];
  const events: IncomingEvent[] = raws.map((raw, i) => ({
    raw,
    row: parser.parseLineInto(raw, undefined, lines),
    offset: i,
  }));
  return { events, lines };
}

describe('parseLineInto and batchLines', () => {
  it("keeps good rows' lines in one text, each found by its event's position; refused rows hold none", () => {
    const parser = compileRowParser(
      dataSource('t', [
        { name: 'id', type: 'String' },
        { name: 'n', type: 'Int32' },
      ]),
    );
    const raws = [
      '{"id":"a","n":1}',
      '{"id":',
      '{"id":"é€","n":2}',
      '{"id":"c","n":3.5}',
      '{"id":"d","n":4}',
    ];
    const { events, lines } = parseAll(raws, parser);
    expect(events.map((e) => e.row.ok)).toEqual([true, false, true, false, true]);
    const b = batchLines(events, lines);
    expect(b.text).toBe('{"id":"a","n":1}\n{"id":"é€","n":2}\n{"id":"d","n":4}');
    const lineAt = (i: number) => (b.starts[i]! < 0 ? undefined : b.text.slice(b.starts[i], b.ends[i]));
    expect(raws.map((_, i) => lineAt(i))).toEqual([
      '{"id":"a","n":1}',
      undefined,
      '{"id":"é€","n":2}',
      undefined,
      '{"id":"d","n":4}',
    ]);
    // Consecutive lines are one slice: the next line starts one past the end of the one before.
    expect(b.starts[2]).toBe(b.ends[0]! + 1);
  });

  it('leaves rows that come as cells (a missing default_expr column) out of the text', () => {
    const parser = compileRowParser(
      dataSource('t', [
        { name: 'id', type: 'String' },
        { name: 'day', type: 'Date', default: 'today()' },
      ]),
    );
    const { events, lines } = parseAll(['{"id":"a","day":"2024-01-02"}', '{"id":"b"}'], parser);
    const b = batchLines(events, lines);
    expect(b.text).toBe('{"id":"a","day":"2024-01-02"}');
    expect([...b.starts]).toEqual([0, -1]);
    expect(events[1]!.row).toEqual({ ok: true, cells: ['"b"', undefined] });
  });

  it('shares one row object for every line of a data source without a dedup key, and keeps keys', () => {
    const plain = compileRowParser(dataSource('t', [{ name: 'id', type: 'String' }]));
    const a = parseAll(['{"id":"a"}', '{"id":"b"}'], plain).events;
    expect(a[0]!.row).toBe(a[1]!.row);
    const keyed = compileRowParser(dataSource('t', [{ name: 'id', type: 'String' }], { dedupKey: ['id'] }));
    const k = parseAll(['{"id":"a"}', '{"id":"b"}'], keyed).events;
    expect(k.map((e) => (e.row.ok ? e.row.key : undefined))).toEqual([
      expect.any(String),
      expect.any(String),
    ]);
    expect(k[0]!.row).not.toEqual(k[1]!.row);
  });

  it('refuses lines that do not match the rows that gave them', () => {
    const parser = compileRowParser(dataSource('t', [{ name: 'id', type: 'String' }]));
    const { events } = parseAll(['{"id":"a"}'], parser);
    expect(() => batchLines(events, [])).toThrow(/0 lines for 1 in-batch rows/);
  });
});
