// The chaos run: continuous Kafka ingestion (with ~5% duplicate deliveries) and a query load
// against a spawned `tally serve --deploy` on the ClickHouse server back end, while faults are
// injected: kill -9 of Tally, ClickHouse unreachable (a TCP proxy cut), Tally paused with
// SIGSTOP, an oversized burst of events with bad lines, slow clients. After each fault the
// stored state is compared with what was produced (deduplicated): every event once, in the log
// and in the materialized snapshot, and every bad line in quarantine.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createEngine, quoteIdent } from '../../src/clickhouse/create-engine.ts';
import type { Engine } from '../../src/clickhouse/engine.ts';
import { createKafkaClient, type KafkaClient } from '../../src/ingest/kafka-client.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { writeChaosProject } from './chaos-project.ts';
import { openSlowClients } from './slow-clients.ts';
import { sleep, TallyProcess } from './tally-process.ts';

export interface ChaosOptions {
  short: boolean;
  clickhouseUrl: string;
  brokers: string;
  log: (line: string) => void;
}

export interface FaultResult {
  fault: string;
  /** How long the fault lasted (ms). */
  heldMs: number;
  /** From the end of the fault (restart, restore, SIGCONT) to the first 200 of an endpoint. */
  endpointRecoveryMs: number;
  /** From the end of the fault until the stored state equalled the expectation. */
  exactAfterMs: number;
  produced: number;
  lost: number;
  doubled: number;
  snapshotMismatches: number;
  ok: boolean;
  note?: string;
}

export interface ChaosResult {
  mode: 'short' | 'full';
  startedAt: string;
  durationS: number;
  eventsProduced: number;
  duplicatesSent: number;
  distinctEvents: number;
  eventsIngestedUnderFaults: number;
  faults: FaultResult[];
  badInputs: number;
  quarantined: number;
  oversizedRefused: number;
  oversizedTried: number;
  /** Status of a request holding one 1.5 MB event (above Kafka's default message size). */
  bigLineStatus: number;
  /** A 4 MB body of good events: its status, how many events it held and how many were stored. */
  fourMb: { status: number; events: number; stored: number };
  queries: number;
  queryFailures: number;
  slowClients: {
    opened: number;
    closedByServer: number;
    closedAfterS: number;
    socketsBefore: number;
    socketsAfter: number;
  };
  lost: number;
  doubled: number;
  ok: boolean;
}

interface Expected {
  account: string;
  amount: number;
}

const ACCOUNTS = 50;

/** Continuous producer: new events plus ~5% re-sent copies of earlier ones, keyed by id. */
class EventProducer {
  readonly expected = new Map<string, Expected>();
  sent = 0;
  duplicates = 0;
  private seq = 0;
  private running = false;
  private loop?: Promise<void>;
  private readonly ids: string[] = [];

  constructor(
    private readonly client: KafkaClient,
    private readonly topic: string,
    private readonly perTick: number,
  ) {}

  nextEvent(): { id: string; line: string } {
    const id = `e${this.seq++}`;
    const account = `acct-${this.seq % ACCOUNTS}`;
    const amount = ((this.seq * 7919) % 2001) - 1000;
    this.expected.set(id, { account, amount });
    this.ids.push(id);
    return { id, line: JSON.stringify({ id, account, amount, ts: '2024-06-01 12:00:00' }) };
  }

  copyOfEarlier(): { id: string; line: string } | undefined {
    if (this.ids.length === 0) return undefined;
    const id = this.ids[Math.floor(Math.random() * this.ids.length)] as string;
    const e = this.expected.get(id) as Expected;
    return {
      id,
      line: JSON.stringify({ id, account: e.account, amount: e.amount, ts: '2024-06-01 12:00:00' }),
    };
  }

