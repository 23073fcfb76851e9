// The events API's own handling of a request, in-process with a stand-in ingestion (no
// ClickHouse, no Kafka): what reaches ingestion.append/produce, and the refusals before it.
import { connect } from 'node:net';
import { crc32, gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { Ingestion } from '../../../src/ingest/ingestion.ts';
import { BodyBudget } from '../../../src/server/body-budget.ts';
import { createApp } from '../../../src/server/create-app.ts';
import { registerEventsRoute } from '../../../src/server/events-route.ts';
import type { ServingState } from '../../../src/server/serving-state.ts';
import { StateHolder } from '../../../src/server/serving-state.ts';
import { type RunningServer, startServer } from '../../../src/server/start-server.ts';

const KiB = 1024;

interface Call {
  kind: 'append' | 'produce';
  events: readonly string[];
  requestId?: string;
}

function harness(
  opts: {
    viaKafka?: boolean;
    maxBodyBytes?: number;
    budget?: BodyBudget;
    /** The ingestion is starting: ready when this settles ('never': not even a promise of it). */
    starting?: Promise<void> | 'never';
    startWaitMs?: number;
  } = {},
) {
  const calls: Call[] = [];
  // Set to hold the next ingestion call until released (a request in flight), or to fail it.
  let hold: Promise<void> | undefined;
  let fail: Error | undefined;
  const settle = async () => {
    if (hold) await hold;
    if (fail) throw fail;
  };
  const ingestion = {
    datasourceNames: () => ['events'],
    viaKafka: () => opts.viaKafka ?? false,
    stats: () => ({ instance: 'x', datasources: [], restartRecoveries: { count: 0 } }),
    append: async (_name: string, events: readonly string[], o: { requestId: string }) => {
      calls.push({ kind: 'append', events, requestId: o.requestId });
      await settle();
      return { successful_rows: events.length, quarantined_rows: 0, duplicate_rows: 0 };
    },
    produce: async (_name: string, events: readonly string[]) => {
      calls.push({ kind: 'produce', events });
      await settle();
      return { accepted_rows: events.length };
    },
  } as unknown as Ingestion;
  const budget = opts.budget ?? new BodyBudget(1024 * 1024 * 1024);
  const state = { project: { endpoints: new Map() }, version: 'v1' } as unknown as ServingState;
  const app = createApp({
    state: new StateHolder(state),
    tokens: [],
    routes: (a, { auth }) =>
      registerEventsRoute(a, {
        ingestion: () =>
          opts.starting === 'never'
            ? undefined
            : opts.starting
              ? opts.starting.then(() => ingestion)
              : ingestion,
        ...(opts.startWaitMs !== undefined ? { startWaitMs: opts.startWaitMs } : {}),
        check: (t, x) => auth.check(t, x),
        maxBodyBytes: opts.maxBodyBytes ?? 64 * KiB,
        bodyBudget: budget,
      }),
  });
  const post = (
    body: string | Uint8Array | ReadableStream<Uint8Array>,
    headers: Record<string, string> = {},
    query = 'wait=true',
  ) =>
    app.request(`/v0/events?name=events&${query}`, {
      method: 'POST',
      body,
      headers,
      duplex: 'half',
    } as RequestInit);
  return {
    app,
    calls,
    budget,
    post,
    /** The next ingestion call waits until the returned function is called. */
    holdNext: () => {
      let release = () => {};
      hold = new Promise<void>((r) => {
        release = r;
      });
      return () => {
        hold = undefined;
        release();
      };
    },
    failNext: (err: Error | undefined) => {
      fail = err;
    },
  };
}

/** A body sent without Content-Length, in these chunks. */
function chunked(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(ctl) {
      if (i < chunks.length) ctl.enqueue(chunks[i++]!);
      else ctl.close();
    },
  });
}

const error = async (res: Response) => ((await res.json()) as { error: string }).error;

