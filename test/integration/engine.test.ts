import { describe, expect, it } from 'vitest';
import { capabilitiesFor } from '../../src/clickhouse/capabilities.ts';
import { createEngine } from '../../src/clickhouse/create-engine.ts';
import { dropTableSql, withLiveDatabase } from '../../src/deploy/ddl.ts';
import { clickhouseConfig, forEachBackend, scratchDatabase } from '../support/backends.ts';

forEachBackend('engine', (ctx) => {
  it('reads the version and derives capabilities from it', () => {
    const caps = ctx.engine.capabilities;
    expect(caps.version).toMatch(/^\d+\.\d+/);
    expect(caps).toEqual(capabilitiesFor(caps.version));
    if (ctx.backend === 'server') expect(caps.major).toBeGreaterThanOrEqual(18);
    if (ctx.backend === 'embedded') expect(caps.queryParams && caps.cte && caps.dateTime64).toBe(true);
    console.log(`[${ctx.backend}] ${ctx.engine.description}`);
  });

  it('creates a table, inserts, selects with statistics, in the project database', async () => {
    const e = ctx.engine;
    await e.command(
      'CREATE TABLE items (id UInt32, name String, amount Decimal(18, 2)) ENGINE = MergeTree ORDER BY id',
    );
    await e.insert('items', [
      { id: 1, name: "O'Brien", amount: 12.5 },
      { id: 2, name: 'line\nbreak', amount: -3.25 },
    ]);
    const res = await e.query<{ n: string; total: string }>(
      'SELECT count() AS n, sum(amount) AS total FROM items',
    );
    expect(res.rows).toBe(1);
    expect(Number(res.data[0]!.n)).toBe(2);
    expect(Number(res.data[0]!.total)).toBeCloseTo(9.25);
    expect(res.meta.map((m) => m.name)).toEqual(['n', 'total']);
    expect(res.statistics?.rows_read).toBeGreaterThanOrEqual(2);
    const names = await e.rows<{ name: string }>(`SELECT name FROM ${ctx.database}.items ORDER BY id`);
    expect(names.map((r) => r.name)).toEqual(["O'Brien", 'line\nbreak']);
    const csv = await e.text('SELECT id, name FROM items ORDER BY id', 'CSVWithNames');
    expect(csv.split('\n')[0]).toBe('"id","name"');
  });

  it('keeps per-query settings to that query', async () => {
    const e = ctx.engine;
    const one = await e
      .rows<{ v: string }>("SELECT toString(getSetting('max_threads')) AS v", {
        settings: { max_threads: 1 },
      })
      .catch(async () =>
        e.rows<{ v: string }>("SELECT value AS v FROM system.settings WHERE name = 'max_threads'", {
          settings: { max_threads: 1 },
        }),
      );
    expect(one[0]!.v).toContain('1');
    const after = await e.rows<{ v: string }>(
      "SELECT value AS v FROM system.settings WHERE name = 'max_threads'",
    );
    expect(after[0]!.v).not.toBe('1');
  });

  it('refuses writes under readonly settings and stays usable after', async () => {
    const e = ctx.engine;
    await expect(
      e.command('CREATE TABLE should_not_exist (x UInt8) ENGINE = Memory', { settings: { readonly: 1 } }),
    ).rejects.toThrow(/readonly/i);
    await e.command('CREATE TABLE writes_ok (x UInt8) ENGINE = Memory');
    await e.insert('writes_ok', [{ x: 1 }]);
    expect(await e.rows('SELECT x FROM writes_ok')).toEqual([{ x: 1 }]);
  });

  it('takes DROP TABLE ... SYNC where deploy sends it, and never gets it on 18.16', async () => {
    const e = ctx.engine;
    const [db] = await e.rows<{ engine: string }>(
      `SELECT engine FROM system.databases WHERE name = '${ctx.database}'`,
    );
    const onCluster = withLiveDatabase(
      { database: ctx.database, capabilities: e.capabilities, cluster: 'c' },
      db!.engine,
    );
    if (db!.engine !== 'Atomic') {
      // 18.16 has Ordinary databases only (and no SYNC): deploy adds none there.
      expect(ctx.backend).toBe('server');
      expect(dropTableSql('t', onCluster)).not.toMatch(/SYNC/);
      return;
    }
    expect(dropTableSql('t', onCluster)).toMatch(/ SYNC$/);
    await e.command('CREATE TABLE dropped_sync (id UInt32) ENGINE = MergeTree ORDER BY id');
    await e.command(
      dropTableSql('dropped_sync', { database: ctx.database, capabilities: e.capabilities, syncDrops: true }),
    );
    const left = await e.rows(
      `SELECT name FROM system.tables WHERE database = '${ctx.database}' AND name = 'dropped_sync'`,
    );
    expect(left).toEqual([]);
  });

  it('answers a read while a long statement of the same engine runs', async () => {
    const e = ctx.engine;
    let longEnded = 0;
    const long = e.command('SELECT sleep(1)').then(() => {
      longEnded = performance.now();
    });
    await new Promise((r) => setTimeout(r, 50));
    const rows = await e.rows<{ x: number }>('SELECT 1 AS x');
    const readEnded = performance.now();
    await long;
    expect(rows).toEqual([{ x: 1 }]);
    // On one chDB session the read queued behind the sleep (docs: chdb-reader.ts).
    expect(readEnded).toBeLessThan(longEnded);
  });

  it('rejects an aborted read without waiting for it, and answers the next one', async () => {
    const e = ctx.engine;
    const ac = new AbortController();
    const read = e.rows('SELECT sleep(1) AS s', { signal: ac.signal });
    const caught = read.catch((err: unknown) => ({ err, at: performance.now() }));
    await new Promise((r) => setTimeout(r, 50));
    const abortedAt = performance.now();
    ac.abort();
    const { err, at } = (await caught) as { err: Error; at: number };
    expect(String(err?.message ?? err)).toMatch(/abort/i);
    // Before the query's own end (950 ms after the abort): the abort, not the sleep, ended it.
    expect(at - abortedAt).toBeLessThan(900);
    expect(await e.rows('SELECT 2 AS y', { params: {} })).toEqual([{ y: 2 }]);
  });

  it('reports a ClickHouse error with its message', async () => {
    await expect(ctx.engine.rows('SELECT * FROM no_such_table_here')).rejects.toMatchObject({
      code: 'clickhouse-error',
      message: expect.stringMatching(/no_such_table_here/),
    });
  });
});

