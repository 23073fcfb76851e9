import { describe, expect, it } from 'vitest';
import { EngineError } from '../../../src/clickhouse/engine-error.ts';
import {
  type EndpointAnswer,
  finishBody,
  finishedBody,
  jsonAnswer,
  KEEP_FINISHED_CHARS,
} from '../../../src/server/run-endpoint.ts';

const U = '18446744073709551615';

/** FORMAT JSON as 18.16 and chDB write it (output_format_json_quote_64bit_integers=0). */
const CLICKHOUSE = `{
\t"meta":
\t[
\t\t{
\t\t\t"name": "u",
\t\t\t"type": "UInt64"
\t\t},
\t\t{
\t\t\t"name": "rows",
\t\t\t"type": "String"
\t\t}
\t],

\t"data":
\t[
\t\t{
\t\t\t"u": ${U},
\t\t\t"rows": "\\"rows\\": 7"
\t\t}
\t],

\t"rows": 1,

\t"rows_before_limit_at_least": 1,

\t"statistics":
\t{
\t\t"elapsed": 0.000032899,
\t\t"rows_read": 2,
\t\t"bytes_read": 16
\t}
}
`;

describe('jsonAnswer', () => {
  it("keeps ClickHouse's meta and data text and writes rows and Tally's statistics", () => {
    const answer = jsonAnswer(CLICKHOUSE, 'SELECT 1', 0.5);
    expect(answer.rows).toBe(1);
    const body = finishBody({ format: 'json', ...answer }, 3);
    const end = CLICKHOUSE.indexOf('\t"rows": 1');
    expect(body.slice(0, end)).toBe(CLICKHOUSE.slice(0, end));
    expect(body).toContain(`"u": ${U},`);
    expect(body.slice(end)).toBe(
      '\t"rows": 1,\n\n\t"statistics":\n\t{\n\t\t"elapsed": 0.000032899,\n\t\t"rows_read": 2,\n\t\t"bytes_read": 16,\n\t\t"freshness_s": 3\n\t}\n}\n',
    );
    const parsed = JSON.parse(finishBody({ format: 'json', ...answer }, undefined)) as Record<
      string,
      unknown
    >;
    expect(Object.keys(parsed)).toEqual(['meta', 'data', 'rows', 'statistics']);
    expect(parsed.data).toEqual([{ u: Number(U), rows: '"rows": 7' }]);
    expect(parsed.statistics).toEqual({
      elapsed: 0.000032899,
      rows_read: 2,
      bytes_read: 16,
      freshness_s: null,
    });
  });

  it('takes a compact answer, and measures the time when ClickHouse wrote no statistics', () => {
    const text = `{"meta":[{"name":"u","type":"UInt64"}],"data":[{"u":${U}}],"rows":1}`;
    const answer = jsonAnswer(text, 'SELECT 1', 0.25);
    expect(answer.rows).toBe(1);
    const body = finishBody({ format: 'json', ...answer }, 1);
    expect(body).toContain(`"data":[{"u":${U}}],"rows": 1,`);
    expect(JSON.parse(body).statistics).toEqual({
      elapsed: 0.25,
      rows_read: 0,
      bytes_read: 0,
      freshness_s: 1,
    });
  });

  it('throws an error written into the answer, and refuses what is not FORMAT JSON', () => {
    const failed = `{"meta":[],"data":[{"u":1}],"rows":1,"exception":"Code: 241. DB::Exception: Memory limit exceeded"}`;
    expect(() => jsonAnswer(failed, 'SELECT 1', 0)).toThrow(
      expect.objectContaining({ clickhouseCode: '241', message: expect.stringContaining('Memory limit') }),
    );
    for (const bad of [
      '',
      'Code: 60. DB::Exception: no table',
      '{"meta":[],"data":[],"rows":',
      '{"rows": "1"}',
    ]) {
      expect(() => jsonAnswer(bad, 'SELECT 1', 0), bad).toThrow(EngineError);
    }
  });
});

describe('finishedBody', () => {
  it('is finishBody with its UTF-8 length, made again only when the freshness changes', () => {
    const text = '{"meta":[{"name":"s","type":"String"}],"data":[{"s":"été ✓"}],"rows":1}';
    const answer: EndpointAnswer = { format: 'json', ...jsonAnswer(text, 'SELECT 1', 0.1) };
    const first = finishedBody(answer, 3);
    expect(first.body).toBe(finishBody(answer, 3));
    expect(first.bytes).toBe(Buffer.byteLength(first.body));
    expect(first.bytes).toBeGreaterThan(first.body.length);
    expect(finishedBody(answer, 3)).toBe(first);
    const later = finishedBody(answer, 4);
    expect(later).not.toBe(first);
    expect(JSON.parse(later.body).statistics.freshness_s).toBe(4);
    expect(JSON.parse(finishedBody(answer, undefined).body).statistics.freshness_s).toBeNull();
    const csv: EndpointAnswer = { format: 'csv', body: 'a\n"é"\n', rows: -1 };
    const csvBody = finishedBody(csv, 9);
    expect(csvBody).toMatchObject({ body: 'a\n"é"\n', bytes: 7 });
    // Not a JSON answer: its body does not change with the freshness.
    expect(finishedBody(csv, 10)).toBe(csvBody);
  });

  it('does not keep the finished body of a large JSON answer (it would be a second copy)', () => {
    const big = `{"meta":[{"name":"s","type":"String"}],"data":[{"s":"${'x'.repeat(KEEP_FINISHED_CHARS)}"}],"rows":1}`;
    const answer: EndpointAnswer = { format: 'json', ...jsonAnswer(big, 'SELECT 1', 0.1) };
    const first = finishedBody(answer, 1);
    expect(first.bytes).toBe(Buffer.byteLength(first.body));
    expect(answer.finished).toBeUndefined();
    expect(finishedBody(answer, 1)).not.toBe(first);
    expect(finishedBody(answer, 1).body).toBe(first.body);
  });
});