describe('while the ingestion starts (a dev reload rebuilds it)', () => {
  it('a request waits for it and is answered by it', async () => {
    let ready = () => {};
    const h = harness({ starting: new Promise<void>((r) => (ready = r)) });
    const answer = h.post('{"id":"a"}\n');
    await new Promise((r) => setTimeout(r, 20));
    expect(h.calls).toEqual([]);
    ready();
    const res = await answer;
    expect(res.status).toBe(200);
    expect(h.calls.map((c) => c.events)).toEqual([['{"id":"a"}']]);
  });

  it('503 with Retry-After when none is coming, or it does not come in time', async () => {
    for (const h of [
      harness({ starting: 'never' }),
      harness({ starting: new Promise<void>(() => {}), startWaitMs: 30 }),
    ]) {
      const res = await h.post('{"id":"a"}\n');
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(await error(res)).toBe('ingestion is starting; retry in a moment');
      expect(h.calls).toEqual([]);
    }
  });
});

describe('gzip bodies: the bytes received count against the limit too', () => {
  it('a gzip member followed by more zero bytes than the limit is 413 (gunzip skips them silently)', async () => {
    const h = harness();
    const gz = gzipSync('{"a":1}\n');
    const zeros = Array.from({ length: 20 }, () => new Uint8Array(16 * KiB));
    const res = await h.post(chunked([gz, ...zeros]), { 'content-encoding': 'gzip' });
    expect(res.status).toBe(413);
    expect(await error(res)).toMatch(/larger than 65536 bytes; send the events in smaller requests/);
    expect(h.calls).toEqual([]);
    expect(h.budget.inFlight).toBe(0);
  });

  it('a valid gzip stream of empty deflate blocks, larger than the limit but inflating to one event, is 413', async () => {
    const h = harness();
    const event = Buffer.from('{"a":1}\n');
    const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    const empty = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]); // a stored block of 0 bytes, not final
    const last = Buffer.concat([Buffer.from([0x01, event.length, 0, ~event.length & 0xff, 0xff]), event]);
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(crc32(event), 0);
    trailer.writeUInt32LE(event.length, 4);
    const blocks = Buffer.concat(Array.from({ length: 20_000 }, () => empty)); // 100 KB of nothing
    const body = [header, blocks, last, trailer];
    // Under the limit, the same stream is a valid body of one event.
    const small = await harness().post(chunked([header, empty, last, trailer]), {
      'content-encoding': 'gzip',
    });
    expect(await small.json()).toEqual({ successful_rows: 1, quarantined_rows: 0, duplicate_rows: 0 });
    const res = await h.post(chunked(body), { 'content-encoding': 'gzip' });
    expect(res.status).toBe(413);
    expect(h.calls).toEqual([]);
  });

  it('bytes after the gzip member that are not zero padding are refused with 400', async () => {
    const h = harness();
    const res = await h.post(Buffer.concat([gzipSync('{"a":1}\n'), Buffer.from('trailing')]), {
      'content-encoding': 'gzip',
    });
    expect(res.status).toBe(400);
    expect(await error(res)).toMatch(/^the body could not be read as gzip: /);
    expect(h.calls).toEqual([]);
  });

  it('takes gzip bodies under the limit, also several members one after another', async () => {
    const h = harness();
    const res = await h.post(Buffer.concat([gzipSync('{"a":1}\n'), gzipSync('{"a":2}\n')]), {
      'content-encoding': 'gzip',
    });
    expect(await res.json()).toEqual({ successful_rows: 2, quarantined_rows: 0, duplicate_rows: 0 });
    expect(h.calls[0]!.events).toEqual(['{"a":1}', '{"a":2}']);
  });
});

describe('the request id', () => {
  it('is the one answered in X-Request-Id: the caller’s when well formed, else the one made for it', async () => {
    for (const given of [undefined, 'bad id with spaces', 'x'.repeat(129), 'req-42']) {
      const h = harness();
      const res = await h.post('{"a":1}\n', given === undefined ? {} : { 'x-request-id': given });
      expect(res.status).toBe(200);
      const answered = res.headers.get('x-request-id');
      expect(answered).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
      expect(h.calls[0]!.requestId).toBe(answered);
      if (given === 'req-42') expect(answered).toBe('req-42');
    }
  });
});

