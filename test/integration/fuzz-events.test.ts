// Fuzzing of the events API on both back ends, through the whole app (POST /v0/events?wait=true
// into the example project's `transactions`): random bytes, deep nesting, huge strings, invalid
// UTF-8 (refused whole, 400), numbers out of range, wrong types. Never a 500; refused rows land in quarantine with a
// reason; good rows of the same request land; the process's memory stays bounded.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ExampleApp, startExampleApp } from '../fuzz/example-app.ts';
import { GOOD_EVENT, hostileLines } from '../fuzz/hostile-events.ts';
import { forEachBackend } from '../support/backends.ts';
import { mulberry32 } from '../unit/fuzz/rng.ts';
import { removeProjects } from '../unit/project/write-project.ts';

afterAll(removeProjects);

interface Counts {
  successful_rows: number;
  quarantined_rows: number;
  duplicate_rows: number;
}

forEachBackend('fuzz: events API', (ctx) => {
  let ex: ExampleApp;
  const totals = { good: 0, quarantined: 0, requests: 0 };

  beforeAll(async () => {
    ex = await startExampleApp(ctx.engine);
  });
  afterAll(async () => {
    await ex?.stop();
  });

  const post = async (body: string | Uint8Array, what: string): Promise<Counts> => {
    const res = await ex.app.request('/v0/events?name=transactions&wait=true', { method: 'POST', body });
    totals.requests++;
    const text = await res.text();
    expect(res.status, `${what}: ${text.slice(0, 300)}`).toBe(200);
    const counts = JSON.parse(text) as Counts;
    totals.good += counts.successful_rows;
    totals.quarantined += counts.quarantined_rows;
    return counts;
  };

  it('hostile lines mixed with good ones: 200, good rows stored, the rest quarantined with reasons', async () => {
    const lines = hostileLines(11, 600);
    for (let i = 0; i < lines.length; i += 50) {
      const chunk = lines.slice(i, i + 50);
      const good = [GOOD_EVENT(`good-${i}-a`), GOOD_EVENT(`good-${i}-b`)];
      const body = [good[0], ...chunk.map((l) => l.line), good[1]].join('\n');
      const counts = await post(body, chunk.map((l) => l.what).join(', '));
      expect(counts.successful_rows).toBeGreaterThanOrEqual(2);
    }
    const stored = await ctx.engine.rows<{ n: string }>(
      "SELECT count() AS n FROM transactions WHERE transaction_id LIKE 'good-%'",
    );
    expect(Number(stored[0]?.n)).toBe(Math.ceil(lines.length / 50) * 2);
    const q = await ctx.engine.rows<{ n: string; empty: string }>(
      "SELECT count() AS n, countIf(reason = '') AS empty FROM transactions_quarantine",
    );
    expect(Number(q[0]?.n)).toBe(totals.quarantined);
    expect(Number(q[0]?.empty)).toBe(0);
  });

  it('invalid UTF-8 bodies (Buffers): 400 naming the line and byte, nothing of the request stored, never a 500', async () => {
    const rng = mulberry32(5);
    for (let i = 0; i < 20; i++) {
      const good = Buffer.from(GOOD_EVENT(`utf-${i}`, '2.50', 'utf'));
      const at = 20 + rng.int(good.length - 40);
      const bad = Buffer.concat([
        good.subarray(0, at),
        Buffer.from([0xff, 0xc3, 0x28, 0xed, 0xa0, 0x80]),
        good.subarray(at),
      ]);
      // A good line first, so the bad one is line 2: the whole request is refused, not cut.
      const first = Buffer.from(`${GOOD_EVENT(`utf-first-${i}`)}\n`);
      const body = Buffer.concat([first, bad, Buffer.from('\n'), rng.bytes(200), Buffer.from('\n'), good]);
      const res = await ex.app.request('/v0/events?name=transactions&wait=true', { method: 'POST', body });
      totals.requests++;
      const answer = (await res.json()) as { error: string; line: number; offset: number };
      expect(res.status, `utf8 case ${i}: ${answer.error}`).toBe(400);
      expect(answer.error).toContain(`the body is not valid UTF-8: line 2, byte ${at + 1} of the line (0xFF`);
      expect(answer).toMatchObject({ line: 2, offset: first.length + at });
    }
    const stored = await ctx.engine.rows<{ n: string }>(
      "SELECT count() AS n FROM transactions WHERE transaction_id LIKE 'utf-%'",
    );
    expect(Number(stored[0]?.n)).toBe(0);
  });

  it('a 9 MB string value and a 9 MB junk line in one request: answered, quarantined', async () => {
    const counts = await post(
      [GOOD_EVENT('huge-1', `"${'1'.repeat(9_000_000)}"`), GOOD_EVENT('huge-ok')].join('\n'),
      'huge string',
    );
    expect(counts).toMatchObject({ successful_rows: 1, quarantined_rows: 1 });
    const junk = await post(`${'x'.repeat(9_000_000)}\n${GOOD_EVENT('huge-ok-2')}`, 'huge junk');
    expect(junk).toMatchObject({ successful_rows: 1, quarantined_rows: 1 });
  });

  it('memory stays bounded over 30 requests of 1 MB hostile bodies', async () => {
    const rng = mulberry32(9);
    const bodies = Array.from({ length: 3 }, () =>
      Array.from({ length: 1000 }, () => rng.bytes(1000).toString('latin1').replace(/\n/g, ' ')).join('\n'),
    );
    for (let i = 0; i < 5; i++) await post(bodies[i % 3] as string, 'warm-up');
    global.gc?.();
    const before = process.memoryUsage().rss;
    for (let i = 0; i < 30; i++) await post(bodies[i % 3] as string, `round ${i}`);
    global.gc?.();
    const growth = (process.memoryUsage().rss - before) / 1024 / 1024;
    console.log(`[${ctx.backend}] RSS growth over 30 MB of hostile events: ${growth.toFixed(1)} MiB`);
    expect(growth).toBeLessThan(300);
  }, 120_000);

  // Found by fuzzing (docs/reliability.md, "Findings"): the row parser threw instead of refusing
  // the row, so the whole request was a 503 and its good rows were not stored either.
  it('an object in a Decimal column is quarantined, the good row of the request stored', async () => {
    const counts = await post(`${GOOD_EVENT('obj-1', '{"v":1}')}\n${GOOD_EVENT('obj-ok')}`, 'object amount');
    expect(counts).toMatchObject({ successful_rows: 1, quarantined_rows: 1 });
  });

  it('a 10k-deep value in a String column is quarantined, the good row stored', async () => {
    const deep = `{"transaction_id":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    const counts = await post(`${deep}\n${GOOD_EVENT('deep-ok')}`, 'deep string');
    expect(counts).toMatchObject({ successful_rows: 1, quarantined_rows: 1 });
  });
});
