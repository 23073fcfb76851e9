// Security checks through the app: tokens (missing, wrong, wrong scope), endpoint queries run
// readonly (no param can write or read another database), no secrets in logs or error bodies.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, quoteIdent } from '../../src/clickhouse/create-engine.ts';
import type { Engine } from '../../src/clickhouse/engine.ts';
import { loadProject } from '../../src/project/load-project.ts';
import { limitSettings } from '../../src/server/run-endpoint.ts';
import { type ExampleApp, exampleFiles, startExampleApp } from '../fuzz/example-app.ts';
import { GOOD_EVENT } from '../fuzz/hostile-events.ts';
import { hostileParamValues } from '../fuzz/hostile-params.ts';
import { clickhouseConfig, forEachBackend, scratchDatabase } from '../support/backends.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { removeProjects, writeProject } from '../unit/project/write-project.ts';

afterAll(removeProjects);

const SECRETS = {
  reader: 'rd-7f3a9c1e5b2d4f60',
  limited: 'lm-0b1c2d3e4f5a6b7c',
  writer: 'wr-9e8d7c6b5a4f3e2d',
  admin: 'ad-1122334455667788',
  chPassword: 'chpw-5d4c3b2a1f0e9d8c',
};

const TOKENS = `tokens:
  reader:  { token: ${SECRETS.reader}, scope: read }
  limited: { token: ${SECRETS.limited}, scope: read, endpoints: [balance] }
  writer:  { token: ${SECRETS.writer}, scope: append, datasources: [transactions] }
  ops:     { token: ${SECRETS.admin}, scope: admin }
`;

const containsSecret = (text: string) => Object.values(SECRETS).filter((s) => text.includes(s));

