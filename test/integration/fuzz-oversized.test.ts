// Oversized requests and slow clients against a real listening server (the example project on
// the ClickHouse server back end; the engine plays no part in these limits). The server's own
// timeout of a slow client (60 s) is exercised by `npm run chaos`, not here.
import { connect, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, quoteIdent } from '../../src/clickhouse/create-engine.ts';
import type { Engine } from '../../src/clickhouse/engine.ts';
import { type RunningServer, startServer } from '../../src/server/start-server.ts';
import { type ExampleApp, startExampleApp } from '../fuzz/example-app.ts';
import { GOOD_EVENT } from '../fuzz/hostile-events.ts';
import { clickhouseConfig, scratchDatabase } from '../support/backends.ts';
import { removeProjects } from '../unit/project/write-project.ts';

const MiB = 1024 * 1024;

describe('oversized requests and slow clients [server]', () => {
  const database = scratchDatabase('big');
  let engine: Engine;
  let ex: ExampleApp;
  let server: RunningServer;

  beforeAll(async () => {
    engine = await createEngine(clickhouseConfig('server', database));
    ex = await startExampleApp(engine);
    server = await startServer(ex.app, '127.0.0.1', 0);
  });
  afterAll(async () => {
    await server?.close(1000);
    await ex?.stop();
    await engine?.command(`DROP DATABASE IF EXISTS ${quoteIdent(database)}`).catch(() => {});
    await engine?.close();
    removeProjects();
  });

  const events = (
    body: string | Uint8Array | ReadableStream<Uint8Array>,
    headers: Record<string, string> = {},
  ) =>
    fetch(`${server.url}/v0/events?name=transactions&wait=true`, {
      method: 'POST',
      body,
      headers,
      duplex: 'half',
    } as RequestInit);

  it('events: 413 for an 11 MiB body (declared length)', async () => {
    const res = await events('x'.repeat(11 * MiB));
    expect(res.status).toBe(413);
  });

  it('events: 413 for an 11 MiB chunked body (no declared length)', async () => {
    const chunk = new TextEncoder().encode(`${'y'.repeat(MiB - 1)}\n`);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(ctl) {
        if (sent++ < 11) ctl.enqueue(chunk);
        else ctl.close();
      },
    });
    const res = await events(stream);
    expect(res.status).toBe(413);
  });

  it('events: 413 for a gzip bomb (100 KiB that inflates to 100 MiB)', async () => {
    const bomb = gzipSync(Buffer.alloc(100 * MiB, 0x61));
    expect(bomb.length).toBeLessThan(200 * 1024);
    const res = await events(bomb, { 'content-encoding': 'gzip' });
    expect(res.status).toBe(413);
  });

  it('events: a body just under the limit is taken', async () => {
    const line = GOOD_EVENT('big-ok');
    const body = `${line}\n${' '.repeat(9 * MiB)}\n`;
    // Finding 6 (docs/reliability.md): after a 413 sent before the body was read, the server
    // closes the keep-alive connection without saying `Connection: close`, so the client's next
    // request on it can fail with "other side closed". A client retries such a request once.
    const res = await events(body).catch(() => events(body));
    expect(res.status).toBe(200);
  });

  it('endpoints: an oversized POST body of params is answered with a 4xx, never a 500', async () => {
    const body = JSON.stringify({ account_id: 'a'.repeat(20 * MiB) });
    const res = await fetch(`${server.url}/v0/pipes/balance.json`, { method: 'POST', body });
    const text = await res.text();
    console.log(`endpoint POST of 20 MiB: ${res.status} ${text.slice(0, 300)}`);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
  });

  // Found by fuzzing (docs/reliability.md): the endpoint route read a POST body whole, with no
  // limit; now a body over 1 MiB is refused while it streams in.
  it('endpoints: a 64 MiB POST body is refused with 413 (a body limit)', async () => {
    const body = JSON.stringify({ account_id: 'x', pad: 'p'.repeat(64 * MiB) });
    const res = await fetch(`${server.url}/v0/pipes/balance.json`, { method: 'POST', body });
    expect(res.status).toBe(413);
  });

  it('endpoints: a 20 MiB query-string param is refused, never a 500', async () => {
    const res = await fetch(`${server.url}/v0/pipes/balance.json?account_id=${'a'.repeat(20 * MiB)}`).catch(
      (e: Error) => ({ status: -1, text: async () => e.message }) as Response,
    );
    const text = await res.text();
    console.log(`endpoint GET with a 20 MiB URL: ${res.status} ${text.slice(0, 200)}`);
    expect(res.status).not.toBe(500);
  });

  it('30 slow clients (one byte a second) do not starve others, and leave nothing behind when they go', async () => {
    const handlesBefore = process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    const { port } = server;
    const request = `POST /v0/events?name=transactions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n`;
    const slow: Socket[] = [];
    const timers: NodeJS.Timeout[] = [];
    for (let i = 0; i < 30; i++) {
      const s = connect(port, '127.0.0.1');
      s.on('error', () => {});
      let at = 0;
      timers.push(
        setInterval(() => {
          if (at < request.length && !s.destroyed) s.write(request[at++] as string);
        }, 1000),
      );
      slow.push(s);
    }
    // While they dribble, normal requests are still answered (each given 10 s, against the
    // slow clients' 1,000 s: a server they starved would not answer in time).
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      const res = await fetch(`${server.url}/v0/pipes/balance.json?account_id=x`, {
        signal: AbortSignal.timeout(10_000),
      });
      await res.text();
      expect(res.status).toBe(200);
      times.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 200));
    }
    console.log(`during 30 slow clients: slowest answer ${Math.max(...times).toFixed(0)} ms`);
    expect(times).toHaveLength(10);
    for (const t of timers) clearInterval(t);
    for (const s of slow) s.destroy();
    await new Promise((r) => setTimeout(r, 300));
    const handlesAfter = process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    expect(handlesAfter).toBeLessThanOrEqual(handlesBefore + 1);
    const res = await fetch(`${server.url}/health`);
    expect(res.status).toBe(200);
  }, 30_000);
});
