import { beforeAll, expect, it } from 'vitest';
import { quoteIdent } from '../../src/clickhouse/create-engine.ts';
import type { Engine } from '../../src/clickhouse/engine.ts';
import {
  batchLines,
  DatasourceSink,
  type Identity,
  type IncomingBatch,
} from '../../src/ingest/datasource-sink.ts';
import { ensureIngestTables, pruneSeen } from '../../src/ingest/ingest-tables.ts';
import { compileRowParser, type EventMeta, type RowParser } from '../../src/ingest/row-parser.ts';
import type { DataSource } from '../../src/project/model.ts';
import { forEachBackend } from '../support/backends.ts';
import { createDatasourceTables } from '../support/ingest-fixtures.ts';
import { dataSource } from '../unit/ingest/type-node.ts';

const KAFKA = { topic: 'tx', start: 'earliest' as const, metadata: [], loc: { file: 'f', line: 1, col: 1 } };

/** A Kafka batch as the ingester makes one: complete lines in the batch's text (BatchLines). */
function kafkaBatch(parser: RowParser, partition: number, first: number, raws: string[]): IncomingBatch {
  const lines: string[] = [];
  const events = raws.map((raw, i) => {
    const meta: EventMeta = {
      topic: 'tx',
      partition,
      offset: first + i,
      timestamp: 0,
      key: null,
      headers: '{}',
    };
    return { raw, row: parser.parseLineInto(raw, meta, lines), offset: first + i };
  });
  return {
    source: 'kafka',
    topic: 'tx',
    partition,
    requestId: '',
    events,
    firstOffset: first,
    lastOffset: first + raws.length - 1,
    lag: 0,
    bytes: raws.join('').length,
    lines: batchLines(events, lines),
  };
}

/** An HTTP batch whose rows come as cells (the path of rows that lack a default_expr column). */
function httpBatch(parser: RowParser, raws: string[], requestId = 'req-1'): IncomingBatch {
  return {
    source: 'http',
    topic: '',
    partition: -1,
    requestId,
    events: raws.map((raw) => ({ raw, row: parser.parse(raw), offset: -1 })),
    firstOffset: -1,
    lastOffset: -1,
    lag: -1,
    bytes: raws.join('').length,
  };
}

/** The tables of `ds` created on `engine`, and a sink writing them with its own parser. */
async function sinkFor(
  engine: Engine,
  ds: DataSource,
  identity: Identity,
  tables: Parameters<typeof createDatasourceTables>[2] = {},
): Promise<{ p: RowParser; s: DatasourceSink }> {
  await createDatasourceTables(engine, ds, tables);
  await ensureIngestTables(engine, ds);
  const p = compileRowParser(ds);
  return { p, s: new DatasourceSink(engine, ds, p, { instance: 'test', identity }) };
}