  batch(n: number): { key: string; value: string }[] {
    const out: { key: string; value: string }[] = [];
    for (let i = 0; i < n; i++) {
      const dup = Math.random() < 0.05 ? this.copyOfEarlier() : undefined;
      if (dup) this.duplicates++;
      const e = dup ?? this.nextEvent();
      out.push({ key: e.id, value: e.line });
    }
    return out;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const msgs = this.batch(this.perTick);
        for (;;) {
          try {
            await this.client.produce(this.topic, msgs);
            break;
          } catch {
            await sleep(500); // Kafka is not faulted here; a retry re-sends: more duplicates, harmless
          }
        }
        this.sent += msgs.length;
        await sleep(100);
      }
    })();
  }

  async pause(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/** A loop of endpoint calls; remembers each outcome. */
class QueryLoad {
  calls = 0;
  failures = 0;
  private running = true;
  private readonly loop: Promise<void>;

  constructor(url: () => string) {
    this.loop = (async () => {
      let i = 0;
      while (this.running) {
        const path =
          i++ % 2 === 0 ? '/v0/pipes/totals.json' : `/v0/pipes/totals.json?account=acct-${i % ACCOUNTS}`;
        const ok = await fetch(`${url()}${path}`, { signal: AbortSignal.timeout(2000) })
          .then(async (r) => {
            await r.arrayBuffer();
            return r.status === 200;
          })
          .catch(() => false);
        this.calls++;
        if (!ok) this.failures++;
        await sleep(100);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/** Lines the ledger's parser must refuse: each lands in quarantine once. */
function badLines(n: number): string[] {
  const base = [
    '{"id":"bad-1","account":"a","amount":1.5,"ts":"2024-06-01 12:00:00"}',
    '{"id":"bad-2","account":"a","amount":"1e400","ts":"2024-06-01 12:00:00"}',
    '{"id":"bad-3","account":"a","amount":99999999999999999999,"ts":"2024-06-01 12:00:00"}',
    '{"id":"bad-4","account":"a","amount":1,"ts":"never"}',
    '{"id":5,"account":"a","amount":1,"ts":"2024-06-01 12:00:00"}',
    '{"id":"bad-6","account":null,"amount":1,"ts":"2024-06-01 12:00:00"}',
    '{"id":"bad-7","account":"a","amount":true,"ts":"2024-06-01 12:00:00"}',
    `${'['.repeat(10_000)}${']'.repeat(10_000)}`,
    `{"id":"bad-9","account":"${'z'.repeat(900_000)}`,
    'not json at all',
    '{"id":"bad-11","account":"a","amount":1,"ts":"2024-06-01 12:00:00"} trailing',
    '\u0000\u0001\u0002',
  ];
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    const b = base[i % base.length] as string;
    out.push(i < base.length ? b : b.replace('bad-', `bad-${i}-`));
  }
  return out;
}

export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const t0 = performance.now();
  const plan = o.short
    ? { kills: 2, pauseMs: 5_000, cutMs: 5_000, perTick: 100, settleMs: 90_000 }
    : { kills: 5, pauseMs: 20_000, cutMs: 15_000, perTick: 200, settleMs: 120_000 };
  const stamp = `${Date.now().toString(36)}${process.pid}`;
  const database = `chaos_${stamp}`;
  const topic = `chaos_${stamp}`;
  const work = mkdtempSync(join(tmpdir(), 'tally-chaos-run-'));
  const logFile = join(work, 'tally.log');
  o.log(`chaos (${o.short ? 'short' : 'full'}): database ${database}, topic ${topic}, Tally log ${logFile}`);

  const ch = new URL(o.clickhouseUrl);
  const proxy: TcpProxy = await startTcpProxy(ch.hostname, Number(ch.port || 8123));
  const engine: Engine = await createEngine({
    url: o.clickhouseUrl,
    user: process.env.TALLY_CLICKHOUSE_USER ?? 'default',
    password: process.env.TALLY_CLICKHOUSE_PASSWORD ?? '',
    database,
    embeddedPath: join(work, 'unused'),
  });
  const kafka = createKafkaClient({ brokers: o.brokers.split(','), clientId: 'tally-chaos', ssl: false });
  await kafka.ensureTopic(topic, 3);
  const project = writeChaosProject({
    clickhouseUrl: `http://127.0.0.1:${proxy.port}`,
    database,
    topic,
    brokers: o.brokers,
  });
  const port = 17_000 + Math.floor(Math.random() * 2000);
  const tally = new TallyProcess(project, port, logFile);
  const producer = new EventProducer(kafka, topic, plan.perTick);
  const faults: FaultResult[] = [];
  let expectedQuarantine = 0;
  let badInputs = 0;
  let oversizedTried = 0;
  let oversizedRefused = 0;
  let ingestedUnderFaults = 0;
  let bigLineStatus = 0;
  let fourMbStatus = 0;
  let fourMbEvents = 0;

  const verify = async () => {
    const [all] = await engine.rows<{ c: string; u: string }>(
      "SELECT toString(count()) AS c, toString(uniqExact(id)) AS u FROM ledger WHERE account != 'acct-m'",
    );
    const stored = Number(all?.u ?? 0);
    const doubled = Number(all?.c ?? 0) - stored;
    const [missing] = await engine.rows<{ n: string }>(
      `SELECT toString(count()) AS n FROM ledger WHERE id NOT LIKE 'e%' AND id != 'big-1' AND account != 'acct-m'`,
    );
    const snapshot = await engine.rows<{ account: string; s: string; n: string }>(
      "SELECT account, toString(sumMerge(total)) AS s, toString(sumMerge(n)) AS n FROM ledger_totals WHERE account != 'acct-m' GROUP BY account",
    );
    const want = new Map<string, { s: number; n: number }>();
    for (const e of producer.expected.values()) {
      const w = want.get(e.account) ?? { s: 0, n: 0 };
      w.s += e.amount;
      w.n++;
      want.set(e.account, w);
    }
    let snapshotMismatches = 0;
    const got = new Map(snapshot.map((r) => [r.account, { s: Number(r.s), n: Number(r.n) }]));
    for (const [account, w] of want) {
      const g = got.get(account);
      if (!g || g.s !== w.s || g.n !== w.n) snapshotMismatches++;
    }
    for (const account of got.keys()) if (!want.has(account)) snapshotMismatches++;
    const [q] = await engine.rows<{ n: string }>('SELECT toString(count()) AS n FROM ledger_quarantine');
    const [m] = await engine.rows<{ n: string; u: string }>(
      "SELECT toString(count()) AS n, toString(uniqExact(id)) AS u FROM ledger WHERE account = 'acct-m'",
    );
    return {
      lost: producer.expected.size - stored,
      doubled,
      unexpected: Number(missing?.n ?? 0),
      snapshotMismatches,
      quarantined: Number(q?.n ?? 0),
      stored,
      mStored: Number(m?.u ?? 0),
      mDoubled: Number(m?.n ?? 0) - Number(m?.u ?? 0),
    };
  };

  /** Pauses the producer and waits until the state is exact; resumes the producer. */
  const settle = async (
    fault: string,
    heldMs: number,
    endedAt: number,
    endpointRecoveryMs: number,
    note?: string,
  ) => {
    await producer.pause();
    let last = await verify().catch(() => undefined);
    const deadline = performance.now() + plan.settleMs;
    const exact = (v: typeof last) =>
      v !== undefined &&
      v.lost === 0 &&
      v.doubled === 0 &&
      v.snapshotMismatches === 0 &&
      v.quarantined >= expectedQuarantine;
    while (performance.now() < deadline && !exact(last)) {
      await sleep(500);
      last = await verify().catch(() => last);
    }
    const exactAfterMs = performance.now() - endedAt;
    const ok =
      !!last &&
      last.lost === 0 &&
      last.doubled === 0 &&
      last.snapshotMismatches === 0 &&
      last.quarantined === expectedQuarantine;
    const r: FaultResult = {
      fault,
      heldMs: Math.round(heldMs),
      endpointRecoveryMs: Math.round(endpointRecoveryMs),
      exactAfterMs: Math.round(exactAfterMs),
      produced: producer.expected.size,
      lost: last?.lost ?? -1,
      doubled: last?.doubled ?? -1,
      snapshotMismatches: last?.snapshotMismatches ?? -1,
      ok,
      ...(note || (last && last.quarantined !== expectedQuarantine)
        ? {
            note: [
              note,
              last && last.quarantined !== expectedQuarantine
                ? `quarantine ${last.quarantined}/${expectedQuarantine}`
                : '',
            ]
              .filter(Boolean)
              .join('; '),
          }
        : {}),
    };
    faults.push(r);
    o.log(
      `  ${ok ? 'ok  ' : 'FAIL'} ${fault}: held ${r.heldMs} ms, endpoints back in ${r.endpointRecoveryMs} ms, exact after ${r.exactAfterMs} ms; produced ${r.produced}, lost ${r.lost}, doubled ${r.doubled}, snapshot mismatches ${r.snapshotMismatches}${r.note ? ` (${r.note})` : ''}`,
    );
    producer.start();
  };

  /** Polls an endpoint until it answers 200; returns the ms since `from`. */
  const untilEndpoint = async (from: number, timeoutMs = 180_000) => {
    while (performance.now() - from < timeoutMs) {
      const ok = await fetch(`${tally.url}/v0/pipes/totals.json`, { signal: AbortSignal.timeout(1000) })
        .then(async (r) => {
          await r.arrayBuffer();
          return r.status === 200;
        })
        .catch(() => false);
      if (ok) return performance.now() - from;
      await sleep(50);
    }
    return Number.NaN;
  };

  const during = async (fault: () => Promise<void>) => {
    const before = producer.expected.size;
    await fault();
    ingestedUnderFaults += producer.expected.size - before;
  };

  let load: QueryLoad | undefined;
  let last: Awaited<ReturnType<typeof verify>> | undefined;
  let loadSummary = { calls: 0, failures: 0 };
  let slowSummary: ChaosResult['slowClients'] = {
    opened: 0,
    closedByServer: 0,
    closedAfterS: 0,
    socketsBefore: -1,
    socketsAfter: -1,
  };
  try {
    tally.start();
    const firstStart = await tally.waitHealthy();
    o.log(`tally serve --deploy healthy in ${firstStart.toFixed(0)} ms (pid ${tally.pid}, ${tally.url})`);
    // Slow clients: opened now, the server must close them by its own timeouts.
    const socketsBefore = tally.openSockets();
    const slow = openSlowClients(port, 20);
    o.log(
      `  ${slow.count} slow clients opened (a request byte a second); Tally holds ${socketsBefore} sockets`,
    );
    load = new QueryLoad(() => tally.url);
    producer.start();
    await sleep(3000);
    await settle('baseline (no fault)', 0, performance.now(), 0);

    // ClickHouse unreachable.
    await during(async () => {
      await sleep(2000);
      const start = performance.now();
      await proxy.cut();
      await sleep(plan.cutMs);
      await proxy.restore();
      const ended = performance.now();
      const rec = await untilEndpoint(ended);
      await settle(`ClickHouse unreachable ${plan.cutMs / 1000} s (proxy cut)`, ended - start, ended, rec);
    });

    // Oversized burst through the events API, with bad lines and duplicates.
    await during(async () => {
      const start = performance.now();
      const post = (
        body: string | Uint8Array | ReadableStream<Uint8Array>,
        headers: Record<string, string> = {},
      ) =>
        fetch(`${tally.url}/v0/events?name=ledger`, { method: 'POST', body, headers }).then(async (r) => {
          await r.arrayBuffer();
          return r.status;
        });
      // A client retries a 503 ("not acknowledged"); with a dedup_key that is harmless.
      const postRetrying = async (body: string) => {
        let status = 0;
        for (let attempt = 0; attempt < 5; attempt++) {
          status = await post(body);
          if (status !== 503) break;
          await sleep(500 * 2 ** attempt);
        }
        return status;
      };
      // One event above Kafka's message size limit (1 MB by default) in an otherwise good body.
      oversizedTried++;
      const bigLine = `{"id":"big-1","account":"acct-0","amount":1,"ts":"2024-06-01 12:00:00","pad":"${'q'.repeat(1_500_000)}"}`;
      const bigStatus = await post(bigLine);
      bigLineStatus = bigStatus;
      if (bigStatus === 413 || bigStatus === 400) oversizedRefused++;
      else if (bigStatus === 200 || bigStatus === 202)
        producer.expected.set('big-1', { account: 'acct-0', amount: 1 });
      // A 4 MB body of good events (within the 10 MiB limit): ids `m...`, account `acct-m`, left
      // out of the expectation; how many are stored although the answer is a 503 is reported.
      const mLines: string[] = [];
      for (let i = 0; mLines.length * 80 < 4_000_000; i++) {
        mLines.push(JSON.stringify({ id: `m${i}`, account: 'acct-m', amount: 1, ts: '2024-06-01 12:00:00' }));
      }
      fourMbStatus = await post(mLines.join('\n'));
      fourMbEvents = mLines.length;
      oversizedTried += 2;
      if ((await post('x'.repeat(11 * 1024 * 1024))) === 413) oversizedRefused++;
      if (
        (await post(gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x61)), { 'content-encoding': 'gzip' })) === 413
      )
        oversizedRefused++;
      const bad = badLines(o.short ? 60 : 240);
      const lines: string[] = [];
      for (let i = 0; i < (o.short ? 20_000 : 60_000); i++) {
        const dup = Math.random() < 0.05 ? producer.copyOfEarlier() : undefined;
        if (dup) producer.duplicates++;
        producer.sent++;
        lines.push((dup ?? producer.nextEvent()).line);
        if (i % 100 === 0 && bad.length) lines.push(bad.pop() as string);
      }
      for (const b of bad) lines.push(b);
      const sentBad = o.short ? 60 : 240;
      badInputs += sentBad + 4; // + the 11 MiB body, the gzip bomb, the 1.5 MB event, the 4 MB body
      expectedQuarantine += sentBad;
      // In bodies of ~500 KB (a body's events go to Kafka in one produce request, and the broker
      // refuses a partition's batch above its message.max.bytes, 1 MiB by default: see Findings).
      let body: string[] = [];
      let size = 0;
      const statuses: number[] = [];
      for (const l of lines) {
        body.push(l);
        size += l.length + 1;
        if (size > 500_000) {
          statuses.push(await postRetrying(body.join('\n')));
          body = [];
          size = 0;
        }
      }
      if (body.length) statuses.push(await postRetrying(body.join('\n')));
      const ended = performance.now();
      const refused = statuses.filter((s) => s !== 202 && s !== 200);
      await settle(
        `oversized burst: ${lines.length} events in ${statuses.length} requests, 2 oversized bodies`,
        ended - start,
        ended,
        await untilEndpoint(ended),
        refused.length ? `requests not accepted: ${refused.join(',')}` : undefined,
      );
    });

    // Tally paused.
    await during(async () => {
      await sleep(2000);
      const start = performance.now();
      tally.pause();
      await sleep(plan.pauseMs);
      tally.resume();
      const ended = performance.now();
      const rec = await untilEndpoint(ended);
      await settle(`Tally paused (SIGSTOP) ${plan.pauseMs / 1000} s`, ended - start, ended, rec);
    });

    // Slow clients are closed by the server (headers timeout 60 s, checked every 30 s).
    const closed = await slow.waitClosed(100_000);
    await sleep(1000);
    const socketsAfter = tally.openSockets();
    slowSummary = {
      opened: slow.count,
      closedByServer: closed.byServer,
      closedAfterS: Math.round(closed.lastMs / 1000),
      socketsBefore,
      socketsAfter,
    };
    slow.destroy();
    o.log(
      `  slow clients: ${closed.byServer}/${slow.count} closed by the server, the last after ${slowSummary.closedAfterS} s; Tally sockets ${socketsBefore} -> ${socketsAfter}`,
    );

    // kill -9 of Tally, restarted at once.
    for (let k = 1; k <= plan.kills; k++) {
      await during(async () => {
        await sleep(1500 + Math.random() * 2000);
        const start = performance.now();
        await tally.kill9();
        tally.start();
        const ended = performance.now();
        const rec = await untilEndpoint(ended);
        await settle(`kill -9 of Tally #${k}`, ended - start, ended, rec);
      });
    }
  } finally {
    await producer.pause();
    await load?.stop();
    await tally.stop();
    await proxy.close();
    const finalState = await verify().catch(() => undefined);
    await engine.command(`DROP DATABASE IF EXISTS ${quoteIdent(database)}`).catch(() => {});
    await engine.close();
    await kafka.close();
    rmSync(project, { recursive: true, force: true });
    if (finalState) {
      o.log(
        `final: ${finalState.stored} distinct events stored, lost ${finalState.lost}, doubled ${finalState.doubled}, quarantined ${finalState.quarantined}`,
      );
    }
    last = finalState;
    loadSummary = { calls: load?.calls ?? 0, failures: load?.failures ?? 0 };
  }
  const lost = last?.lost ?? -1;
  const doubled = last?.doubled ?? -1;
  const result: ChaosResult = {
    mode: o.short ? 'short' : 'full',
    startedAt: new Date(Date.now() - (performance.now() - t0)).toISOString(),
    durationS: Math.round((performance.now() - t0) / 1000),
    eventsProduced: producer.sent,
    duplicatesSent: producer.duplicates,
    distinctEvents: producer.expected.size,
    eventsIngestedUnderFaults: ingestedUnderFaults,
    faults,
    badInputs,
    quarantined: last?.quarantined ?? -1,
    oversizedRefused,
    oversizedTried,
    bigLineStatus,
    fourMb: { status: fourMbStatus, events: fourMbEvents, stored: last?.mStored ?? -1 },
    queries: loadSummary.calls,
    queryFailures: loadSummary.failures,
    slowClients: slowSummary,
    lost,
    doubled,
    ok:
      faults.every((f) => f.ok) &&
      lost === 0 &&
      doubled === 0 &&
      slowSummary.closedByServer === slowSummary.opened,
  };
  return result;
}
