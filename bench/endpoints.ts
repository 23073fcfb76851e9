/**
 * Benchmark: an example-project endpoint (`balance`, one account's balance from the raw event log)
 * served by Tally, against the same compiled SQL sent straight to the engine, on both back ends:
 * - server: ClickHouse's HTTP interface (GET http://127.0.0.1:8123/?query=...) under the same load
 *   generator as Tally;
 * - embedded: a loop of engine.query on chDB in this process, with the same concurrency.
 * Tally is measured with its cache off and on, at 1, 8 and 32 connections. The load generator
 * (wrk, else autocannon's CLI: bench/lib/load-generator.ts) runs as its own process, as a client
 * elsewhere would.
 * Goals (issue 6): Tally >= 80% of direct throughput at 32 connections; added median latency
 * <= 2 ms; cache on >= 10x direct throughput.
 *
 * Run: npx tsx bench/endpoints.ts [--quick] [--backend server|embedded] [--endpoint NAME]
 *        [--duration S] [--rounds N] [--rows N] [--url http://127.0.0.1:8123] [--no-request-log]
 *        [--generator wrk|autocannon]
 * Each measure is the median of 3 rounds (1 with --quick) in which the modes alternate.
 * Prints a table, writes bench/results/<date>-<sha>-endpoints.json, and prints that JSON as the
 * last line of stdout.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { Agent, createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createEngine, quoteIdent } from '../src/clickhouse/create-engine.ts';
import type { Engine } from '../src/clickhouse/engine.ts';
import { applyDeploy } from '../src/deploy/deploy.ts';
import { loadProjectOrThrow } from '../src/project/load-project.ts';
import type { Endpoint, Project } from '../src/project/model.ts';
import { createApp } from '../src/server/create-app.ts';
import { lineBuffer } from '../src/server/line-buffer.ts';
import { jsonLines } from '../src/server/logger.ts';
import { prepareEndpoint } from '../src/server/run-endpoint.ts';
import { StateHolder } from '../src/server/serving-state.ts';
import { startServer } from '../src/server/start-server.ts';
import { servicesUp } from '../src/services/services.ts';
import { type LoadMeasure, loadGenerator } from './lib/load-generator.ts';

const REPO = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const QUICK = args.includes('--quick');
const ROWS = Number(flag('--rows') ?? (QUICK ? 100_000 : 1_000_000));
const DURATION = Number(flag('--duration') ?? (QUICK ? 3 : 5));
const BACKENDS = (flag('--backend') ? [flag('--backend')] : ['server', 'embedded']) as Array<
  'server' | 'embedded'
>;
const URL_CH = flag('--url') ?? process.env.TALLY_CLICKHOUSE_URL ?? 'http://127.0.0.1:8123';
const CONNECTIONS = [1, 8, 32];
const ACCOUNTS = Math.max(100, Math.floor(ROWS / 100));
/** `balance` reads the account's snapshot row and its transactions after it (one account); `balances_snapshot` reads the snapshot: a cheap point read, where Tally's own cost shows most. */
const ENDPOINTS = (flag('--endpoint') ? [flag('--endpoint')!] : ['balances_snapshot', 'balance']) as string[];
const WARMUP_S = 1;
const ROUNDS = Number(flag('--rounds') ?? (QUICK ? 1 : 3));
/** Off with --no-request-log: Tally without its per-request log line. */
const REQUEST_LOG = !args.includes('--no-request-log');
/** The load generator, its own process (see bench/lib/load-generator.ts). */
const GENERATOR = await loadGenerator(flag('--generator') === 'autocannon' ? 'autocannon' : 'wrk', (s) =>
  console.error(s),
);
/** One kept-alive connection for the sequential latency probes. */
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

type Measure = LoadMeasure;

