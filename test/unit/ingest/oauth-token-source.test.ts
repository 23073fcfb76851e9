import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { KafkaOAuth } from '../../../src/config/config.ts';
import {
  KafkaTokenError,
  OAuthTokenSource,
  REAUTH_THRESHOLD_MS,
  refreshAfterMs,
} from '../../../src/ingest/oauth-token-source.ts';

// A token endpoint on loopback: each test sets what it answers; every request is recorded.
let server: Server;
let base = '';
let answer: (req: IncomingMessage, form: URLSearchParams) => { status: number; body: string };
const requests: Array<{ authorization?: string; form: URLSearchParams; contentType?: string }> = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const form = new URLSearchParams(body);
      requests.push({
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
        ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}),
        form,
      });
      const a = answer(req, form);
      res.writeHead(a.status, { 'content-type': 'application/json' }).end(a.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(() => {
  requests.length = 0;
});
// Sources refresh in the background: each test's are closed after it.
const sources: OAuthTokenSource[] = [];
const track = (s: OAuthTokenSource) => {
  sources.push(s);
  return s;
};
afterEach(() => {
  for (const s of sources.splice(0)) s.close();
});

const oauth = (over: Partial<KafkaOAuth> = {}): KafkaOAuth => ({
  mechanism: 'oauthbearer',
  tokenUrl: `${base}/token`,
  clientId: 'tally app',
  clientSecret: 's:cr3t&',
  ...over,
});

const ok = (token: string, expiresIn?: number) => () => ({
  status: 200,
  body: JSON.stringify({
    access_token: token,
    token_type: 'Bearer',
    ...(expiresIn ? { expires_in: expiresIn } : {}),
  }),
});

function jwt(claims: Record<string, unknown>): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'none' })}.${part(claims)}.`;
}

describe('OAuthTokenSource', () => {
  it("asks for a client-credentials token as Kafka's Java client does, and sends the extensions", async () => {
    answer = ok('t1', 3600);
    const source = track(
      new OAuthTokenSource(oauth({ scope: 'kafka write', extensions: { logicalCluster: 'lkc-1' } })),
    );
    expect(await source.token()).toEqual({ value: 't1', extensions: { logicalCluster: 'lkc-1' } });
    expect(requests).toHaveLength(1);
    const r = requests[0]!;
    expect(r.contentType).toBe('application/x-www-form-urlencoded');
    expect(r.form.get('grant_type')).toBe('client_credentials');
    expect(r.form.get('scope')).toBe('kafka write');
    // Basic auth of the url-encoded id and secret (RFC 6749 2.3.1).
    const decoded = Buffer.from(r.authorization!.replace(/^Basic /, ''), 'base64').toString();
    expect(decoded).toBe(`${encodeURIComponent('tally app')}:${encodeURIComponent('s:cr3t&')}`);
  });

  it('shares one token between calls, and one request between concurrent calls', async () => {
    answer = ok('shared', 3600);
    const source = track(new OAuthTokenSource(oauth()));
    const all = await Promise.all([source.token(), source.token(), source.token()]);
    expect(all.map((t) => t.value)).toEqual(['shared', 'shared', 'shared']);
    expect((await source.token()).value).toBe('shared');
    expect(requests).toHaveLength(1);
  });

  it('fetches a new token once 80% of the lifetime has passed, at least 20 s before expiry, not before half', async () => {
    let now = 1_000_000;
    let n = 0;
    answer = () => ok(`t${++n}`, 100)();
    const source = track(new OAuthTokenSource(oauth(), () => now));
    expect((await source.token()).value).toBe('t1');
    now += 79_000;
    expect((await source.token()).value).toBe('t1');
    now += 1_000; // 80 s of 100
    expect((await source.token()).value).toBe('t2');

    // A 60 s token: 20 s before expiry comes before 80% of it (at 40 s). A 30 s token: 20 s
    // before expiry would be 10 s after it came; half of it is the least (15 s).
    for (const [lifetimeS, refreshS] of [
      [60, 40],
      [30, 15],
    ] as const) {
      answer = () => ok(`t${++n}`, lifetimeS)();
      const source = track(new OAuthTokenSource(oauth(), () => now));
      const first = (await source.token()).value;
      now += (refreshS - 1) * 1000;
      expect((await source.token()).value, `${lifetimeS} s`).toBe(first);
      now += 1_000;
      expect((await source.token()).value, `${lifetimeS} s`).not.toBe(first);
    }
  });

  it("hands a connection a token with more left than kafkajs's re-authentication threshold, when its lifetime allows", async () => {
    // Half of a 12 s token (6 s) would leave 6 s, which JWT exp in whole seconds makes 5 s: at the
    // threshold, so kafkajs would re-authenticate before every request and the broker refuse the
    // second within 1 s. Refreshed at 5 s, it is handed out with 7 s left at least.
    expect(refreshAfterMs(12_000)).toBe(5_000);
    for (const lifetimeMs of [9_000, 12_000, 22_000, 30_000, 60_000, 3_600_000]) {
      expect(lifetimeMs - refreshAfterMs(lifetimeMs), `${lifetimeMs} ms`).toBeGreaterThan(
        REAUTH_THRESHOLD_MS + 1000,
      );
    }
    // Long tokens keep the usual rule (80%, at least 20 s before the end, not before half).
    expect(refreshAfterMs(3_600_000)).toBe(2_880_000);
    expect(refreshAfterMs(30_000)).toBe(15_000);
    // Too short for any rule to leave the threshold: half its life, not a request per connection.
    expect(refreshAfterMs(4_000)).toBe(2_000);

    let now = Date.UTC(2026, 0, 1);
    let n = 0;
    answer = () => ok(`s${++n}`, 12)();
    const source = track(new OAuthTokenSource(oauth(), () => now));
    expect((await source.token()).value).toBe('s1');
    now += 4_999;
    expect((await source.token()).value).toBe('s1');
    now += 1;
    expect((await source.token()).value).toBe('s2');
  });

  it('says once that tokens are too short for kafkajs (under 8 s), and not for 8 s ones', async () => {
    let now = Date.UTC(2026, 0, 1);
    const told: number[] = [];
    const watched = () =>
      track(
        new OAuthTokenSource(
          oauth(),
          () => now,
          (ms) => told.push(ms),
        ),
      );
    answer = ok('short', 6);
    const source = watched();
    await source.token();
    now += 3_000;
    await source.token();
    expect(requests).toHaveLength(2);
    expect(told).toEqual([6_000]);
    answer = ok('fine', 8);
    await watched().token();
    expect(told).toEqual([6_000]);
  });

  it("takes the lifetime from the JWT's exp when the endpoint gives no expires_in", async () => {
    let now = Date.UTC(2026, 0, 1);
    const token = jwt({ sub: 'tally', exp: now / 1000 + 50 });
    answer = ok(token);
    const source = track(new OAuthTokenSource(oauth(), () => now));
    expect((await source.token()).value).toBe(token);
    now += 29_000;
    await source.token();
    expect(requests).toHaveLength(1);
    now += 1_000; // 20 s before exp
    await source.token();
    expect(requests).toHaveLength(2);
  });

  it('keeps serving the current token while a refresh fails, until it has too little left for a connection', async () => {
    let now = 5_000_000;
    answer = ok('good', 100);
    const source = track(new OAuthTokenSource(oauth(), () => now));
    await source.token();
    answer = () => ({ status: 503, body: '{"error":"temporarily_unavailable"}' });
    now += 90_000;
    expect((await source.token()).value).toBe('good');
    // 7 s left: a session kafkajs would re-authenticate before every request (threshold 5 s).
    now += 3_000;
    await expect(source.token()).rejects.toThrow(/answered 503/);
    now += 7_000;
    await expect(source.token()).rejects.toThrow(/answered 503/);
  });

  it("takes the shorter of expires_in and the JWT's exp: the broker ends the session at exp", async () => {
    let now = Date.UTC(2026, 0, 1);
    answer = ok(jwt({ sub: 'tally', exp: now / 1000 + 30 }), 3600);
    const source = track(new OAuthTokenSource(oauth(), () => now));
    await source.token();
    now += 14_999; // a 30 s token refreshes at half its life, not a 3600 s one at 80%
    await source.token();
    expect(requests).toHaveLength(1);
    now += 1;
    await source.token();
    expect(requests).toHaveLength(2);
  });

  it('names the endpoint, the status and the client on a refusal, never the secret', async () => {
    answer = () => ({
      status: 401,
      body: JSON.stringify({ error: 'invalid_client', error_description: 'bad credentials' }),
    });
    const err = await new OAuthTokenSource(oauth()).token().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KafkaTokenError);
    const e = err as KafkaTokenError;
    expect(e.refused).toBe(true);
    expect(e.retriable).toBe(false);
    expect(e.code).toBe('kafka-token');
    expect(e.message).toBe(
      `the OAuth token endpoint ${base}/token answered 401 for client tally app (invalid_client: bad credentials)`,
    );
    expect(e.hint).toMatch(/kafka\.sasl\.client_id, client_secret and scope/);
    expect(`${e.message} ${e.hint}`).not.toContain('s:cr3t');
  });

  it('says so when the endpoint answers without a token, or cannot be reached', async () => {
    answer = () => ({ status: 200, body: '<html>login</html>' });
    await expect(new OAuthTokenSource(oauth()).token()).rejects.toThrow(
      /answered 200 without an access_token/,
    );

    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const err = (await new OAuthTokenSource(oauth({ tokenUrl: `http://127.0.0.1:${port}/token` }))
      .token()
      .catch((e: unknown) => e)) as KafkaTokenError;
    expect(err.message).toBe(
      `cannot get an OAuth token for Kafka from http://127.0.0.1:${port}/token: ECONNREFUSED`,
    );
    expect(err.refused).toBe(false);
    expect(err.hint).toMatch(/kafka\.sasl\.token_url/);
  });

  it('refreshes in the background before the token ends, tries again after a failure, and stops when closed', async () => {
    let n = 0;
    let failNext = false;
    answer = () => {
      if (failNext) {
        failNext = false;
        return { status: 503, body: '{"error":"temporarily_unavailable"}' };
      }
      return ok(`bg${++n}`, 4)();
    };
    const source = track(new OAuthTokenSource(oauth()));
    expect((await source.token()).value).toBe('bg1');
    // Half of 4 s: the background refresh, with no connection asking.
    await new Promise((r) => setTimeout(r, 2300));
    expect(requests).toHaveLength(2);
    expect((await source.token()).value).toBe('bg2');
    // The next one fails; the token still holds 2 s, so it is tried again 1 s later.
    failNext = true;
    await new Promise((r) => setTimeout(r, 3300));
    expect(requests).toHaveLength(4);
    expect((await source.token()).value).toBe('bg3');
    source.close();
    await new Promise((r) => setTimeout(r, 2300));
    expect(requests).toHaveLength(4);
  }, 15_000);
});