describe('an empty request stores nothing and writes no ops-log row', () => {
  for (const [label, body] of [
    ['an empty body', ''],
    ['only blank lines', '\n  \r\n\t\n\n'],
    ['only a byte-order mark', '\uFEFF\n'],
  ] as const) {
    it(`${label}: 200 with zeros (wait=true), ingestion not called`, async () => {
      const h = harness();
      const res = await h.post(body);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ successful_rows: 0, quarantined_rows: 0, duplicate_rows: 0 });
      expect(h.calls).toEqual([]);
    });

    it(`${label}: 202 with accepted_rows 0 (Kafka), nothing produced`, async () => {
      const h = harness({ viaKafka: true });
      const res = await h.post(body, {}, '');
      expect(res.status).toBe(202);
      expect(await res.json()).toEqual({ accepted_rows: 0 });
      expect(h.calls).toEqual([]);
    });
  }

  it('a gzip body of nothing is empty too', async () => {
    const h = harness();
    const res = await h.post(gzipSync(''), { 'content-encoding': 'gzip' });
    expect(await res.json()).toEqual({ successful_rows: 0, quarantined_rows: 0, duplicate_rows: 0 });
    expect(h.calls).toEqual([]);
  });
});

describe('a body that is not UTF-8', () => {
  const latin1 = Buffer.concat([
    Buffer.from('{"s":"ok"}\n\n{"s":"caf'),
    Buffer.from([0xe9]), // `é` in Latin-1
    Buffer.from('"}\n'),
  ]);

  it('is refused with 400 naming the line and the byte, instead of storing U+FFFD', async () => {
    const h = harness();
    const res = await h.post(latin1);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; line: number; offset: number };
    expect(body.error).toBe(
      'the body is not valid UTF-8: line 3, byte 10 of the line (0xE9, offset 21 of the body); send the events as UTF-8',
    );
    expect(body).toMatchObject({ line: 3, offset: 21 });
    expect(h.calls).toEqual([]);
  });

  it('compressed: the offset is of the decompressed body', async () => {
    const h = harness({ viaKafka: true });
    const res = await h.post(gzipSync(latin1), { 'content-encoding': 'gzip' }, '');
    expect(res.status).toBe(400);
    expect(await error(res)).toMatch(
      /line 3, byte 10 of the line \(0xE9, offset 21 of the decompressed body\)/,
    );
    expect(h.calls).toEqual([]);
  });

  it('a surrogate encoded in UTF-8 (CESU) or a cut sequence is refused the same way', async () => {
    for (const [bad, offset] of [
      [Buffer.from([0x7b, 0xed, 0xa0, 0xbd, 0x7d]), 1],
      [Buffer.from([0x7b, 0x7d, 0x0a, 0xf0, 0x9f, 0x98]), 3],
    ] as const) {
      const h = harness();
      const res = await h.post(bad);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ offset });
    }
  });

  it('valid UTF-8 (accents, emoji, a leading byte-order mark) reaches ingestion as sent', async () => {
    const h = harness();
    const res = await h.post('\uFEFF{"s":"café 😀"}\r\n{"s":"ü"}');
    expect(res.status).toBe(200);
    expect(h.calls[0]!.events).toEqual(['{"s":"café 😀"}', '{"s":"ü"}']);
  });
});

