import { describe, expect, it } from 'vitest';
import { ChdbReader, type ChdbSession } from '../../../src/clickhouse/chdb-reader.ts';

/** A stand-in for a chDB session: records statements; each one ends when the test says so. */
class FakeSession implements ChdbSession {
  readonly sent: string[] = [];
  readonly binds: object[] = [];
  private readonly pending: { resolve: (text: string) => void; reject: (err: Error) => void }[] = [];
  closed = false;

  queryAsync(sql: string): Promise<{ text(): string }> {
    this.sent.push(sql);
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve: (text) => resolve({ text: () => text }), reject });
    });
  }
  queryBindAsync(sql: string, params: object): Promise<{ text(): string }> {
    this.binds.push(params);
    return this.queryAsync(sql);
  }
  close(): void {
    this.closed = true;
  }
  /** Ends the oldest statement still running. */
  answer(text = 'ok'): void {
    this.pending.shift()!.resolve(text);
  }
  fail(message: string): void {
    this.pending.shift()!.reject(new Error(message));
  }
  get running(): number {
    return this.pending.length;
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('ChdbReader', () => {
  it('sends each read to the least busy session', async () => {
    const [a, b] = [new FakeSession(), new FakeSession()];
    const reader = new ChdbReader([a, b]);
    const first = reader.read('SELECT 1', 'JSON');
    const second = reader.read('SELECT 2', 'JSON');
    await tick();
    expect([a.sent, b.sent]).toEqual([['SELECT 1'], ['SELECT 2']]);
    b.answer('two');
    expect(await second).toBe('two');
    const third = reader.read('SELECT 3', 'JSON');
    await tick();
    expect(b.sent).toEqual(['SELECT 2', 'SELECT 3']); // a is still busy
    a.answer('one');
    b.answer('three');
    expect(await Promise.all([first, third])).toEqual(['one', 'three']);
  });

  it('puts settings in a SETTINGS clause and binds params on the session', async () => {
    const s = new FakeSession();
    const reader = new ChdbReader([s]);
    const read = reader.read('SELECT {n:UInt8} AS n;', 'JSONEachRow', {
      settings: { max_result_rows: 5, result_overflow_mode: 'throw' },
      params: { n: 1 },
    });
    await tick();
    expect(s.sent).toEqual([
      "SELECT {n:UInt8} AS n\nSETTINGS max_result_rows = 5, result_overflow_mode = 'throw'",
    ]);
    expect(s.binds).toEqual([{ n: 1 }]);
    s.answer('{"n":1}');
    expect(await read).toBe('{"n":1}');
  });

  it("gives ClickHouse's error code and type, and runs a throw-away statement before the session's next read", async () => {
    const s = new FakeSession();
    const reader = new ChdbReader([s]);
    const failing = reader.read('SELECT number FROM numbers(10)', 'JSON');
    await tick();
    s.fail('Code: 396. DB::Exception: Limit for result exceeded, max rows: 2. (TOO_MANY_ROWS_OR_BYTES)');
    await expect(failing).rejects.toMatchObject({ code: '396', type: 'TOO_MANY_ROWS_OR_BYTES' });
    const next = reader.read('SELECT 1', 'JSON');
    await tick();
    expect(s.sent).toEqual(['SELECT number FROM numbers(10)', 'SELECT 1']); // the drain, not yet the read
    s.answer(''); // the drain ends
    await tick();
    expect(s.sent.at(-1)).toBe('SELECT 1');
    s.answer('fresh');
    expect(await next).toBe('fresh');
  });

  it('rejects an aborted read at once, and keeps its session busy until chDB ends it', async () => {
    const [a, b] = [new FakeSession(), new FakeSession()];
    const reader = new ChdbReader([a, b]);
    const ac = new AbortController();
    const slow = reader.read('SELECT sleep(3)', 'JSON', { signal: ac.signal });
    await tick();
    ac.abort();
    await expect(slow).rejects.toMatchObject({ name: 'AbortError' });
    expect(a.running).toBe(1);
    const next = reader.read('SELECT 1', 'JSON');
    const after = reader.read('SELECT 2', 'JSON');
    await tick();
    expect(b.sent).toEqual(['SELECT 1']); // not behind the aborted statement
    expect(a.sent).toEqual(['SELECT sleep(3)']); // SELECT 2 waits for it (the tie went round)
    b.answer();
    a.answer(); // the aborted statement ends
    await tick();
    expect(a.sent).toEqual(['SELECT sleep(3)', 'SELECT 2']);
    a.answer();
    await Promise.all([next, after]);
    await expect(reader.read('SELECT 1', 'JSON', { signal: AbortSignal.abort() })).rejects.toMatchObject({
      name: 'AbortError',
    });
  });

  it('never sends a read given up while it waited for its session', async () => {
    const s = new FakeSession();
    const reader = new ChdbReader([s]);
    const first = reader.read('SELECT 1', 'JSON');
    const ac = new AbortController();
    const queued = reader.read('DROP-LIKE SIDE EFFECT', 'JSON', { signal: ac.signal });
    const third = reader.read('SELECT 3', 'JSON');
    await tick();
    ac.abort();
    await expect(queued).rejects.toMatchObject({ name: 'AbortError' });
    s.answer('1');
    await tick();
    s.answer('3');
    expect(await Promise.all([first, third])).toEqual(['1', '3']);
    expect(s.sent).toEqual(['SELECT 1', 'SELECT 3']);
  });

  it('gives a read queued behind a failing one a clean session (the throw-away statement runs between)', async () => {
    const s = new FakeSession();
    const reader = new ChdbReader([s]);
    const failing = reader.read('SELECT number FROM numbers(10)', 'JSON');
    const queued = reader.read('SELECT 2', 'JSON');
    await tick();
    expect(s.sent).toEqual(['SELECT number FROM numbers(10)']); // one statement at a time
    s.fail('Code: 396. DB::Exception: Limit for result exceeded. (TOO_MANY_ROWS_OR_BYTES)');
    await expect(failing).rejects.toMatchObject({ code: '396' });
    await tick();
    expect(s.sent).toEqual(['SELECT number FROM numbers(10)', 'SELECT 1']);
    s.answer('leftover rows of the failed statement');
    await tick();
    expect(s.sent.at(-1)).toBe('SELECT 2');
    s.answer('2');
    expect(await queued).toBe('2');
  });

  it('closes the sessions only after every read given has ended, queued ones too, then refuses reads', async () => {
    const s = new FakeSession();
    const reader = new ChdbReader([s]);
    const failing = reader.read('SELECT 1', 'JSON');
    const queued = reader.read('SELECT 2', 'JSON');
    await tick();
    let closed = false;
    const closing = reader.close().then(() => {
      closed = true;
    });
    await expect(reader.read('SELECT 3', 'JSON')).rejects.toThrow(/closed/);
    s.fail('Code: 159. DB::Exception: Timeout exceeded. (TIMEOUT_EXCEEDED)');
    await expect(failing).rejects.toMatchObject({ code: '159' });
    await tick();
    s.answer(); // the throw-away statement
    await tick();
    expect(closed).toBe(false);
    expect(s.closed).toBe(false);
    s.answer('2');
    await closing;
    expect(s.closed).toBe(true);
    expect(await queued).toBe('2');
    expect(s.sent).toEqual(['SELECT 1', 'SELECT 1', 'SELECT 2']);
  });
});