interface BackendResult {
  backend: string;
  endpoint: string;
  engine: string;
  rows: number;
  direct: Record<number, Measure>;
  /** No cache, every request its own query (coalescing off). */
  cacheOff: Record<number, Measure>;
  /** No cache, identical concurrent requests coalesced (the default). */
  coalesced: Record<number, Measure>;
  cacheOn: Record<number, Measure>;
  /**
   * At 32 connections: a bare node:http server in this process answering the cache-on answer's
   * bytes and headers, no framework and no work: what node and the machine allow, so the cache-on
   * figure can be read against it.
   */
  bare: Record<number, Measure>;
  /** Server back end: the same query through the engine (@clickhouse/client) in a loop, no HTTP in front. */
  viaEngine: Record<number, Measure>;
  /**
   * Median latency at one connection, direct and via Tally, and what Tally adds: from the load
   * generator's runs at 1 connection when it times to the microsecond (wrk: the client in its own
   * process, as a user's would be); else from `inProcessLatency`.
   */
  latency: { directP50: number; tallyP50: number; added: number; from: 'load generator' | 'in process' };
  /**
   * The same from sequential requests sent by this process (which also runs Tally's server, so
   * the client's own work is on the server's thread), timed in microseconds.
   */
  inProcessLatency: { directP50: number; tallyP50: number; added: number };
  /**
   * A cache hit's JavaScript in this process, no socket: µs per hit of Tally's direct route
   * (request logged), and of a handler that only answers the same bytes (the loop's own cost).
   */
  hitMicros?: { tally: number; bare: number };
}

const loadBefore = loadavg()[0]!;
const results: BackendResult[] = [];
for (const backend of BACKENDS) results.push(...(await benchBackend(backend)));
report(results);

async function benchBackend(backend: 'server' | 'embedded'): Promise<BackendResult[]> {
  if (backend === 'server') {
    await servicesUp({
      projectDir: REPO,
      clickhouseUrl: URL_CH,
      only: ['clickhouse'],
      log: (s) => console.error(s),
    });
  }
  const database = `bench_endpoints_${process.pid}`;
  const embeddedPath = join(tmpdir(), `tally-bench-endpoints-${process.pid}`);
  const engine = await createEngine({
    user: 'default',
    password: '',
    database,
    embeddedPath,
    ...(backend === 'server' ? { url: URL_CH } : {}),
  });
  try {
    console.error(`\n${engine.description}: loading ${ROWS.toLocaleString('en-US')} transactions`);
    const project = loadProjectOrThrow(REPO, { env: {} });
    const deployed = await applyDeploy(project, engine);
    if (!deployed.ok) throw new Error(deployed.error);
    await load(engine);
    const account = accountId(42);
    const out: BackendResult[] = [];
    for (const name of ENDPOINTS) out.push(await benchEndpoint(backend, engine, project, name, account));
    return out;
  } finally {
    await engine.command(`DROP DATABASE IF EXISTS ${quoteIdent(database)}`).catch(() => {});
    await engine.close();
    rmSync(embeddedPath, { recursive: true, force: true });
  }
}