describe('admission: request body bytes in flight', () => {
  const line = (n: number) => `{"pad":"${'p'.repeat(n - 11)}"}\n`;

  it('a request that does not fit beside those in flight is answered 503 with Retry-After, unread', async () => {
    const h = harness({ maxBodyBytes: 1000, budget: new BodyBudget(1000) });
    const release = h.holdNext();
    const first = h.post(line(600), { 'content-length': '600' });
    await waitUntil(() => h.calls.length === 1);
    expect(h.budget.inFlight).toBe(600);
    const second = await h.post(line(600), { 'content-length': '600' });
    expect(second.status).toBe(503);
    expect(second.headers.get('retry-after')).toBe('1');
    expect(await error(second)).toMatch(
      /^the server is taking in too much at once \(request bodies in flight are at their limit of 1000 bytes\); retry after a second/,
    );
    // Sent without Content-Length: refused as well (it first reserves a slice of the limit).
    expect((await h.post(chunked([Buffer.from(line(600))]))).status).toBe(503);
    // A body over the limit is still 413, budget or not.
    expect((await h.post(line(600), { 'content-length': '1001' })).status).toBe(413);
    expect(h.calls).toHaveLength(1);
    release();
    expect((await first).status).toBe(200);
    expect(h.budget.inFlight).toBe(0);
    expect((await h.post(line(600), { 'content-length': '600' })).status).toBe(200);
  });

  it('a chunked request grows its reservation as it reads, and is refused when it outgrows the room', async () => {
    const h = harness({ maxBodyBytes: 100 * KiB, budget: new BodyBudget(150 * KiB) });
    const release = h.holdNext();
    const first = h.post(line(60 * KiB), { 'content-length': String(60 * KiB) });
    await waitUntil(() => h.calls.length === 1);
    // 64 KiB reserved up front fits beside 60 KiB; 95 KiB read does not.
    const body = Buffer.from(line(95 * KiB));
    const res = await h.post(chunked([body.subarray(0, 30 * KiB), body.subarray(30 * KiB)]));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(h.budget.inFlight).toBe(60 * KiB);
    release();
    await first;
    expect(h.budget.inFlight).toBe(0);
    // Alone, the same body is read and taken.
    expect((await h.post(chunked([body.subarray(0, 30 * KiB), body.subarray(30 * KiB)]))).status).toBe(200);
    expect(h.budget.inFlight).toBe(0);
  });

  it('the reservation is released however the answer is decided', async () => {
    const h = harness({ maxBodyBytes: 1000, budget: new BodyBudget(1000) });
    const outcomes: number[] = [];
    outcomes.push((await h.post(line(600))).status); // stored
    h.failNext(new Error('ClickHouse went away'));
    outcomes.push((await h.post(line(600))).status); // ingestion failed
    h.failNext(undefined);
    outcomes.push((await h.post(Buffer.from([0x7b, 0xff, 0x7d]))).status); // not UTF-8
    outcomes.push((await h.post(chunked([Buffer.alloc(800, 0x20), Buffer.alloc(800, 0x20)]))).status); // 413 mid-read
    outcomes.push((await h.post('x', { 'content-encoding': 'br' })).status); // unknown encoding
    outcomes.push((await h.post('not gzip', { 'content-encoding': 'gzip' })).status); // bad gzip
    // The client goes away mid-body: the stream errors.
    let sent = false;
    const aborted = new ReadableStream<Uint8Array>({
      pull(ctl) {
        if (!sent) {
          sent = true;
          ctl.enqueue(Buffer.from('{"a":'));
        } else ctl.error(new Error('aborted'));
      },
    });
    outcomes.push((await h.post(aborted)).status);
    expect(outcomes).toEqual([200, 503, 400, 413, 400, 400, 400]);
    expect(h.budget.inFlight).toBe(0);
  });

  describe('over a real connection', () => {
    let server: RunningServer | undefined;
    afterEach(async () => {
      await server?.close(100);
      server = undefined;
    });

    it('a client that disconnects mid-body leaves nothing reserved', async () => {
      const h = harness({ maxBodyBytes: 100 * KiB, budget: new BodyBudget(100 * KiB) });
      server = await startServer(h.app, '127.0.0.1', 0);
      const socket = connect(server.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.write(
        `POST /v0/events?name=events&wait=true HTTP/1.1\r\nHost: x\r\nContent-Length: ${50 * KiB}\r\n\r\n{"a":`,
      );
      await waitUntil(() => h.budget.inFlight === 50 * KiB);
      socket.destroy();
      await waitUntil(() => h.budget.inFlight === 0);
      expect(h.calls).toEqual([]);
      // And the whole budget is there for the next request.
      const res = await fetch(`${server.url}/v0/events?name=events&wait=true`, {
        method: 'POST',
        body: line(90 * KiB),
      });
      expect(res.status).toBe(200);
    });
  });
});

async function waitUntil(ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}