forEachBackend('ingest sink', (ctx) => {
  const q = (sql: string) => ctx.engine.rows<Record<string, unknown>>(sql);

  const tx = dataSource(
    'tx',
    [
      { name: 'id', type: 'String' },
      { name: 'ts', type: 'DateTime' },
      { name: 'amount', type: 'Decimal(18, 2)' },
      { name: 'currency', type: 'String', defaultValue: 'USD', default: "'USD'" },
      { name: 'day', type: 'Date', json: null, default: 'toDate(ts)' },
      { name: 'seq', type: 'UInt64', default: 'toUInt64(toUnixTimestamp(ts) * 10)' },
    ],
    {
      dedupKey: ['id'],
      kafka: KAFKA,
      engine: { type: 'MergeTree', sortingKey: ['id'], partitionKey: 'toYYYYMM(ts)', settings: {} },
    },
  );
  let parser: RowParser;
  let sink: DatasourceSink;

  beforeAll(async () => {
    await createDatasourceTables(ctx.engine, tx);
    await ensureIngestTables(ctx.engine, tx);
    parser = compileRowParser(tx);
    sink = new DatasourceSink(ctx.engine, tx, parser, { instance: 'test', identity: 'dedup_key' });
  });

  it('stores good rows with exact decimals and defaults, quarantines the rest with every reason', async () => {
    const [o] = await sink.write([
      kafkaBatch(parser, 0, 0, [
        '{"id":"a","ts":"2024-01-01T00:00:00Z","amount":12345678901234.56,"seq":7}',
        '{"id":"b","ts":"2024-02-01 10:00:00","amount":"-0.5"}',
        '{"id":"c","ts":"soon","amount":1.234}',
        '{"id":',
      ]),
    ]);
    expect(o).toEqual({ stored: 2, quarantined: 2, duplicates: 0, skipped: 0 });
    expect(
      await q(
        'SELECT id, toUnixTimestamp(ts) AS t, toString(amount) AS a, currency, toString(day) AS d, toString(seq) AS s FROM tx ORDER BY id',
      ),
    ).toEqual([
      {
        id: 'a',
        t: expect.anything(),
        a: expect.stringMatching(/^12345678901234\.56$/),
        currency: 'USD',
        d: '2024-01-01',
        s: '7',
      },
      {
        id: 'b',
        t: expect.anything(),
        a: expect.stringMatching(/^-0\.50?$/),
        currency: 'USD',
        d: '2024-02-01',
        s: String((Date.UTC(2024, 1, 1, 10) / 1000) * 10),
      },
    ]);
    const bad = await q(
      'SELECT raw, reason, columns, source, topic, `partition` AS p, `offset` AS o FROM tx_quarantine ORDER BY `offset`',
    );
    expect(bad).toHaveLength(2);
    expect(bad[0]).toMatchObject({ source: 'kafka', topic: 'tx', columns: ['ts', 'amount'] });
    expect(Number(bad[0]!.o)).toBe(2);
    expect(String(bad[0]!.reason).split('\n')).toEqual([
      'ts: expected a date and time (YYYY-MM-DD hh:mm:ss, ISO-8601 with Z or an offset, or epoch seconds or milliseconds), got string "soon"',
      'amount: Decimal(18, 2) takes at most 2 digits after the point, got 1.234',
    ]);
    expect(bad[1]).toMatchObject({ raw: '{"id":', columns: [] });
    expect(String(bad[1]!.reason)).toMatch(/^event: malformed JSON/);
  });

  it('drops duplicates by key, within a flush and against what is stored', async () => {
    const outcomes = await sink.write([
      httpBatch(parser, ['{"id":"a","ts":1,"amount":1}', '{"id":"d","ts":1,"amount":1}']),
      httpBatch(parser, ['{"id":"d","ts":2,"amount":2}', '{"id":"e","ts":2,"amount":2}'], 'req-2'),
    ]);
    expect(outcomes).toEqual([
      { stored: 1, quarantined: 0, duplicates: 1, skipped: 0 },
      { stored: 1, quarantined: 0, duplicates: 1, skipped: 0 },
    ]);
    expect(await q('SELECT id FROM tx ORDER BY id')).toEqual([
      { id: 'a' },
      { id: 'b' },
      { id: 'd' },
      { id: 'e' },
    ]);
    expect(await q('SELECT count() AS n FROM tally_seen_tx')).toEqual([{ n: expect.anything() }]);
  });

  it('skips a redelivered Kafka range: watermarks and seen keys', async () => {
    // Redelivered after the first flush was fully recorded (its ops log row is written in the
    // background), as after a restart.
    await sink.settled();
    sink.invalidate();
    const again = kafkaBatch(parser, 0, 0, [
      '{"id":"a","ts":"2024-01-01T00:00:00Z","amount":12345678901234.56}',
      '{"id":"b","ts":"2024-02-01 10:00:00","amount":"-0.5"}',
      '{"id":"c","ts":"soon","amount":1.234}',
      '{"id":',
    ]);
    const [o] = await sink.write([again]);
    // Quarantined rows are recognized by the quarantine watermark; good rows by their keys.
    expect(o).toEqual({ stored: 0, quarantined: 0, duplicates: 2, skipped: 2 });
    expect(await q('SELECT count() AS n FROM tx_quarantine')).toEqual([{ n: expect.anything() }]);
    expect(Number((await q('SELECT count() AS n FROM tx_quarantine'))[0]!.n)).toBe(2);
    await sink.settled();
    const marks = await sink.watermarks('tx');
    expect(marks.get(0)).toEqual({ batch: 3, source: 3, quarantine: 3 });
  });

  it('writes the ops log and offsets bookkeeping', async () => {
    await sink.settled();
    const log = await q(
      "SELECT source, topic, `partition` AS p, first_offset AS f, last_offset AS l, rows, quarantined, duplicates, skipped FROM tally_ingest_log WHERE datasource = 'tx' ORDER BY time, source DESC",
    );
    const rows = log.map((r) =>
      Object.fromEntries(
        Object.entries(r).map(([k, v]) => [k, typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v]),
      ),
    );
    expect(rows.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual([
      { source: 'http', topic: '', p: -1, f: -1, l: -1, rows: 2, quarantined: 0, duplicates: 2, skipped: 0 },
      { source: 'kafka', topic: 'tx', p: 0, f: 0, l: 3, rows: 0, quarantined: 0, duplicates: 2, skipped: 2 },
      { source: 'kafka', topic: 'tx', p: 0, f: 0, l: 3, rows: 2, quarantined: 2, duplicates: 0, skipped: 0 },
    ]);
    const offs = await q(
      "SELECT kind, max(`offset`) AS o FROM tally_ingest_offsets WHERE datasource = 'tx' GROUP BY kind ORDER BY kind",
    );
    expect(offs.map((r) => [r.kind, Number(r.o)])).toEqual([
      ['batch', 3],
      ['quarantine', 3],
    ]);
  });

  it('fills expression defaults for rows that lack them when others have them', async () => {
    const [o] = await sink.write([
      httpBatch(parser, [
        '{"id":"m1","ts":"2024-03-01T00:00:00Z","amount":1,"seq":5}',
        '{"id":"m2","ts":"2024-03-02T00:00:00Z","amount":1}',
      ]),
    ]);
    expect(o!.stored).toBe(2);
    expect(await q("SELECT id, toString(seq) AS s FROM tx WHERE id LIKE 'm%' ORDER BY id")).toEqual([
      { id: 'm1', s: '5' },
      { id: 'm2', s: String((Date.UTC(2024, 2, 2) / 1000) * 10) },
    ]);
  });

  it('Kafka batches: rows given as lines and rows given as cells (an expression default to fill) in one batch', async () => {
    const ds = dataSource(
      'mixk',
      [
        { name: 'id', type: 'String' },
        { name: 'n', type: 'Int32' },
        { name: 'm', type: 'Int64', default: 'n * 2' },
      ],
      { kafka: { ...KAFKA, topic: 'mixk' } },
    );
    const { p, s } = await sinkFor(ctx.engine, ds, 'none');
    const raws = [
      '{"id":"a","n":1,"m":100}',
      '{"id":"b","n":2}',
      '{"id":"c","n":3,"m":300}',
      '{"id":"d","n":4,"m":400}',
      '{"id":"e","n":5}',
    ];
    const batch = { ...kafkaBatch(p, 0, 0, raws), topic: 'mixk' };
    expect(batch.events.map((e) => (e.row.ok && 'inBatch' in e.row ? 'line' : 'cells'))).toEqual([
      'line',
      'cells',
      'line',
      'line',
      'cells',
    ]);
    expect(await s.write([batch])).toEqual([{ stored: 5, quarantined: 0, duplicates: 0, skipped: 0 }]);
    expect(await q('SELECT id, toInt32(m) AS m FROM mixk ORDER BY id')).toEqual([
      { id: 'a', m: 100 },
      { id: 'b', m: 4 },
      { id: 'c', m: 300 },
      { id: 'd', m: 400 },
      { id: 'e', m: 10 },
    ]);
  });

  /**
   * A sink of `name` whose column `d` the model says is a String while the table holds a Date:
   * rows with a `d` that is not a date are refused by ClickHouse, not by the parser.
   */
  async function refusingSink(name: string): Promise<{ p: RowParser; s: DatasourceSink }> {
    const ds = dataSource(name, [
      { name: 'id', type: 'String' },
      { name: 'd', type: 'String' },
    ]);
    return sinkFor(ctx.engine, ds, 'none', { override: { d: 'Date' } });
  }

  it('finds and quarantines the rows ClickHouse refuses, storing the others', async () => {
    const { p, s } = await refusingSink('odd');
    const rows = Array.from(
      { length: 9 },
      (_, i) => `{"id":"r${i}","d":"${i === 3 || i === 7 ? 'not a date' : '2024-01-0' + (i + 1)}"}`,
    );
    const [o] = await s.write([httpBatch(p, rows)]);
    expect(o).toEqual({ stored: 7, quarantined: 2, duplicates: 0, skipped: 0 });
    expect((await q('SELECT id FROM odd ORDER BY id')).map((r) => r.id)).toEqual([
      'r0',
      'r1',
      'r2',
      'r4',
      'r5',
      'r6',
      'r8',
    ]);
    const bad = await q('SELECT raw, reason FROM odd_quarantine ORDER BY raw');
    expect(bad.map((r) => r.raw)).toEqual([rows[3], rows[7]]);
    expect(String(bad[0]!.reason)).toMatch(/^event: ClickHouse refused the row: /);
  });

  it('Kafka batches (lines in one text per batch): refused rows are found by halves, the others stored once each', async () => {
    const { p, s } = await refusingSink('oddk');
    const rows = (from: number) =>
      Array.from(
        { length: 7 },
        (_, i) => `{"id":"r${from + i}","d":"${i === 2 || i === 3 ? 'not a date' : `2024-01-0${i + 1}`}"}`,
      );
    // Two batches of one flush, a malformed event between good ones: runs of the batch text are
    // cut at every refused row, at the batch boundary and around the event that holds no line.
    const first = rows(0);
    first.splice(5, 0, '{"id":');
    const outcomes = await s.write([kafkaBatch(p, 0, 0, first), kafkaBatch(p, 1, 0, rows(10))]);
    expect(outcomes).toEqual([
      { stored: 5, quarantined: 3, duplicates: 0, skipped: 0 },
      { stored: 5, quarantined: 2, duplicates: 0, skipped: 0 },
    ]);
    expect(
      (await q('SELECT id, toString(d) AS d FROM oddk ORDER BY id')).map((r) => `${r.id} ${r.d}`),
    ).toEqual([
      'r0 2024-01-01',
      'r1 2024-01-02',
      'r10 2024-01-01',
      'r11 2024-01-02',
      'r14 2024-01-05',
      'r15 2024-01-06',
      'r16 2024-01-07',
      'r4 2024-01-05',
      'r5 2024-01-06',
      'r6 2024-01-07',
    ]);
    const bad = await q('SELECT raw FROM oddk_quarantine ORDER BY raw');
    expect(bad.map((r) => r.raw).sort()).toEqual(
      ['{"id":', ...[first[2], first[3], rows(10)[2], rows(10)[3]]].sort(),
    );
  });

  it('Kafka batches: a duplicate inside a batch is left out of its text, the rows around it stored', async () => {
    const ds = dataSource(
      'dupk',
      [
        { name: 'id', type: 'String' },
        { name: 'n', type: 'Int32' },
      ],
      {
        dedupKey: ['id'],
        kafka: { ...KAFKA, topic: 'dupk' },
      },
    );
    const { p, s } = await sinkFor(ctx.engine, ds, 'dedup_key');
    const raws = ['a', 'b', 'a', 'c', 'b', 'd'].map((id, n) => `{"id":"${id}","n":${n}}`);
    const [o] = await s.write([{ ...kafkaBatch(p, 0, 0, raws), topic: 'dupk' }]);
    expect(o).toEqual({ stored: 4, quarantined: 0, duplicates: 2, skipped: 0 });
    // The first of each key is kept: n is its position in the batch.
    expect(await q('SELECT id, n FROM dupk ORDER BY id')).toEqual([
      { id: 'a', n: 0 },
      { id: 'b', n: 1 },
      { id: 'c', n: 3 },
      { id: 'd', n: 5 },
    ]);
  });

  it('keeps Kafka coordinates for data sources without a dedup key, and skips what is stored', async () => {
    const ds = dataSource('plain', [{ name: 'v', type: 'Int32' }], { kafka: { ...KAFKA, topic: 'plain' } });
    await createDatasourceTables(ctx.engine, ds, { coordinates: true });
    const report = await ensureIngestTables(ctx.engine, ds);
    expect(report.coordinates).toBe(true);
    const p = compileRowParser(ds, { hiddenColumns: ['__partition', '__offset'] });
    const s = new DatasourceSink(ctx.engine, ds, p, { instance: 'test', identity: 'coordinates' });
    const batch = (first: number, n: number) => {
      const b = kafkaBatch(
        p,
        1,
        first,
        Array.from({ length: n }, (_, i) => `{"v":${first + i}}`),
      );
      return {
        ...b,
        topic: 'plain',
        events: b.events.map((e) => ({
          ...e,
          row: p.parse(String(e.raw), {
            topic: 'plain',
            partition: 1,
            offset: e.offset,
            timestamp: 0,
            key: null,
            headers: '{}',
          }),
        })),
      };
    };
    expect(await s.write([batch(0, 5)])).toEqual([{ stored: 5, quarantined: 0, duplicates: 0, skipped: 0 }]);
    // A crash after the insert and before the bookkeeping: simulate by removing the batch row.
    s.invalidate();
    expect(await s.write([batch(3, 5)])).toEqual([{ stored: 3, quarantined: 0, duplicates: 0, skipped: 2 }]);
    expect((await q('SELECT v FROM plain ORDER BY v')).map((r) => r.v)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(
      await q('SELECT toInt32(__partition) AS p, toInt64(max(__offset)) AS o FROM plain GROUP BY p'),
    ).toEqual([{ p: 1, o: expect.anything() }]);
  });

  it('replaces the seen view when the key changes, backfilling keys of stored rows, and prunes old days', async () => {
    const db = quoteIdent(ctx.database);
    await ctx.engine.command(
      `INSERT INTO ${db}.tally_seen_tx (key, seen_at) VALUES ('old', toDateTime('2020-01-01 00:00:00'))`,
    );
    const dropped = await pruneSeen(ctx.engine, 'tx', 7);
    expect(dropped).toEqual(['20200101']);
    const report = await ensureIngestTables(ctx.engine, tx);
    expect(report.created).toEqual([]);
    const rekeyed = { ...tx, dedupKey: ['id', 'ts'] };
    const r2 = await ensureIngestTables(ctx.engine, rekeyed);
    expect(r2.created.some((s) => s.startsWith('TRUNCATE'))).toBe(true);
    const keys = await q('SELECT key FROM tally_seen_tx ORDER BY key LIMIT 1');
    expect(String(keys[0]!.key)).toMatch(/^1:a10:\d{10}$/);
  });

  it('an HTTP INSERT applied but unanswered: the retry counts its rows as stored, not as duplicates of themselves', async () => {
    // The test above re-keyed the seen view: back to `id` (the stored rows' keys are backfilled).
    await ensureIngestTables(ctx.engine, tx);
    const db = quoteIdent(ctx.engine.database);
    let tears = 0;
    // The first INSERT into tx goes in, and its answer is lost (a reset socket: "ambiguous").
    const tearing = new Proxy(ctx.engine, {
      get(target, prop, receiver) {
        if (prop !== 'command') return Reflect.get(target, prop, receiver);
        return async (sql: string) => {
          await target.command(sql);
          if (tears === 0 && sql.startsWith(`INSERT INTO ${db}.${quoteIdent('tx')} `)) {
            tears++;
            throw new Error('socket hang up');
          }
        };
      },
    });
    const s = new DatasourceSink(tearing, tx, parser, {
      instance: 'test',
      identity: 'dedup_key',
      retryInitialMs: 1,
    });
    const outcomes = await s.write([
      httpBatch(
        parser,
        ['{"id":"torn-1","ts":1,"amount":1}', '{"id":"torn-2","ts":1,"amount":1}'],
        'req-torn',
      ),
      // A real duplicate of a stored row stays one.
      httpBatch(parser, ['{"id":"a","ts":1,"amount":1}'], 'req-torn-2'),
    ]);
    expect(tears).toBe(1);
    expect(outcomes).toEqual([
      { stored: 2, quarantined: 0, duplicates: 0, skipped: 0 },
      { stored: 0, quarantined: 0, duplicates: 1, skipped: 0 },
    ]);
    expect(await q("SELECT id, count() AS n FROM tx WHERE id LIKE 'torn-%' GROUP BY id ORDER BY id")).toEqual(
      [
        { id: 'torn-1', n: expect.anything() },
        { id: 'torn-2', n: expect.anything() },
      ],
    );
    expect(await q("SELECT toString(count()) AS n FROM tx WHERE id LIKE 'torn-%'")).toEqual([{ n: '2' }]);
  });

  it('an ops log write that fails is tried again, so the flush keeps its row (and its batch mark)', async () => {
    const db = quoteIdent(ctx.engine.database);
    let failed = 0;
    const flaky = new Proxy(ctx.engine, {
      get(target, prop, receiver) {
        if (prop !== 'command') return Reflect.get(target, prop, receiver);
        return async (sql: string) => {
          if (failed === 0 && sql.startsWith(`INSERT INTO ${db}.tally_ingest_log`)) {
            failed++;
            throw new Error('Code: 252. DB::Exception: Too many parts');
          }
          return target.command(sql);
        };
      },
    });
    const logs: Array<Record<string, unknown>> = [];
    const s = new DatasourceSink(flaky, tx, parser, {
      instance: 'test-logged',
      identity: 'dedup_key',
      retryInitialMs: 1,
      log: (e) => logs.push(e),
    });
    await s.write([httpBatch(parser, ['{"id":"logged-1","ts":1,"amount":1}'], 'req-logged')]);
    await s.settled();
    expect(failed).toBe(1);
    expect(logs).toContainEqual(
      expect.objectContaining({ msg: 'ingest log write failed', retried: 1, dropped: 0 }),
    );
    expect(
      await q("SELECT toString(sum(rows)) AS n FROM tally_ingest_log WHERE instance = 'test-logged'"),
    ).toEqual([{ n: '1' }]);
  });

  it('an ops log write that keeps failing is given up after three tries, and the sink still settles', async () => {
    const db = quoteIdent(ctx.engine.database);
    const failing = new Proxy(ctx.engine, {
      get(target, prop, receiver) {
        if (prop !== 'command') return Reflect.get(target, prop, receiver);
        return async (sql: string) => {
          if (sql.startsWith(`INSERT INTO ${db}.tally_ingest_log`))
            throw new Error('Code: 252. DB::Exception: Too many parts');
          return target.command(sql);
        };
      },
    });
    const logs: Array<Record<string, unknown>> = [];
    const s = new DatasourceSink(failing, tx, parser, {
      instance: 'test-unlogged',
      identity: 'dedup_key',
      retryInitialMs: 1,
      log: (e) => logs.push(e),
    });
    const [o] = await s.write([httpBatch(parser, ['{"id":"unlogged-1","ts":1,"amount":1}'], 'req-unlogged')]);
    await s.settled();
    // The rows are stored whatever becomes of their log row.
    expect(o).toMatchObject({ stored: 1 });
    expect(
      logs.filter((l) => l.msg === 'ingest log write failed').map((l) => [l.retried, l.dropped]),
    ).toEqual([
      [1, 0],
      [1, 0],
      [0, 1],
    ]);
    expect(
      await q("SELECT toString(count()) AS n FROM tally_ingest_log WHERE instance = 'test-unlogged'"),
    ).toEqual([{ n: '0' }]);
  });
});

forEachBackend('dedup keys agree with ClickHouse', (ctx) => {
  it('the key Tally computes equals the key the seen view computes, for every key type', async () => {
    const ds = dataSource(
      'keyed',
      [
        { name: 's', type: 'String' },
        { name: 'lc', type: 'LowCardinality(String)' },
        { name: 'u64', type: 'UInt64' },
        { name: 'i32', type: 'Int32' },
        { name: 'd', type: 'Date' },
        { name: 'dt', type: 'DateTime' },
        { name: 'id', type: 'UUID' },
        { name: 'e', type: "Enum8('open' = 1, 'closed' = 2)" },
      ],
      { dedupKey: ['s', 'lc', 'u64', 'i32', 'd', 'dt', 'id', 'e'] },
    );
    const { p, s } = await sinkFor(ctx.engine, ds, 'dedup_key');
    const events = [
      '{"s":"a:b\\u0000c","lc":"é","u64":"18446744073709551615","i32":-5,"d":"2024-02-29","dt":"2024-01-01T00:00:00+02:00","id":"0F8FAD5B-D9CB-469F-A165-70867728950E","e":2}',
      '{"s":"","lc":"x","u64":0,"i32":2147483647,"d":"1970-01-01","dt":0,"id":"00000000-0000-0000-0000-000000000000","e":"open"}',
    ];
    const [o] = await s.write([httpBatch(p, events)]);
    expect(o!.stored).toBe(2);
    const tsKeys = events.map((raw) => {
      const r = p.parse(raw);
      return r.ok ? r.key : undefined;
    });
    const chKeys = (await ctx.engine.rows<{ key: string }>('SELECT key FROM tally_seen_keyed')).map(
      (r) => r.key,
    );
    expect(chKeys.sort()).toEqual([...tsKeys].sort());
    // And so the same events again are recognized.
    const [again] = await s.write([httpBatch(p, events)]);
    expect(again).toMatchObject({ stored: 0, duplicates: 2 });
  });
});