async function benchEndpoint(
  backend: 'server' | 'embedded',
  engine: Engine,
  project: Project,
  name: string,
  account: string,
): Promise<BackendResult> {
  const params = { account_id: account };
  const withCache = (ms: number | undefined): Project => ({
    ...project,
    endpoints: new Map(
      [...project.endpoints].map(([n, e]): [string, Endpoint] => [n, n === name ? { ...e, cacheMs: ms } : e]),
    ),
  });
  const off = withCache(undefined);
  const on = withCache(60_000);
  const holder = new StateHolder({ project: off, engine, version: 'bench-off' });
  // Every request logged as `tally serve` logs it (a JSON line, lines written together), into a
  // file: the log is part of what a request costs.
  const logFile = join(tmpdir(), `tally-bench-requests-${process.pid}.log`);
  const logFd = openSync(logFile, 'w');
  const lines = lineBuffer((chunk) => writeSync(logFd, chunk));
  const log = REQUEST_LOG ? { log: jsonLines(lines.write) } : {};
  const plain = await startServer(
    createApp({ state: holder, tokens: [], coalesce: false, ...log }),
    '127.0.0.1',
    0,
  );
  const usual = await startServer(createApp({ state: holder, tokens: [], ...log }), '127.0.0.1', 0);
  const path = `/v0/pipes/${name}.json?account_id=${account}`;
  let bare: { url: string; close(): Promise<void> } = { url: '', close: async () => {} };
  const { compiled, settings } = prepareEndpoint(holder.get(), off.endpoints.get(name)!, params);
  try {
    // The same answer both ways, before timing anything.
    const first = await fetch(plain.url + path);
    const firstText = await first.text();
    const viaTally = JSON.parse(firstText) as { data: unknown[] };
    bare = await bareServer(firstText, first.headers);
    const direct = await engine.query(compiled.sql, { params: { ...compiled.params }, settings });
    if (JSON.stringify(viaTally.data) !== JSON.stringify(direct.data) || direct.rows !== 1) {
      throw new Error(`answers differ: ${JSON.stringify(viaTally.data)} vs ${JSON.stringify(direct.data)}`);
    }
    console.error(`${name}: ${compiled.sql.replace(/\s+/g, ' ').slice(0, 160)}...`);

    const result: BackendResult = {
      backend,
      endpoint: name,
      engine: engine.description,
      rows: ROWS,
      direct: {},
      cacheOff: {},
      coalesced: {},
      cacheOn: {},
      bare: {},
      viaEngine: {},
      latency: { directP50: 0, tallyP50: 0, added: 0, from: 'in process' },
      inProcessLatency: { directP50: 0, tallyP50: 0, added: 0 },
    };
    let directRun: (c: number, duration?: number) => Promise<Measure>;
    let directOnce: () => Promise<unknown>;
    if (backend === 'server') {
      const qs = new URLSearchParams({ database: engine.database, query: `${compiled.sql}\nFORMAT JSON` });
      for (const [k, v] of Object.entries(settings)) qs.set(k, String(v));
      qs.set('allow_experimental_low_cardinality_type', '1');
      const directUrl = `${URL_CH}/?${qs}`;
      const check = await fetch(directUrl);
      if (!check.ok) throw new Error(`direct ClickHouse: ${check.status} ${await check.text()}`);
      directRun = (c, d) => cannon(directUrl, c, d);
      directOnce = () => httpGet(directUrl);
    } else {
      directOnce = () => engine.query(compiled.sql, { params: { ...compiled.params }, settings });
      directRun = (c, d) => loop(directOnce, c, d);
    }

    // Each measure is taken ROUNDS times, the modes alternating within a round, and the median
    // round kept: on a shared machine, load that comes and goes then hits every mode alike.
    const probeS = QUICK ? 1 : 2;
    const viaTallyOnce = () => httpGet(plain.url + path);
    await loop(directOnce, 1, WARMUP_S);
    await loop(viaTallyOnce, 1, WARMUP_S);
    const d1: Measure[] = [];
    const t1: Measure[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      d1.push(await loop(directOnce, 1, probeS));
      t1.push(await loop(viaTallyOnce, 1, probeS));
    }
    const directP50 = median(d1.map((m) => m.p50));
    const tallyP50 = median(t1.map((m) => m.p50));
    result.inProcessLatency = { directP50, tallyP50, added: tallyP50 - directP50 };
    console.error(
      `${backend.padEnd(9)} ${name}: median at 1 connection, requests from this process, ${directP50.toFixed(3)} ms direct, ${tallyP50.toFixed(3)} ms via Tally (+${result.inProcessLatency.added.toFixed(3)} ms)`,
    );

    const viaEngine = () => engine.query(compiled.sql, { params: { ...compiled.params }, settings });
    for (const c of CONNECTIONS) {
      const runs: Record<string, Measure[]> = {
        direct: [],
        viaEngine: [],
        cacheOff: [],
        coalesced: [],
        cacheOn: [],
        bare: [],
      };
      await directRun(c, WARMUP_S);
      for (let r = 0; r < ROUNDS; r++) {
        runs.direct!.push(await directRun(c));
        if (backend === 'server') runs.viaEngine!.push(await loop(viaEngine, c));
        holder.swap({ project: off, engine, version: `off-${c}-${r}` });
        if (r === 0) await cannon(plain.url + path, c, WARMUP_S);
        runs.cacheOff!.push(await cannon(plain.url + path, c));
        if (c > 1) runs.coalesced!.push(await cannon(usual.url + path, c));
        holder.swap({ project: on, engine, version: `on-${c}-${r}` });
        await cannon(usual.url + path, c, WARMUP_S);
        runs.cacheOn!.push(await cannon(usual.url + path, c));
        if (c === 32) runs.bare!.push(await cannon(bare.url + path, c));
      }
      const put = (into: Record<number, Measure>, label: string, ms: Measure[]) => {
        if (ms.length === 0) return;
        into[c] = medianRun(ms);
        line(backend, name, label, c, into[c]);
      };
      put(result.direct, 'direct', runs.direct!);
      put(result.viaEngine, 'engine.query loop', runs.viaEngine!);
      put(result.cacheOff, 'tally, no cache', runs.cacheOff!);
      put(result.coalesced, 'tally, coalesced', runs.coalesced!);
      put(result.cacheOn, 'tally, cache on', runs.cacheOn!);
      put(result.bare, 'bare node:http', runs.bare!);
    }
    const d1c = result.direct[1]!;
    const t1c = result.cacheOff[1]!;
    result.latency = GENERATOR.microseconds
      ? { directP50: d1c.p50, tallyP50: t1c.p50, added: t1c.p50 - d1c.p50, from: 'load generator' }
      : { ...result.inProcessLatency, from: 'in process' };
    holder.swap({ project: on, engine, version: 'on-hits' });
    result.hitMicros = await hitMicros(
      createApp({ state: holder, tokens: [], ...log }),
      path,
      lines,
      firstText,
    );
    console.error(
      `${backend.padEnd(9)} ${name}: a cache hit in process ${result.hitMicros.tally.toFixed(2)} µs (a handler answering the same bytes ${result.hitMicros.bare.toFixed(2)} µs)`,
    );
    return result;
  } finally {
    await plain.close();
    await usual.close();
    await bare.close();
    lines.close();
    closeSync(logFd);
    rmSync(logFile, { force: true });
  }
}
/** A node:http server answering `body` with `headers` (and a fresh request id) to every request. */
async function bareServer(body: string, headers: Headers): Promise<{ url: string; close(): Promise<void> }> {
  const fixed: Record<string, string> = { 'content-length': String(Buffer.byteLength(body)) };
  for (const h of ['content-type', 'x-tally-freshness', 'x-tally-cache']) fixed[h] = headers.get(h) ?? '';
  const server = createServer((_req, res) => {
    res.writeHead(200, { ...fixed, 'x-request-id': randomUUID() });
    res.end(body);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

/**
 * Median µs per cache hit over 3 rounds of 100k, through `app.direct` with a request and a
 * response that only take the answer (the JavaScript a hit costs, without node's HTTP parsing and
 * the socket), against a handler answering `body` the same way. Lines are logged as under 32
 * connections: written together every 32 hits.
 */
async function hitMicros(
  app: ReturnType<typeof createApp>,
  path: string,
  lines: { flush(): void },
  body: string,
): Promise<{ tally: number; bare: number }> {
  const req = { method: 'GET', url: path, headers: { host: '127.0.0.1' } } as unknown as IncomingMessage;
  let done = () => {};
  let status = 0;
  const res = {
    destroyed: false,
    writeHead(code: number) {
      status = code;
    },
    end() {
      done();
    },
  } as unknown as ServerResponse;
  const viaTally = () =>
    new Promise<void>((d) => {
      done = d;
      if (!app.direct(req, res)) throw new Error(`the direct route did not take ${path}`);
    });
  const bareHeaders = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
  };
  const viaBare = () =>
    new Promise<void>((d) => {
      done = d;
      res.writeHead(200, bareHeaders);
      res.end(body);
    });
  const time = async (once: () => Promise<void>) => {
    const rounds: number[] = [];
    for (let r = 0; r < 3; r++) {
      const n = 100_000;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        await once();
        if ((i & 31) === 31) lines.flush();
      }
      rounds.push(((performance.now() - t0) * 1000) / n);
    }
    return median(rounds);
  };
  for (let i = 0; i < 5000; i++) await viaTally();
  if (status !== 200) throw new Error(`a cache hit answered ${status}`);
  const tally = await time(viaTally);
  const bare = await time(viaBare);
  return { tally, bare };
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** The run with the median throughput. */
function medianRun(ms: Measure[]): Measure {
  return [...ms].sort((a, b) => a.rps - b.rps)[Math.floor(ms.length / 2)]!;
}

/** `ROWS` transactions over `ACCOUNTS` accounts through a year, inserted with engine.insert. */
async function load(engine: Engine): Promise<void> {
  const t0 = performance.now();
  const types = ['deposit', 'payment', 'payment', 'payment', 'transfer', 'withdrawal', 'refund', 'fee'];
  const merchants = ['Whole Foods', 'Amazon', 'Shell', 'Netflix', 'Uber', null, null];
  const start = Date.UTC(2024, 0, 1) / 1000;
  let seed = 1;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const BATCH = 100_000;
  for (let from = 0; from < ROWS; from += BATCH) {
    const rows = [];
    for (let i = from; i < Math.min(ROWS, from + BATCH); i++) {
      const type = types[Math.floor(rnd() * types.length)]!;
      const cents = Math.floor(rnd() * 50_000) + 1;
      const signed = type === 'deposit' || type === 'refund' ? cents : -cents;
      const ts = new Date((start + Math.floor(rnd() * 365 * 86_400)) * 1000).toISOString();
      rows.push({
        transaction_id: `t${i}`,
        timestamp: `${ts.slice(0, 10)} ${ts.slice(11, 19)}`,
        account_id: accountId(i % ACCOUNTS),
        type,
        amount: signed / 100,
        currency: 'USD',
        merchant: merchants[Math.floor(rnd() * merchants.length)],
        description: 'card payment',
      });
    }
    await engine.insert('transactions', rows);
  }
  // A steady state: parts merged, as a server that has run a while has them.
  for (const table of ['transactions', 'account_balances', 'subscription_state']) {
    await engine.command(`OPTIMIZE TABLE ${table} FINAL`).catch(() => {});
  }
  console.error(`loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

function accountId(n: number): string {
  return `acc${String(n).padStart(6, '0')}`;
}

/** The load generator at `url` for `duration` seconds. */
function cannon(url: string, connections: number, duration: number = DURATION): Promise<Measure> {
  return GENERATOR.run(url, connections, duration);
}

/** `concurrency` loops calling `fn` for DURATION seconds: throughput and latency percentiles. */
async function loop(
  fn: () => Promise<unknown>,
  concurrency: number,
  duration: number = DURATION,
): Promise<Measure> {
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + duration * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        try {
          await fn();
        } catch (err) {
          if (errors++ === 0) console.error(`error: ${(err as Error).message}`);
        }
        latencies.push(performance.now() - s);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
  return { rps: latencies.length / seconds, p50: pct(0.5), p99: pct(0.99), errors };
}

function line(backend: string, endpoint: string, what: string, c: number, m: Measure): void {
  console.error(
    `${backend.padEnd(9)} ${endpoint.padEnd(18)} ${what.padEnd(17)} c=${String(c).padStart(2)}  ${m.rps.toFixed(0).padStart(7)} req/s  p50 ${m.p50.toFixed(2).padStart(7)} ms  p99 ${m.p99.toFixed(2).padStart(7)} ms${m.errors ? `  errors ${m.errors}` : ''}`,
  );
}

/** One GET over a kept-alive connection; rejects on a non-200 answer. */
function httpGet(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      res.on('data', () => {});
      res.on('end', () =>
        res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`)),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function report(all: BackendResult[]): void {
  const rows: string[] = [];
  const summary: Array<Record<string, unknown>> = [];
  rows.push(
    '| back end | endpoint | conns | direct req/s | engine.query req/s | Tally req/s (vs direct) | coalesced req/s | cache on req/s (x direct) | direct p50 / p99 | Tally p50 / p99 | cache on p50 |',
  );
  rows.push('| --- | --- | --: | --: | --: | --: | --: | --: | --: | --: | --: |');
  for (const r of all) {
    for (const c of CONNECTIONS) {
      const d = r.direct[c]!;
      const off = r.cacheOff[c]!;
      const co = r.coalesced[c];
      const on = r.cacheOn[c]!;
      rows.push(
        `| ${r.backend} | ${r.endpoint} | ${c} | ${d.rps.toFixed(0)} | ${r.viaEngine[c] ? r.viaEngine[c].rps.toFixed(0) : '-'} | ${off.rps.toFixed(0)} (${pct(off.rps / d.rps)}) | ${co ? co.rps.toFixed(0) : '-'} | ${on.rps.toFixed(0)} (${(on.rps / d.rps).toFixed(1)}x) | ${ms(d.p50)} / ${ms(d.p99)} | ${ms(off.p50)} / ${ms(off.p99)} | ${ms(on.p50)} |`,
      );
    }
    const d32 = r.direct[32]!;
    const goals = {
      throughputAt32: { ratio: r.cacheOff[32]!.rps / d32.rps, goal: 0.8 },
      addedMedianMs: { ms: r.latency.added, goal: 2 },
      cacheOnAt32: { ratio: r.cacheOn[32]!.rps / d32.rps, goal: 10 },
    };
    summary.push({
      backend: r.backend,
      endpoint: r.endpoint,
      engine: r.engine,
      rows: r.rows,
      latency: r.latency,
      goals,
    });
  }
  const loadAverage = { before: loadBefore, after: loadavg()[0]! };
  console.log(
    `\n${DURATION} s per ${GENERATOR.name} run, median of ${ROUNDS} rounds, ${ROWS.toLocaleString('en-US')} transactions, node ${process.version}, load average ${loadAverage.before.toFixed(1)} before, ${loadAverage.after.toFixed(1)} after (2 cores)\n`,
  );
  console.log(rows.join('\n'));
  console.log('');
  for (const s of summary) {
    const g = s.goals as Record<string, { ratio?: number; ms?: number; goal: number }>;
    const l = s.latency as BackendResult['latency'];
    console.log(
      `${s.backend} ${s.endpoint}: throughput at 32 = ${pct(g.throughputAt32!.ratio!)} of direct (goal >= 80%) ${g.throughputAt32!.ratio! >= 0.8 ? 'ok' : 'MISSED'}; ` +
        `added median = ${l.added.toFixed(3)} ms (${l.directP50.toFixed(3)} -> ${l.tallyP50.toFixed(3)}; goal <= 2) ${l.added <= 2 ? 'ok' : 'MISSED'}; ` +
        `cache on at 32 = ${g.cacheOnAt32!.ratio!.toFixed(1)}x direct (goal >= 10x) ${g.cacheOnAt32!.ratio! >= 10 ? 'ok' : 'MISSED'}`,
    );
  }
  for (const r of all) {
    const bare = r.bare[32];
    if (!bare) continue;
    console.log(
      `${r.backend} ${r.endpoint}: a bare node:http server answering the same bytes at 32 = ${bare.rps.toFixed(0)} req/s (${(bare.rps / r.direct[32]!.rps).toFixed(1)}x direct); Tally's cache on = ${pct(r.cacheOn[32]!.rps / bare.rps)} of it`,
    );
  }
  for (const r of all) {
    if (!r.hitMicros) continue;
    console.log(
      `${r.backend} ${r.endpoint}: a cache hit's JavaScript in process = ${r.hitMicros.tally.toFixed(2)} µs (a handler answering the same bytes: ${r.hitMicros.bare.toFixed(2)} µs)`,
    );
  }
  const sha = gitSha();
  const date = new Date().toISOString().slice(0, 10);
  const out = {
    bench: 'endpoints',
    date,
    sha,
    quick: QUICK,
    durationS: DURATION,
    generator: GENERATOR.name,
    rounds: ROUNDS,
    loadAverage,
    results: all,
    summary,
  };
  const dir = join(REPO, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${date}-${sha}-endpoints.json`);
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`\nwritten to ${file}`);
  console.log(JSON.stringify(out));
}

function ms(x: number): string {
  return `${x.toFixed(x < 10 ? 2 : 0)} ms`;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(0)}%`;
}

function gitSha(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}