forEachBackend('security', (ctx) => {
  let ex: ExampleApp;
  const other = scratchDatabase('other');

  beforeAll(async () => {
    ex = await startExampleApp(ctx.engine, { config: TOKENS });
    const res = await ex.app.request('/v0/events?name=transactions&wait=true', {
      method: 'POST',
      body: [GOOD_EVENT('s-1', '10.00', 'acct-1'), GOOD_EVENT('s-2', '5.00', 'acct-1')].join('\n'),
      headers: { authorization: `Bearer ${SECRETS.writer}` },
    });
    expect(res.status).toBe(200);
    await ctx.engine.command(`CREATE DATABASE IF NOT EXISTS ${quoteIdent(other)}`);
    await ctx.engine.command(
      `CREATE TABLE ${quoteIdent(other)}.t (secret String) ENGINE = MergeTree ORDER BY secret`,
    );
    await ctx.engine.command(`INSERT INTO ${quoteIdent(other)}.t VALUES ('TOPSECRET-ROW')`);
  });
  afterAll(async () => {
    await ex?.stop();
    await ctx.engine.command(`DROP DATABASE IF EXISTS ${quoteIdent(other)}`).catch(() => {});
  });

  const get = (path: string, token?: string) =>
    ex.app.request(path, token ? { headers: { authorization: `Bearer ${token}` } } : {});

  it('tokens: 401 without or with an unknown token, 403 with the wrong scope, 200 with the right one', async () => {
    const ep = '/v0/pipes/balance.json?account_id=acct-1';
    expect((await get(ep)).status).toBe(401);
    expect((await get(ep, 'nope')).status).toBe(401);
    expect((await get(ep, `${SECRETS.reader}x`)).status).toBe(401);
    expect((await get(ep, SECRETS.reader.slice(0, -1))).status).toBe(401);
    expect((await get(ep, SECRETS.writer)).status).toBe(403);
    expect((await get(ep, SECRETS.reader)).status).toBe(200);
    expect((await get(ep, SECRETS.limited)).status).toBe(200);
    expect((await get(ep, SECRETS.admin)).status).toBe(200);
    expect((await get(`${ep}&token=${SECRETS.reader}`)).status).toBe(200);
    expect((await get('/v0/pipes/account_history.json?account_id=acct-1', SECRETS.limited)).status).toBe(403);
    const append = (token?: string, name = 'transactions') =>
      ex.app.request(`/v0/events?name=${name}&wait=true`, {
        method: 'POST',
        body: GOOD_EVENT('s-3'),
        ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
      });
    expect((await append()).status).toBe(401);
    expect((await append(SECRETS.reader)).status).toBe(403);
    expect((await append(SECRETS.writer, 'page_events')).status).toBe(403);
    expect((await get('/metrics')).status).toBe(401);
    expect((await get('/metrics', SECRETS.reader)).status).toBe(403);
    expect((await get('/metrics', SECRETS.admin)).status).toBe(200);
  });

  it('OpenAPI and the page list only what the token may call: nothing without one', async () => {
    const paths = async (token?: string) => {
      const res = await get('/v0/openapi.json', token);
      if (res.status !== 200) return res.status;
      const names = Object.keys(((await res.json()) as { paths: object }).paths).map(
        (p) => /^\/v0\/pipes\/(\w+)\.\w+$/.exec(p)?.[1] ?? p,
      );
      return [...new Set(names)].sort();
    };
    const all = [...ex.project.endpoints.keys()].sort();
    expect(all.length).toBeGreaterThan(3);
    expect(await paths()).toBe(401);
    expect(await paths('nope')).toBe(401);
    expect(await paths(SECRETS.writer)).toEqual([]);
    expect(await paths(SECRETS.limited)).toEqual(['balance']);
    expect((await paths(SECRETS.reader)) as string[]).toEqual(all);
    expect((await paths(SECRETS.admin)) as string[]).toEqual(all);
    expect((await get(`/v0/openapi.json?token=${SECRETS.limited}`)).status).toBe(200);

    const page = async (path: string, token?: string) => {
      const res = await get(path, token);
      return { status: res.status, html: await res.text() };
    };
    const anonymous = await page('/');
    expect(anonymous.status).toBe(200);
    expect(anonymous.html).toContain('name="token"');
    expect(anonymous.html).not.toContain('class="endpoint"');
    for (const name of ex.project.endpoints.keys()) expect(anonymous.html).not.toContain(`ep-${name}"`);
    const wrong = await page('/?token=nope');
    expect(wrong.status).toBe(401);
    expect(wrong.html).toContain('The token is not valid.');
    const limited = await page(`/?token=${SECRETS.limited}`);
    expect(limited.html.match(/<section class="endpoint" id="ep-([a-z_]+)"/g)).toEqual([
      '<section class="endpoint" id="ep-balance"',
    ]);
    expect(limited.html).not.toContain(SECRETS.limited);
    const reader = await page('/', SECRETS.reader);
    expect(reader.html.match(/<section class="endpoint"/g)).toHaveLength(all.length);
    expect((await page('/', SECRETS.writer)).html).toContain('This token may call no endpoints.');
  });

  it('endpoint queries run readonly: a write under the endpoint settings is refused by ClickHouse', async () => {
    const endpoint = ex.project.endpoints.get('balance');
    if (!endpoint) throw new Error('no balance endpoint');
    const settings = limitSettings(endpoint);
    expect(settings.readonly).toBeGreaterThan(0);
    for (const sql of [
      `CREATE TABLE pwned (x UInt8) ENGINE = Memory`,
      `INSERT INTO transactions (transaction_id) VALUES ('pwned')`,
      `DROP TABLE transactions`,
    ]) {
      await expect(ctx.engine.command(sql, { settings }), sql).rejects.toThrow(
        /readonly|Cannot execute query in readonly mode|164/i,
      );
    }
  });

  it('no param can write or read another database; the data is intact', async () => {
    const values = [
      ...hostileParamValues(21, 20),
      `acct-1' UNION ALL SELECT secret, 0, 0, now() FROM ${other}.t --`,
      `acct-1') UNION ALL SELECT secret FROM ${other}.t --`,
      `' OR account_id IN (SELECT secret FROM ${other}.t) OR '`,
      `${other}.t`,
      'system.users',
      "x' UNION ALL SELECT name, 0, 0, now() FROM system.users --",
    ];
    const statuses = new Map<number, number>();
    for (const [name, endpoint] of ex.project.endpoints) {
      const pipe = ex.project.pipes.get(endpoint.pipe);
      if (!pipe) continue;
      for (const p of pipe.params.values()) {
        for (const v of values) {
          const q = new URLSearchParams({ account_id: 'acct-1', subscription_id: 's', [p.name]: v });
          const res = await get(`/v0/pipes/${name}.json?${q}`, SECRETS.reader);
          const text = await res.text();
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          expect(res.status, `${name}.${p.name}=${v.slice(0, 60)}: ${text.slice(0, 200)}`).not.toBe(500);
          expect(text.includes('TOPSECRET-ROW'), `${name}.${p.name}=${v.slice(0, 60)}`).toBe(false);
        }
      }
    }
    console.log(`[${ctx.backend}] injection statuses: ${JSON.stringify([...statuses])}`);
    const rows = await ctx.engine.rows<{ n: string }>('SELECT count() AS n FROM transactions');
    expect(Number(rows[0]?.n)).toBe(2);
    const tables = await ctx.engine.rows<{ name: string }>(
      "SELECT name FROM system.tables WHERE name = 'pwned' OR name LIKE '%pwned%'",
    );
    expect(tables).toEqual([]);
  });

  it('no token value in any log line or error body', async () => {
    const bodies: string[] = [];
    const hit = async (path: string, init: RequestInit = {}) => {
      const res = await ex.app.request(path, init);
      bodies.push(await res.text());
    };
    for (const t of Object.values(SECRETS)) {
      await hit(`/v0/pipes/balance.json?token=${t}`);
      await hit(`/v0/pipes/balance.json?account_id=${encodeURIComponent("' OR 1")}&token=${t}`);
      await hit(`/v0/pipes/nope.json?token=${t}`);
      await hit(`/v0/events?name=nope&token=${t}`, { method: 'POST', body: 'x' });
      await hit('/v0/events?name=transactions&wait=true', {
        method: 'POST',
        body: `{"bad":${JSON.stringify(t)}}`,
        headers: { authorization: `Bearer ${t}` },
      });
      await hit('/metrics', {
        headers: { authorization: `Basic ${Buffer.from(`u:${t}`).toString('base64')}` },
      });
    }
    await hit('/');
    await hit('/health');
    await hit('/v0/openapi.json');
    const leaks = bodies.flatMap((b, i) => containsSecret(b).map((s) => `body ${i}: ${s}`));
    const logLeaks = ex.logs.flatMap((l) => containsSecret(l).map((s) => `log: ${s} in ${l.slice(0, 200)}`));
    expect(leaks).toEqual([]);
    expect(logLeaks).toEqual([]);
    expect(ex.logs.length).toBeGreaterThan(10);
  });
});

