import type { IncomingMessage, ServerResponse } from 'node:http';
import { expect, it } from 'vitest';
import { directEndpointRoute } from '../../../src/server/direct-route.ts';
import type { EndpointResponder } from '../../../src/server/endpoint-responder.ts';
import { HttpError, type PlainAnswer } from '../../../src/server/http-error.ts';
import { MetricsRegistry, serverMetrics } from '../../../src/server/metrics.ts';
import { type RequestNote, RequestTracker } from '../../../src/server/request-tracker.ts';

// The direct path's own branches, with a stand-in responder and response: what it takes, and
// what it does when the answer cannot be written (the socket is dropped, the bug reported).

interface Written {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  destroyed: boolean;
}

function setup(answer: EndpointResponder['answer'], writeHead?: () => never) {
  const logs: Array<Record<string, unknown>> = [];
  const unexpected: unknown[] = [];
  const registry = new MetricsRegistry();
  const tracker = new RequestTracker(serverMetrics(registry), (e) => logs.push(e));
  const responder = { answer } as unknown as EndpointResponder;
  const handle = directEndpointRoute(responder, tracker, (err) => unexpected.push(err));
  const send = async (
    url: string,
    method = 'GET',
    headers: Record<string, string> = { host: 'localhost:7070' },
  ) => {
    const out: Written = { destroyed: false };
    const res = {
      get destroyed() {
        return out.destroyed;
      },
      writeHead:
        writeHead ??
        ((status: number, h: Record<string, string>) => {
          out.status = status;
          out.headers = h;
        }),
      end: (body: string) => {
        out.body = body;
      },
      destroy: () => {
        out.destroyed = true;
      },
    } as unknown as ServerResponse;
    const req = { method, url, headers } as unknown as IncomingMessage;
    const taken = handle(req, res);
    // The answer is written after the responder's promise settles.
    await new Promise((r) => setImmediate(r));
    return { taken, out };
  };
  return { send, logs, unexpected, registry };
}

const ok = async (_req: unknown, note: RequestNote): Promise<PlainAnswer> => {
  note.endpoint = 'x';
  return { status: 200, headers: { 'content-type': 'application/json' }, body: '{"rows": 1}' };
};

it('takes endpoint GETs only, and writes the answer with its length and request id', async () => {
  const { send, logs } = setup(ok);
  const { taken, out } = await send('/v0/pipes/x.json?a=1', 'GET', {
    host: 'localhost:7070',
    'x-request-id': 'r-1',
  });
  expect(taken).toBe(true);
  expect(out.status).toBe(200);
  expect(out.headers).toMatchObject({ 'content-length': '11', 'x-request-id': 'r-1' });
  expect(out.body).toBe('{"rows": 1}');
  expect(logs.filter((l) => l.msg === 'request')).toMatchObject([{ id: 'r-1', status: 200 }]);
  for (const [url, method] of [
    ['/v0/pipes/x.json', 'POST'],
    ['/v0/pipes/x.json', 'HEAD'],
    ['/v0/openapi.json', 'GET'],
    ['/v0/pipes/x.json/y', 'GET'],
    ['/v0/pipes/x%2Ejson', 'GET'],
    ['/v0/pipes/x.json#frag', 'GET'],
  ] as const) {
    expect((await send(url, method)).taken, `${method} ${url}`).toBe(false);
  }
  // The Host header: one hono refuses, or none, is hono's; a good one is remembered, not trusted
  // for the next.
  const hosts: Array<[Record<string, string>, boolean]> = [
    [{ host: 'x/y' }, false],
    [{ host: 'localhost:7070' }, true],
    [{ host: '127.1' }, false],
    [{ host: 'localhost:7070' }, true],
    [{}, false],
    [{ host: '' }, false],
    [{ host: 'api.example.com' }, true],
  ];
  for (const [headers, takes] of hosts) {
    expect((await send('/v0/pipes/x.json', 'GET', headers)).taken, JSON.stringify(headers)).toBe(takes);
  }
});

it('answers a refusal with its status and a bug with a bare 500, reporting only the bug', async () => {
  const refusal = setup(async () => {
    throw new HttpError(404, 'no endpoint named `x`');
  });
  const r1 = await refusal.send('/v0/pipes/x.json');
  expect(r1.out.status).toBe(404);
  expect(JSON.parse(r1.out.body!)).toEqual({ error: 'no endpoint named `x`' });
  expect(refusal.unexpected).toEqual([]);
  // A 4xx is the caller's: no reason in the log; a 5xx is logged at error level with its reason.
  expect(refusal.logs.find((l) => l.msg === 'request')).not.toHaveProperty('error');
  const stale = setup(async () => {
    throw new HttpError(503, 'endpoint `x` refuses to answer: its data is 40 s old');
  });
  await stale.send('/v0/pipes/x.json');
  expect(stale.logs.find((l) => l.msg === 'request')).toMatchObject({
    status: 503,
    level: 'error',
    error: 'endpoint `x` refuses to answer: its data is 40 s old',
  });

  const bug = setup(async () => {
    throw new TypeError('undefined is not a function');
  });
  const r2 = await bug.send('/v0/pipes/x.json');
  expect(r2.out.status).toBe(500);
  expect(JSON.parse(r2.out.body!)).toEqual({ error: 'internal error' });
  expect(bug.unexpected).toHaveLength(1);
  expect(bug.logs.find((l) => l.msg === 'request')).toMatchObject({ status: 500, level: 'error' });
});

it('drops the connection when the answer cannot be written, and logs and counts a 500', async () => {
  const { send, logs, unexpected, registry } = setup(ok, () => {
    throw new TypeError('Invalid character in header content ["x-thing"]');
  });
  const { taken, out } = await send('/v0/pipes/x.json');
  expect(taken).toBe(true);
  expect(out.destroyed).toBe(true);
  expect(out.body).toBeUndefined();
  expect(unexpected).toHaveLength(1);
  expect(String(unexpected[0])).toContain('Invalid character');
  expect(logs.find((l) => l.msg === 'request')).toMatchObject({ status: 500 });
  expect(registry.render()).toContain('tally_http_requests_total{endpoint="x",status="500"} 1');
});
