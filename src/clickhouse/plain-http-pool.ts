/**
 * Keep-alive HTTP/1.1 POSTs to one ClickHouse server over plain TCP: the read path's transport
 * when clickhouse.url is `http:` (https keeps node:https). It writes each request as one string
 * and parses only the framing ClickHouse answers with (chunked, Content-Length, or a body that
 * ends with the connection).
 *
 * Why not node:http or undici: a small SELECT at 32 concurrent requests on a 2-core machine cost
 * this process 125 µs of user CPU per request through node:http, 89-93 µs through undici 6 and
 * 55-60 µs here (a one-off loop; bench/endpoints.ts keeps the effect on throughput as a ratio). On a point read
 * ClickHouse needs the same cores, so every µs saved is throughput.
 */
import net from 'node:net';

export interface PlainResponse {
  status: number;
  body: string;
}

export interface PlainHttpPoolOptions {
  /** A name or an address (an IPv6 one without brackets). */
  host: string;
  port: number;
  /** Connections open at most; further requests wait for one to be free. */
  maxSockets: number;
  /** A request whose socket sees no traffic this long fails with `Timeout error`. */
  timeoutMs: number;
}

/** An answer's head larger than this is not ClickHouse's: the connection is dropped. */
const MAX_HEAD_BYTES = 1024 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');
/** Idle connections are dropped this long before the server's announced keep-alive timeout. */
const KEEP_ALIVE_MARGIN_MS = 500;
/**
 * A reused connection that closes unanswered this soon after the request was written is the
 * keep-alive race (the server closed it as we picked it): the request may be sent again. Later,
 * the query may be running (a proxy or a restart cut it): it is not.
 */
const RESEND_WINDOW_MS = 1000;
/** A chunked answer's trailer line longer than this is not ClickHouse's. */
const MAX_TRAILER_BYTES = 8 * 1024;

/** The error a request fails with when its signal aborts (as node:http's, with the reason). */
function abortError(reason: unknown): Error {
  return Object.assign(new Error('The operation was aborted', { cause: reason }), {
    name: 'AbortError',
    code: 'ABORT_ERR',
  });
}

function poolClosed(): Error {
  return Object.assign(new Error('the ClickHouse connection pool is closed (the engine was closed)'), {
    code: 'ERR_POOL_CLOSED',
  });
}

/** A malformed answer: the connection is closed, the request fails. */
function protocolError(what: string): Error {
  return Object.assign(new Error(`ClickHouse's HTTP answer is malformed: ${what}`), { code: 'ECONNRESET' });
}

type Mode = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailer' | 'until-close';

/** How a promise is settled from outside it: a request's answer, or a free connection. */
interface Settle<T> {
  resolve(value: T): void;
  reject(err: Error): void;
}

/** A request waiting for its answer. */
type Waiting = Settle<PlainResponse>;
/** A request waiting for a free connection. */
type Waiter = Settle<Connection>;

/** One connection: one request at a time, its answer parsed as bytes arrive. */
class Connection {
  readonly socket: net.Socket;
  /** It has answered a request before (a request that fails on it unanswered may be resent). */
  reused = false;
  /** The server's keep-alive timeout as it announced it (ms), when it did. */
  keepAliveMs: number | undefined;
  idleSince = 0;
  private waiting: Waiting | undefined;
  private failure: Error | undefined;
  private pending: Buffer | undefined;
  private mode: Mode = 'head';
  private status = 0;
  private remaining = 0;
  private body: Buffer[] = [];
  private keepAlive = true;
  private answered = false;
  private sentAt = 0;

