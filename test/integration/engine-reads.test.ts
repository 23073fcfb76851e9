/**
 * The read path under the conditions that break naive HTTP clients: a keep-alive socket the
 * server closed while idle, an exception after the answer began, an aborted read, and many
 * reads at once. On the server these go through http-reader.ts; on chDB through the client.
 */
import { expect, it } from 'vitest';
import { EngineError } from '../../src/clickhouse/engine-error.ts';
import { forEachBackend } from '../support/backends.ts';

forEachBackend('engine reads', (ctx) => {
  it('reads again after the server dropped the idle keep-alive socket (keep_alive_timeout 3 s)', async () => {
    expect(await ctx.engine.rows('SELECT 1 AS x')).toEqual([{ x: 1 }]);
    await new Promise((r) => setTimeout(r, 3_500));
    expect(await ctx.engine.rows('SELECT 2 AS x')).toEqual([{ x: 2 }]);
    const r = await ctx.engine.query<{ x: number }>('SELECT 3 AS x');
    expect(r.data).toEqual([{ x: 3 }]);
    expect(r.meta).toEqual([{ name: 'x', type: 'UInt8' }]);
  }, 20_000);

  it('an exception after the answer began is an EngineError, never a half answer', async () => {
    // Millions of rows before the failure: the server has sent part of the body by then.
    const sql = 'SELECT number, throwIf(number = 3000000) AS t FROM system.numbers LIMIT 4000000';
    for (const read of [
      () => ctx.engine.text(sql, 'JSONEachRow'),
      () => ctx.engine.query(sql),
      () => ctx.engine.text(sql, 'CSVWithNames'),
    ]) {
      const err = await read().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(EngineError);
      expect(String((err as Error).message)).toMatch(/throwIf|non zero|non-zero/i);
    }
    // The engine still answers afterwards (chDB: no output leaks into the next query).
    expect(await ctx.engine.rows('SELECT 4 AS x')).toEqual([{ x: 4 }]);
  }, 60_000);

  it('a ClickHouse error before the answer carries its code; settings apply per query only', async () => {
    const err = await ctx.engine.rows('SELECT no_such_column FROM system.one').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EngineError);
    expect(String((err as Error).message)).toMatch(/no_such_column/);
    const limited = await ctx.engine
      .rows('SELECT number FROM system.numbers LIMIT 100', {
        settings: { max_result_rows: 10, result_overflow_mode: 'throw' },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(String((limited as Error)?.message)).toMatch(/limit|Limit/);
    const [after] = await ctx.engine.rows<{ n: unknown }>(
      'SELECT count() AS n FROM (SELECT number FROM system.numbers LIMIT 100)',
    );
    expect(Number(after!.n)).toBe(100);
  });

  it('one settings object read in two formats, and two settings objects, each get their own answer', async () => {
    // The server's reader keeps the request path per settings object and format.
    const sql = 'SELECT toUInt64(18446744073709551615) AS big';
    const quoted = { output_format_json_quote_64bit_integers: 1 };
    const bare = { output_format_json_quote_64bit_integers: 0 };
    for (let round = 0; round < 2; round++) {
      expect(await ctx.engine.text(sql, 'JSONEachRow', { settings: quoted })).toBe(
        '{"big":"18446744073709551615"}\n',
      );
      expect(await ctx.engine.text(sql, 'CSVWithNames', { settings: quoted })).toBe(
        '"big"\n18446744073709551615\n',
      );
      expect(await ctx.engine.text(sql, 'JSONEachRow', { settings: bare })).toBe(
        '{"big":18446744073709551615}\n',
      );
      expect(await ctx.engine.text(sql, 'JSONEachRow')).toMatch(/^\{"big":"?18446744073709551615"?\}\n$/);
    }
  });

  it('a query reading a table sent along with it (external data): server only, any key text', async () => {
    if (ctx.backend === 'embedded') {
      expect(ctx.engine.rowsWith).toBeUndefined();
      return;
    }
    const keys = [
      'plain',
      'tab\there',
      'new\nline',
      'quote"s',
      'back\\slash',
      'ünï😀',
      '--tally-boundary',
      '',
    ];
    const table = {
      name: '_keys',
      structure: 'key String',
      jsonLines: keys.map((k) => JSON.stringify({ key: k })).join('\n'),
    };
    const rows = await ctx.engine.rowsWith!<{ key: string; n: number }>(
      'SELECT key, length(key) AS n FROM _keys ORDER BY key',
      table,
    );
    expect(rows.map((r) => r.key)).toEqual(
      // ClickHouse orders strings by their bytes.
      [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
    );
    expect(Number(rows.find((r) => r.key === 'ünï😀')!.n)).toBe(Buffer.byteLength('ünï😀'));
    // A ClickHouse error is an EngineError naming the problem.
    const err = await ctx.engine.rowsWith!('SELECT nope FROM _keys', table).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EngineError);
    expect(String((err as Error).message)).toMatch(/nope/);
  });

  it('an aborted read rejects, and 64 reads at once all answer', async () => {
    const ctl = new AbortController();
    const slow = ctx.engine.rows('SELECT sleep(2) AS s', { signal: ctl.signal });
    setTimeout(() => ctl.abort(), 100);
    await expect(slow).rejects.toBeTruthy();
    const answers = await Promise.all(
      Array.from({ length: 64 }, (_, i) => ctx.engine.rows<{ i: number }>(`SELECT ${i} AS i`)),
    );
    expect(answers.map((a) => a[0]!.i)).toEqual(Array.from({ length: 64 }, (_, i) => i));
  }, 20_000);
});