describe('secrets and ClickHouse failures [server]', () => {
  let proxy: TcpProxy;
  let engine: Engine;
  let ex: ExampleApp;
  const database = scratchDatabase('sec');

  beforeAll(async () => {
    const target = new URL(clickhouseConfig('server', database).url as string);
    proxy = await startTcpProxy(target.hostname, Number(target.port));
    engine = await createEngine({
      ...clickhouseConfig('server', database),
      url: `http://127.0.0.1:${proxy.port}`,
    });
    ex = await startExampleApp(engine, {
      config: `${TOKENS}clickhouse: { url: "http://127.0.0.1:${proxy.port}", password: ${SECRETS.chPassword} }\n`,
    });
  });
  afterAll(async () => {
    await ex?.stop();
    await proxy?.restore().catch(() => {});
    await engine?.command(`DROP DATABASE IF EXISTS ${quoteIdent(database)}`).catch(() => {});
    await engine?.close();
    await proxy?.close();
  });

  it('ClickHouse unreachable: 503s that name no secret, logs without secrets', async () => {
    await proxy.cut();
    const bodies: string[] = [];
    try {
      for (const [path, init] of [
        [`/v0/pipes/balance.json?account_id=a&token=${SECRETS.reader}`, {}],
        ['/health', {}],
        [
          '/v0/events?name=transactions&wait=true',
          { method: 'POST', body: GOOD_EVENT('x'), headers: { authorization: `Bearer ${SECRETS.writer}` } },
        ],
        ['/', {}],
      ] as const) {
        const res = await ex.app.request(path, init);
        const text = await res.text();
        bodies.push(`${res.status} ${text}`);
        expect(res.status, `${path}: ${text.slice(0, 200)}`).not.toBe(500);
      }
    } finally {
      await proxy.restore();
    }
    const all = [...bodies, ...ex.logs].join('\n');
    expect(containsSecret(all)).toEqual([]);
    expect(bodies.some((b) => b.startsWith('503'))).toBe(true);
  }, 60_000);

  it('a wrong ClickHouse password: the error names neither the password nor puts it in its cause', async () => {
    const err = await createEngine({
      ...clickhouseConfig('server', database),
      password: SECRETS.chPassword,
    }).then(
      (e) => {
        void e.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    // Tally's server gives `default` an empty password: a wrong one must be refused.
    expect(err, 'ClickHouse accepted a wrong password for `default`').toBeDefined();
    const seen = new Set<unknown>();
    const dump = (e: unknown): string => {
      if (!e || typeof e !== 'object' || seen.has(e)) return String(e);
      seen.add(e);
      const o = e as Record<string, unknown>;
      return [
        String(o.message),
        String(o.stack),
        JSON.stringify(o, Object.getOwnPropertyNames(o)),
        dump(o.cause),
      ].join('\n');
    };
    expect(containsSecret(dump(err))).toEqual([]);
  });

  it('the project loader keeps the password out of its problems', () => {
    const files = exampleFiles();
    files['tally.yaml'] =
      `${files['tally.yaml']}\nclickhouse: { password: ${SECRETS.chPassword}, bogus: 1 }\ntokens: { bad: { token: ${SECRETS.reader}, scope: nope } }\n`;
    const { problems } = loadProject(writeProject(files), { env: {} });
    expect(problems.length).toBeGreaterThan(0);
    expect(containsSecret(JSON.stringify(problems))).toEqual([]);
  });
});
