import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpReader } from '../../../src/clickhouse/http-reader.ts';
import { PlainHttpPool } from '../../../src/clickhouse/plain-http-pool.ts';

/**
 * A TCP server that answers each HTTP request it reads with what `answer` returns (written as
 * the pieces given, each in its own write), on loopback: the pool's framing is tested on real
 * sockets, against answers ClickHouse gives and ones it could give.
 */
interface Scripted {
  port: number;
  /** Connections accepted so far. */
  connections: number;
  /** Requests read so far, as text. */
  requests: string[];
  close(): Promise<void>;
}

type Answer = (request: string, socket: net.Socket, n: number) => string[] | 'hang' | 'close' | undefined;

const open: Array<{ close(): Promise<void> }> = [];
const pools: PlainHttpPool[] = [];

afterEach(async () => {
  for (const p of pools.splice(0)) p.destroy();
  for (const s of open.splice(0)) await s.close();
});

async function scripted(answer: Answer, host = '127.0.0.1'): Promise<Scripted> {
  const sockets = new Set<net.Socket>();
  const state = { connections: 0, requests: [] as string[] };
  const server = net.createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buf = '';
    socket.on('data', async (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        const request = buf.slice(0, end + 4 + length);
        buf = buf.slice(end + 4 + length);
        state.requests.push(request);
        const pieces = answer(request, socket, state.requests.length);
        if (pieces === 'hang' || pieces === undefined) continue;
        if (pieces === 'close') {
          socket.destroy();
          return;
        }
        for (const p of pieces) {
          socket.write(Buffer.from(p, 'utf8'));
          await new Promise((r) => setImmediate(r));
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const s: Scripted = {
    port: (server.address() as net.AddressInfo).port,
    get connections() {
      return state.connections;
    },
    requests: state.requests,
    close: () =>
      new Promise<void>((r) => {
        for (const sock of sockets) sock.destroy();
        server.close(() => r());
      }),
  };
  open.push(s);
  return s;
}

function pool(port: number, opts: { maxSockets?: number; timeoutMs?: number } = {}): PlainHttpPool {
  const p = new PlainHttpPool({
    host: '127.0.0.1',
    port,
    maxSockets: opts.maxSockets ?? 8,
    timeoutMs: opts.timeoutMs ?? 5000,
  });
  pools.push(p);
  return p;
}

const HEADERS = 'Authorization: Basic eDo=\r\nContent-Type: text/plain\r\n';

function chunked(body: string, head = ''): string {
  const bytes = Buffer.from(body, 'utf8');
  const chunks = [bytes.subarray(0, 7), bytes.subarray(7)].filter((c) => c.length > 0);
  let out = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: Keep-Alive\r\n${head}\r\n`;
  for (const c of chunks) out += `${c.length.toString(16)}\r\n${c.toString('utf8')}\r\n`;
  return `${out}0\r\n\r\n`;
}

/** `text` cut into pieces of `size` bytes (a multi-byte character may be cut). */
function bytePieces(text: string, size: number): string[] {
  const b = Buffer.from(text, 'utf8');
  const out: string[] = [];
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size).toString('latin1'));
  return out;
}

describe('PlainHttpPool', () => {
  it('reads a chunked answer however its bytes are cut, and sends the request as given', async () => {
    const body = '{"data":[{"name":"zoë ✓ 𝄞"}],\n"rows":1}\n';
    const whole = chunked(body);
    for (const size of [1, 2, 3, 5, 13, whole.length]) {
      // Each piece its own write, as bytes, so a cut character stays cut on the wire.
      const raw = await scripted((_r, socket) => {
        for (const p of bytePieces(whole, size)) socket.write(Buffer.from(p, 'latin1'));
        return undefined;
      });
      const res = await pool(raw.port).post('/?query_id=q', HEADERS, 'SELECT 1 é');
      expect(res).toEqual({ status: 200, body });
      // The server reads bytes as latin1: the body's é is its two UTF-8 bytes, counted in the length.
      expect(Buffer.from(raw.requests[0]!, 'latin1').toString('utf8')).toBe(
        `POST /?query_id=q HTTP/1.1\r\nHost: 127.0.0.1:${raw.port}\r\n${HEADERS}Content-Length: 11\r\n\r\nSELECT 1 é`,
      );
    }
  });

  it('reads Content-Length answers (empty ones too) and keeps one connection for sequential requests', async () => {
    const server = await scripted((_r, _s, n) => {
      const body = n % 2 === 0 ? '' : `answer ${n}`;
      return [`HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`];
    });
    const p = pool(server.port);
    for (let n = 1; n <= 10; n++) {
      expect(await p.post('/', HEADERS, 'q')).toEqual({
        status: 200,
        body: n % 2 === 0 ? '' : `answer ${n}`,
      });
    }
    expect(server.connections).toBe(1);
  });

  it('skips an interim 100 answer and passes on a non-200 status with its body', async () => {
    const server = await scripted(() => [
      'HTTP/1.1 100 Continue\r\n\r\n',
      'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 9\r\n\r\nCode: 62.',
    ]);
    expect(await pool(server.port).post('/', HEADERS, 'q')).toEqual({ status: 500, body: 'Code: 62.' });
  });

  it('reads an answer that ends with the connection, and opens a new one for the next request', async () => {
    const server = await scripted((_r, socket, n) => {
      socket.end(`HTTP/1.1 200 OK\r\n\r\nuntil close ${n}`);
      return undefined;
    });
    const p = pool(server.port);
    expect((await p.post('/', HEADERS, 'q')).body).toBe('until close 1');
    expect((await p.post('/', HEADERS, 'q')).body).toBe('until close 2');
    expect(server.connections).toBe(2);
  });

  it('does not reuse a connection the server said it closes', async () => {
    const server = await scripted(() => [
      'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok',
    ]);
    const p = pool(server.port);
    await p.post('/', HEADERS, 'q');
    await p.post('/', HEADERS, 'q');
    expect(server.connections).toBe(2);
  });

  it('drops an idle connection before the keep-alive timeout the server announced', async () => {
    const server = await scripted(() => [
      'HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok',
    ]);
    const p = pool(server.port);
    await p.post('/', HEADERS, 'q');
    await p.post('/', HEADERS, 'q');
    expect(server.connections).toBe(1);
    await new Promise((r) => setTimeout(r, 600));
    await p.post('/', HEADERS, 'q');
    expect(server.connections).toBe(2);
  });

  it('marks a request that a reused connection dropped unanswered as safe to resend', async () => {
    const server = await scripted((_r, _s, n) =>
      n === 1 ? ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'] : 'close',
    );
    const p = pool(server.port);
    await p.post('/', HEADERS, 'q');
    const err = await p.post('/', HEADERS, 'q').catch((e: unknown) => e);
    expect(err).toMatchObject({ message: 'socket hang up', code: 'ECONNRESET', reusedSocket: true });
  });

  it('fails a request cut mid-answer without marking it safe to resend', async () => {
    const server = await scripted((_r, socket) => {
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel');
      setTimeout(() => socket.destroy(), 20);
      return undefined;
    });
    const err = await pool(server.port)
      .post('/', HEADERS, 'q')
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ message: 'socket hang up', code: 'ECONNRESET' });
    expect((err as { reusedSocket?: boolean }).reusedSocket).toBeUndefined();
  });

  it('times out a request the server never answers, then serves the next on a new connection', async () => {
    const server = await scripted((_r, _s, n) =>
      n === 1 ? 'hang' : ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'],
    );
    const p = pool(server.port, { timeoutMs: 150 });
    await expect(p.post('/', HEADERS, 'q')).rejects.toThrow('Timeout error');
    expect((await p.post('/', HEADERS, 'q')).body).toBe('ok');
    expect(server.connections).toBe(2);
  });

  it('fails with an AbortError when the signal aborts, never marked safe to resend', async () => {
    const server = await scripted(() => 'hang');
    const p = pool(server.port);
    const controller = new AbortController();
    const pending = p.post('/', HEADERS, 'q', controller.signal).catch((e: unknown) => e);
    setTimeout(() => controller.abort(), 30);
    const err = await pending;
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    expect((err as { reusedSocket?: boolean }).reusedSocket).toBeUndefined();
    await expect(p.post('/', HEADERS, 'q', controller.signal)).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('fails the requests in flight and waiting when destroyed, and every later one', async () => {
    const server = await scripted(() => 'hang');
    const p = pool(server.port, { maxSockets: 1 });
    const inFlight = p.post('/', HEADERS, 'a').catch((e: unknown) => e);
    const waiting = p.post('/', HEADERS, 'b').catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    p.destroy();
    for (const err of [await inFlight, await waiting]) {
      expect(err).toMatchObject({ code: 'ERR_POOL_CLOSED' });
      expect((err as { reusedSocket?: boolean }).reusedSocket).toBeUndefined();
    }
    await expect(p.post('/', HEADERS, 'c')).rejects.toMatchObject({ code: 'ERR_POOL_CLOSED' });
    expect(server.requests).toHaveLength(1);
  });

  it('never sends a request aborted while it waited for a connection', async () => {
    const server = await scripted((_r, socket) => {
      setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'), 100);
      return undefined;
    });
    const p = pool(server.port, { maxSockets: 1 });
    const first = p.post('/', HEADERS, 'first');
    const controller = new AbortController();
    const second = p.post('/', HEADERS, 'second', controller.signal).catch((e: unknown) => e);
    setTimeout(() => controller.abort(new Error('gave up')), 20);
    expect(await second).toMatchObject({ name: 'AbortError', cause: new Error('gave up') });
    expect((await first).body).toBe('ok');
    expect((await p.post('/', HEADERS, 'third')).body).toBe('ok');
    expect(server.requests.map((r) => r.slice(r.indexOf('\r\n\r\n') + 4))).toEqual(['first', 'third']);
  });

  it('fails a request that waits for a connection longer than the timeout', async () => {
    // The first answer trickles in for 1.2 s: its socket is never idle for the timeout.
    const server = await scripted((_r, socket) => {
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
      let n = 0;
      const tick = setInterval(() => {
        if (++n <= 12) socket.write('1\r\nx\r\n');
        else {
          clearInterval(tick);
          socket.write('0\r\n\r\n');
        }
      }, 100);
      return undefined;
    });
    const p = pool(server.port, { maxSockets: 1, timeoutMs: 300 });
    const first = p.post('/', HEADERS, 'a');
    const t0 = performance.now();
    await expect(p.post('/', HEADERS, 'b')).rejects.toThrow('Timeout error');
    expect(performance.now() - t0).toBeLessThan(1000);
    expect((await first).body).toBe('x'.repeat(12));
    expect(server.requests).toHaveLength(1);
  });

  it('answers a 204 at once, without waiting for a body', async () => {
    const server = await scripted(() => ['HTTP/1.1 204 No Content\r\nConnection: Keep-Alive\r\n\r\n']);
    const p = pool(server.port, { timeoutMs: 2000 });
    const t0 = performance.now();
    expect(await p.post('/', HEADERS, 'q')).toEqual({ status: 204, body: '' });
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('does not mark as safe to resend a request a reused connection dropped after the resend window', async () => {
    const server = await scripted((_r, socket, n) => {
      if (n === 1) return ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'];
      // A long query cut (a proxy, a restart): ClickHouse may have run it.
      setTimeout(() => socket.destroy(), 1300);
      return undefined;
    });
    const p = pool(server.port);
    await p.post('/', HEADERS, 'q');
    const err = await p.post('/', HEADERS, 'q').catch((e: unknown) => e);
    expect(err).toMatchObject({ message: 'socket hang up' });
    expect((err as { reusedSocket?: boolean }).reusedSocket).toBeUndefined();
  });

  it('opens at most maxSockets connections; the other requests wait their turn', async () => {
    let inFlight = 0;
    let most = 0;
    const server = await scripted((_r, socket, n) => {
      inFlight++;
      most = Math.max(most, inFlight);
      setTimeout(() => {
        inFlight--;
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${String(n).length}\r\n\r\n${n}`);
      }, 10);
      return undefined;
    });
    const p = pool(server.port, { maxSockets: 2 });
    const bodies = await Promise.all(Array.from({ length: 9 }, () => p.post('/', HEADERS, 'q')));
    expect(bodies.map((b) => Number(b.body)).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(server.connections).toBe(2);
    expect(most).toBe(2);
  });

  it('refuses malformed answers with a message naming what is wrong', async () => {
    for (const [answer, message] of [
      ['SSH-2.0-OpenSSH\r\n\r\n', 'its status line is "SSH-2.0-OpenSSH"'],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'a chunk size is "zz"'],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX', 'a chunk is not followed by CRLF'],
      ['HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n', 'its Content-Length is "-3"'],
      [
        `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n${'x'.repeat(9000)}`,
        'a trailer line is over 8 KiB',
      ],
    ] as const) {
      const server = await scripted(() => [answer]);
      await expect(pool(server.port).post('/', HEADERS, 'q')).rejects.toThrow(
        `ClickHouse's HTTP answer is malformed: ${message}`,
      );
    }
  });

  it('fails with the connection error when nothing listens, and after destroy', async () => {
    const server = await scripted(() => []);
    const port = server.port;
    await server.close();
    open.splice(0);
    const p = pool(port);
    await expect(p.post('/', HEADERS, 'q')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    p.destroy();
    await expect(p.post('/', HEADERS, 'q')).rejects.toThrow('the ClickHouse connection pool is closed');
  });

  it("serves HttpReader's reads of an http URL, an IPv6 address's too (bracketed in Host)", async () => {
    const server = await scripted(() => [chunked('{"n":1}\n')], '::1');
    const reader = new HttpReader({
      url: `http://[::1]:${server.port}`,
      user: 'u',
      password: 'p',
      database: 'db',
      settings: {},
      timeoutMs: 5000,
    });
    try {
      expect(await reader.read('SELECT 1 AS n', 'JSONEachRow')).toBe('{"n":1}\n');
      expect(server.requests[0]).toMatch(
        new RegExp(
          `^POST /\\?database=db&default_format=JSONEachRow HTTP/1\\.1\r\nHost: \\[::1\\]:${server.port}\r\nAuthorization: Basic dTpw\r\n`,
        ),
      );
    } finally {
      reader.close();
    }
  });
});