  constructor(opts: PlainHttpPoolOptions, onClose: (c: Connection) => void) {
    this.socket = net.connect({ host: opts.host, port: opts.port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => {
      this.failure ??= err;
    });
    this.socket.on('timeout', () => this.socket.destroy(new Error('Timeout error')));
    this.socket.on('close', () => {
      try {
        if (this.waiting && this.mode === 'until-close' && !this.failure) this.finish();
        else if (this.waiting) {
          const err = this.failure ?? Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
          // Nothing came back, at once, on a connection the server may have closed as we picked
          // it: the request never reached ClickHouse (see HttpReader.sendOnce).
          const code = (err as NodeJS.ErrnoException).code;
          if (
            this.reused &&
            !this.answered &&
            Date.now() - this.sentAt < RESEND_WINDOW_MS &&
            (code === 'ECONNRESET' || code === 'EPIPE')
          ) {
            Object.assign(err, { reusedSocket: true });
          }
          this.settle().reject(err);
        }
      } finally {
        onClose(this);
      }
    });
  }

  /** Open both ways: the server has not closed its side (a FIN not yet seen through to close). */
  get usable(): boolean {
    const s = this.socket;
    return !s.destroyed && s.writable && !s.readableEnded;
  }

  /** A request is waiting for its answer. */
  get busy(): boolean {
    return this.waiting !== undefined;
  }

  /** Sends `request` (head and body, one string) and resolves with the whole answer. */
  send(request: string, timeoutMs: number): Promise<PlainResponse> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.mode = 'head';
      this.answered = false;
      this.sentAt = Date.now();
      this.socket.setTimeout(timeoutMs);
      this.socket.write(request);
    });
  }

  private onData(chunk: Buffer): void {
    if (!this.waiting) {
      // Bytes nobody asked for: the connection cannot be trusted with the next request.
      this.socket.destroy();
      return;
    }
    this.answered = true;
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    let at = 0;
    try {
      while (this.waiting && at < buf.length) {
        const next = this.step(buf, at);
        if (next < 0) {
          // An incomplete piece (a head, a size line): read again with the next chunk.
          this.pending = buf.subarray(at);
          return;
        }
        at = next;
      }
    } catch (err) {
      this.socket.destroy(err as Error);
      return;
    }
    // More bytes than the answer: the connection cannot be trusted with the next request.
    if (at < buf.length) this.socket.destroy();
  }

  /** Consumes what it can of `buf` from `at`: the new position, or -1 when an incomplete piece starts there. */
  private step(buf: Buffer, at: number): number {
    switch (this.mode) {
      case 'head': {
        const end = buf.indexOf(HEAD_END, at);
        if (end < 0) {
          if (buf.length - at > MAX_HEAD_BYTES) throw protocolError('its head is over 1 MiB');
          return -1;
        }
        this.readHead(buf.toString('latin1', at, end));
        if ((this.mode as Mode) === 'length' && this.remaining === 0) this.finish();
        return end + HEAD_END.length;
      }
      case 'length':
      case 'chunk-data': {
        const n = Math.min(this.remaining, buf.length - at);
        this.body.push(buf.subarray(at, at + n));
        this.remaining -= n;
        if (this.remaining === 0) {
          if (this.mode === 'length') this.finish();
          else this.mode = 'chunk-end';
        }
        return at + n;
      }
      case 'chunk-end': {
        if (buf.length - at < 2) return -1;
        if (buf[at] !== 13 || buf[at + 1] !== 10) throw protocolError('a chunk is not followed by CRLF');
        this.mode = 'chunk-size';
        return at + 2;
      }
      case 'chunk-size': {
        const end = buf.indexOf(CRLF, at);
        if (end < 0) {
          if (buf.length - at > 1024) throw protocolError('a chunk size line is over 1 KiB');
          return -1;
        }
        const line = buf.toString('latin1', at, end);
        const semi = line.indexOf(';');
        const hex = (semi < 0 ? line : line.slice(0, semi)).trim();
        if (!/^[0-9a-fA-F]{1,13}$/.test(hex)) throw protocolError(`a chunk size is ${JSON.stringify(line)}`);
        const size = Number.parseInt(hex, 16);
        if (size === 0) this.mode = 'trailer';
        else {
          this.mode = 'chunk-data';
          this.remaining = size;
        }
        return end + 2;
      }
      case 'trailer': {
        const end = buf.indexOf(CRLF, at);
        if (end < 0) {
          if (buf.length - at > MAX_TRAILER_BYTES) throw protocolError('a trailer line is over 8 KiB');
          return -1;
        }
        // An empty line ends the answer; any other is a trailer field, skipped.
        if (end === at) this.finish();
        return end + 2;
      }
      case 'until-close':
        this.body.push(buf.subarray(at));
        return buf.length;
    }
  }

  private readHead(head: string): void {
    const lines = head.split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0] ?? '');
    if (!m) throw protocolError(`its status line is ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
    this.status = Number(m[2]);
    if (this.status >= 100 && this.status < 200) return; // an interim answer: the real head follows
    this.keepAlive = m[1] === '1';
    let chunked = false;
    let length: number | undefined;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'transfer-encoding') chunked = /\bchunked\b/i.test(value);
      else if (name === 'content-length') {
        if (!/^\d{1,15}$/.test(value)) throw protocolError(`its Content-Length is ${JSON.stringify(value)}`);
        length = Number(value);
      } else if (name === 'connection') {
        if (/\bclose\b/i.test(value)) this.keepAlive = false;
        else if (/\bkeep-alive\b/i.test(value)) this.keepAlive = true;
      } else if (name === 'keep-alive') {
        const t = /\btimeout=(\d+)/i.exec(value);
        if (t) this.keepAliveMs = Number(t[1]) * 1000;
      }
    }
    if (this.status === 204 || this.status === 304) {
      // No body, whatever the head says.
      this.mode = 'length';
      this.remaining = 0;
    } else if (chunked) this.mode = 'chunk-size';
    else if (length !== undefined) {
      this.mode = 'length';
      this.remaining = length;
    } else {
      this.mode = 'until-close';
      this.keepAlive = false;
    }
  }

  private finish(): void {
    const waiting = this.settle();
    const parts = this.body;
    this.body = [];
    if (!this.keepAlive) this.socket.destroy();
    this.reused = true;
    let body: string;
    try {
      body = parts.length === 1 ? parts[0]!.toString('utf8') : Buffer.concat(parts).toString('utf8');
    } catch (err) {
      // An answer too large for one string (V8's limit is about 512 MiB).
      waiting.reject(err as Error);
      return;
    }
    waiting.resolve({ status: this.status, body });
  }

  private settle(): Waiting {
    const waiting = this.waiting!;
    this.waiting = undefined;
    this.pending = undefined;
    if (!this.socket.destroyed) this.socket.setTimeout(0);
    return waiting;
  }
}

/** A bounded pool of keep-alive connections to one server. */
export class PlainHttpPool {
  /** The request line's end and the Host header: the same for every request. */
  private readonly hostLine: string;
  /** Every open connection (busy or idle). */
  private readonly all = new Set<Connection>();
  /** Free connections, the most recently used last (it is taken first: fewer sockets stay warm). */
  private readonly idle: Connection[] = [];
  private readonly queue: Waiter[] = [];
  private destroyed = false;

  constructor(private readonly opts: PlainHttpPoolOptions) {
    const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
    this.hostLine = ` HTTP/1.1\r\nHost: ${host}:${opts.port}\r\n`;
  }

  /** POSTs `body` to `path` with `headers` (each `Name: value\r\n`); rejects on a connection failure. */
  async post(path: string, headers: string, body: string, signal?: AbortSignal): Promise<PlainResponse> {
    if (signal?.aborted) throw abortError(signal.reason);
    const conn = await this.acquire(signal);
    if (signal?.aborted) {
      this.release(conn);
      throw abortError(signal.reason);
    }
    const request =
      `POST ${path}${this.hostLine}${headers}` + `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const onAbort = () => {
      if (conn.busy) conn.socket.destroy(abortError(signal!.reason));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await conn.send(request, this.opts.timeoutMs);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.release(conn);
    }
  }

  /** Closes every connection: requests in flight and waiting fail. */
  destroy(): void {
    this.destroyed = true;
    for (const w of this.queue.splice(0)) w.reject(poolClosed());
    this.idle.length = 0;
    for (const c of this.all) c.socket.destroy(poolClosed());
  }

  private acquire(signal: AbortSignal | undefined): Promise<Connection> {
    if (this.destroyed) return Promise.reject(poolClosed());
    const now = Date.now();
    for (let c = this.idle.pop(); c !== undefined; c = this.idle.pop()) {
      // One the server closed, or is about to close, would fail the request (and cost a resend).
      if (
        !c.usable ||
        (c.keepAliveMs !== undefined && now - c.idleSince > c.keepAliveMs - KEEP_ALIVE_MARGIN_MS)
      ) {
        c.socket.destroy();
        continue;
      }
      c.socket.ref();
      return Promise.resolve(c);
    }
    if (this.all.size < this.opts.maxSockets) return Promise.resolve(this.connect());
    return new Promise((resolve, reject) => {
      // A connection within the request timeout, or it fails as one that timed out.
      const timer = setTimeout(() => leave(new Error('Timeout error')), this.opts.timeoutMs);
      const onAbort = () => leave(abortError(signal!.reason));
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = {
        resolve: (c) => {
          done();
          resolve(c);
        },
        reject: (err) => {
          done();
          reject(err);
        },
      };
      const leave = (err: Error) => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        waiter.reject(err);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  private connect(): Connection {
    const c = new Connection(this.opts, (closed) => {
      this.all.delete(closed);
      const i = this.idle.indexOf(closed);
      if (i >= 0) this.idle.splice(i, 1);
      this.wakeOne();
    });
    this.all.add(c);
    return c;
  }

  private release(c: Connection): void {
    if (!c.usable || this.destroyed) {
      // Its close handler makes room.
      c.socket.destroy();
      return;
    }
    const next = this.queue.shift();
    if (next) {
      next.resolve(c);
      return;
    }
    c.idleSince = Date.now();
    // An idle connection does not keep the process alive.
    c.socket.unref();
    this.idle.push(c);
  }

  /** A connection closed: a waiting request gets a new one (none wait while any is idle). */
  private wakeOne(): void {
    if (this.destroyed || this.all.size >= this.opts.maxSockets) return;
    const next = this.queue.shift();
    if (!next) return;
    try {
      next.resolve(this.connect());
    } catch (err) {
      next.reject(err as Error);
    }
  }
}