describe('embedded engine read sessions', () => {
  it('closes once its reads have ended, and the folder opens again', async () => {
    const database = scratchDatabase();
    const first = await createEngine(clickhouseConfig('embedded', database));
    const read = first.rows<{ s: number }>('SELECT sleep(0.5) AS s');
    await new Promise((r) => setTimeout(r, 50));
    await first.close();
    expect(await read).toEqual([{ s: 0 }]);
    const again = await createEngine(clickhouseConfig('embedded', database));
    try {
      expect(await again.rows('SELECT 3 AS z')).toEqual([{ z: 3 }]);
    } finally {
      await again.command(`DROP DATABASE IF EXISTS ${database}`);
      await again.close();
    }
  });

  it('binds server-side params on the read sessions', async () => {
    const database = scratchDatabase();
    const e = await createEngine(clickhouseConfig('embedded', database));
    try {
      const rows = await e.rows<{ v: string; n: number }>('SELECT {v:String} AS v, {n:UInt8} + 1 AS n', {
        params: { v: "it's", n: 41 },
      });
      expect(rows).toEqual([{ v: "it's", n: 42 }]);
    } finally {
      await e.command(`DROP DATABASE IF EXISTS ${database}`);
      await e.close();
    }
  });
});

describe('engine errors', () => {
  it('names the address and what to do when the server is unreachable', async () => {
    const cfg = { ...clickhouseConfig('server', scratchDatabase()), url: 'http://127.0.0.1:1' };
    await expect(createEngine(cfg, { requestTimeoutMs: 2000 })).rejects.toMatchObject({
      code: 'clickhouse-unreachable',
      message: expect.stringContaining('http://127.0.0.1:1'),
      hint: expect.stringContaining('tally services up'),
    });
  });

  it('refuses a second embedded data folder in the same process with a clear sentence', async () => {
    const first = await createEngine(clickhouseConfig('embedded', scratchDatabase()));
    try {
      const other = {
        ...clickhouseConfig('embedded', scratchDatabase()),
        embeddedPath: `${clickhouseConfig('embedded', 'x').embeddedPath}-other`,
      };
      await expect(createEngine(other)).rejects.toMatchObject({ code: 'embedded-busy' });
    } finally {
      await first.close();
    }
  });
});

forEachBackend('engine after a failed query', (ctx) => {
  it('answers the next queries cleanly after a query failed mid-output (chDB leaks partial output)', async () => {
    const e = ctx.engine;
    for (let i = 0; i < 3; i++) {
      await expect(
        e.query('SELECT number FROM system.numbers LIMIT 10', {
          settings: { max_result_rows: 2, result_overflow_mode: 'throw' },
        }),
      ).rejects.toThrow(/limit/i);
      const [a, b] = await Promise.all([e.query('SELECT 1 AS a'), e.text('SELECT 2 AS b', 'CSVWithNames')]);
      expect(a.data).toEqual([{ a: 1 }]);
      expect(b.trim()).toBe('"b"\n2');
    }
  });

  it("keeps a failed query's output out of reads sent at the same time", async () => {
    const e = ctx.engine;
    // Small blocks: the failing query has written rows before it fails (an endpoint's 413).
    const overLimit = {
      settings: { max_result_rows: 10, result_overflow_mode: 'throw' as const, max_block_size: 5 },
    };
    for (let round = 0; round < 20; round++) {
      const answers = await Promise.allSettled([
        e.text('SELECT number FROM numbers(100000)', 'JSONEachRow', overLimit),
        e.text('SELECT number FROM numbers(100000)', 'JSONEachRow', overLimit),
        e.text(`SELECT ${round} AS z`, 'JSONEachRow'),
        e.text(`SELECT ${round + 1} AS z`, 'JSONEachRow'),
      ]);
      expect(answers.map((a) => a.status)).toEqual(['rejected', 'rejected', 'fulfilled', 'fulfilled']);
      expect(answers.slice(2).map((a) => (a as PromiseFulfilledResult<string>).value.trim())).toEqual([
        `{"z":${round}}`,
        `{"z":${round + 1}}`,
      ]);
    }
  });
});
