// The chaos run on one back end: continuous Kafka ingestion (with ~5% duplicate deliveries) and a
// query load against a spawned `tally serve --deploy`, while faults are injected into Tally and
// into the run's own ClickHouse server and Kafka broker (restarts, kill -9, SIGSTOP), plus an
// oversized burst of events with bad lines, and slow clients. After each fault the stored state
// is compared with what was produced (deduplicated): every event once, in the log and in the
// materialized snapshot, and every bad line in quarantine.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createEngine, quoteIdent } from '../../src/clickhouse/create-engine.ts';
import type { Engine } from '../../src/clickhouse/engine.ts';
import { createKafkaClient } from '../../src/ingest/kafka-client.ts';
import { writeChaosProject } from './chaos-project.ts';
import { EventProducer } from './event-producer.ts';
import { endpointStateReader, engineStateReader, type LedgerStateReader } from './ledger-state.ts';
import { oversizedBurst } from './oversized-burst.ts';
import type { PrivateClickHouse } from './private-clickhouse.ts';
import type { PrivateKafka } from './private-kafka.ts';
import { QueryLoad } from './query-load.ts';
import { openSlowClients } from './slow-clients.ts';
import { sleep, TallyProcess } from './tally-process.ts';

export type ChaosBackend = 'server' | 'embedded';

export interface ChaosOptions {
  short: boolean;
  backend: ChaosBackend;
  /** The run's own ClickHouse server: needed by the server back end, faulted by it. */
  clickhouse?: PrivateClickHouse;
  /** The run's own Kafka broker, faulted on both back ends. */
  kafka: PrivateKafka;
  /** Where the project (with the embedded engine's data) and Tally's log go. */
  workDir: string;
  log: (line: string) => void;
}

export interface FaultResult {
  fault: string;
  /** How long the fault lasted (ms): for a restart, from the signal until the service answered. */
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

/** One stop and start of a private service. */
export interface ServiceRestart {
  service: 'ClickHouse' | 'Kafka';
  how: 'SIGTERM' | 'kill -9';
  stopMs: number;
  startMs: number;
}

export interface ChaosResult {
  backend: ChaosBackend;
  mode: 'short' | 'full';
  startedAt: string;
  durationS: number;
  /** How the state was read while Tally ran, and at the end. */
  checkedThrough: string;
  /** Embedded: the folder opened directly after the run agreed with Tally's check endpoints. */
  folderCheck?: 'agrees' | 'differs' | 'could not open';
  firstStartMs: number;
  eventsProduced: number;
  duplicatesSent: number;
  distinctEvents: number;
  eventsIngestedUnderFaults: number;
  faults: FaultResult[];
  restarts: ServiceRestart[];
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
  slowClients?: {
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

interface Sum {
  s: number;
  n: number;
}

const SECONDS = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const t0 = performance.now();
  const server = o.backend === 'server';
  if (server && !o.clickhouse) throw new Error('the server back end needs the private ClickHouse');
  // --short keeps every kind of fault but repeats less and pauses for less.
  const plan = o.short
    ? {
        kills: 1,
        clickhouseKills: 1,
        pauseMs: 5_000,
        perTick: 100,
        settleMs: 120_000,
        burst: { events: 20_000, bad: 60 },
        slowClients: server,
      }
    : {
        kills: 5,
        clickhouseKills: 3,
        pauseMs: 20_000,
        perTick: 200,
        settleMs: 150_000,
        burst: { events: 60_000, bad: 240 },
        slowClients: true,
      };
  const stamp = `${Date.now().toString(36)}${process.pid}`;
  const database = `chaos_${stamp}`;
  const topic = `chaos_${o.backend}_${stamp}`;
  mkdirSync(o.workDir, { recursive: true });
  const logFile = join(o.workDir, `tally-${stamp}.log`);
  o.log(
    `chaos ${o.backend} (${o.short ? 'short' : 'full'}): database ${database}, topic ${topic}, Tally log ${logFile}`,
  );

  const kafka = createKafkaClient({ brokers: [o.kafka.brokers], clientId: 'tally-chaos', ssl: false });
  await kafka.ensureTopic(topic, 3);
  const project = writeChaosProject({
    ...(server ? { clickhouseUrl: o.clickhouse?.url } : {}),
    database,
    topic,
    brokers: o.kafka.brokers,
    parent: o.workDir,
  });
  const embeddedPath = join(project, '.tally', 'chdb');
  // The server back end is checked straight on the server, apart from Tally. The embedded
  // engine's folder is Tally's while it runs, so it is checked through Tally's check endpoints,
  // and once more straight on the folder after Tally has stopped (see docs/reliability.md).
  const engine: Engine | undefined = server
    ? await createEngine(
        { url: o.clickhouse?.url, user: 'default', password: '', database, embeddedPath },
        { requestTimeoutMs: 10_000 },
      )
    : undefined;
  const port = 17_000 + Math.floor(Math.random() * 2000);
  const tally = new TallyProcess(project, port, logFile);
  const read: LedgerStateReader = engine ? engineStateReader(engine) : endpointStateReader(() => tally.url);
  const producer = new EventProducer(kafka, topic, plan.perTick);
  const faults: FaultResult[] = [];
  const restarts: ServiceRestart[] = [];
  let expectedQuarantine = 0;
  let badInputs = 0;
  let oversizedTried = 0;
  let oversizedRefused = 0;
  let ingestedUnderFaults = 0;
  let bigLineStatus = 0;
  let fourMb = { status: 0, events: 0 };

  // Damage a fault left behind (its check failed) stays in the tables: later faults are judged
  // on what they add to it, the run's final figures on everything.
  const carried = { lost: 0, doubled: 0, unexpected: 0, quarantined: 0, snapshot: new Map<string, Sum>() };
  const verify = async (reader = read, judged = true) => {
    const st = await reader();
    const want = new Map<string, Sum>();
    for (const e of producer.expected.values()) {
      const w = want.get(e.account) ?? { s: 0, n: 0 };
      w.s += e.amount;
      w.n++;
      want.set(e.account, w);
    }
    // got - want per account, over the accounts of either side.
    const diff = new Map<string, Sum>();
    for (const account of new Set([...want.keys(), ...st.snapshot.keys()])) {
      const g = st.snapshot.get(account) ?? { s: 0, n: 0 };
      const w = want.get(account) ?? { s: 0, n: 0 };
      diff.set(account, { s: g.s - w.s, n: g.n - w.n });
    }
    const base = judged
      ? carried
      : { lost: 0, doubled: 0, unexpected: 0, quarantined: 0, snapshot: new Map() };
    let snapshotMismatches = 0;
    for (const [account, d] of diff) {
      const c = base.snapshot.get(account) ?? { s: 0, n: 0 };
      if (d.s !== c.s || d.n !== c.n) snapshotMismatches++;
    }
    return {
      lost: producer.expected.size - st.distinct - base.lost,
      doubled: st.rows - st.distinct - base.doubled,
      unexpected: st.foreign - base.unexpected,
      snapshotMismatches,
      quarantined: st.quarantined - base.quarantined,
      stored: st.distinct,
      mStored: st.mDistinct,
      diff,
    };
  };
  type Verified = Awaited<ReturnType<typeof verify>>;
  const exact = (v: Verified | undefined): boolean =>
    v !== undefined &&
    v.lost === 0 &&
    v.doubled === 0 &&
    v.unexpected === 0 &&
    v.snapshotMismatches === 0 &&
    v.quarantined === expectedQuarantine;

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
    // More rows than expected never shrink back (a plain MergeTree merges nothing away): once
    // every event is in (and with it the views, written by the same INSERTs), doubled rows or a
    // quarantine above the expectation stop the wait.
    const beyondRepair = (v: Verified | undefined) =>
      v !== undefined && v.lost === 0 && (v.doubled > 0 || v.quarantined > expectedQuarantine);
    while (performance.now() < deadline && !exact(last) && !beyondRepair(last)) {
      await sleep(500);
      last = await verify().catch(() => last);
    }
    const exactAfterMs = performance.now() - endedAt;
    const ok = exact(last);
    const notes = [
      note,
      last && last.quarantined !== expectedQuarantine
        ? `quarantine ${last.quarantined}/${expectedQuarantine}`
        : '',
      last?.unexpected ? `${last.unexpected} rows with ids never produced` : '',
      last ? '' : 'the state could not be read',
    ].filter(Boolean);
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
      ...(notes.length ? { note: notes.join('; ') } : {}),
    };
    faults.push(r);
    if (!ok && last) {
      const raw = await verify(read, false).catch(() => undefined);
      if (raw) {
        Object.assign(carried, {
          lost: raw.lost,
          doubled: raw.doubled,
          unexpected: raw.unexpected,
          quarantined: raw.quarantined - expectedQuarantine,
          snapshot: raw.diff,
        });
      }
    }
    o.log(
      `  ${ok ? 'ok  ' : 'FAIL'} ${fault}: held ${r.heldMs} ms, endpoints back in ${r.endpointRecoveryMs} ms, exact after ${r.exactAfterMs} ms; produced ${r.produced}, lost ${r.lost}, doubled ${r.doubled}, snapshot mismatches ${r.snapshotMismatches}${r.note ? ` (${r.note})` : ''}`,
    );
    if (!ok) o.log('  (the faults after this one are judged on the damage they add to it)');
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

  /** Runs a fault while the producer runs; the events produced meanwhile count as "under faults". */
  const during = async (fault: () => Promise<void>) => {
    await sleep(2000);
    const before = producer.expected.size;
    await fault();
    ingestedUnderFaults += producer.expected.size - before;
  };

  /** Stops a private service (SIGTERM, or kill -9) and starts it again at once. */
  const restart = async (
    name: ServiceRestart['service'],
    svc: PrivateClickHouse | PrivateKafka,
    how: ServiceRestart['how'],
    nth = '',
  ) => {
    const start = performance.now();
    if (how === 'SIGTERM') await svc.stop();
    else await svc.kill9();
    const stopMs = performance.now() - start;
    const startMs = await svc.start();
    restarts.push({ service: name, how, stopMs: Math.round(stopMs), startMs: Math.round(startMs) });
    const ended = performance.now();
    await settle(
      `${name} restart${nth} (${how}; stopped in ${SECONDS(stopMs)}, answering again ${SECONDS(startMs)} after the start)`,
      ended - start,
      ended,
      await untilEndpoint(ended),
    );
  };

  /** SIGSTOP for the plan's pause, then SIGCONT. */
  const pause = async (name: string, p: { pause(): void; resume(): void }) => {
    const start = performance.now();
    p.pause();
    await sleep(plan.pauseMs);
    p.resume();
    const ended = performance.now();
    await settle(
      `${name} paused (SIGSTOP) ${plan.pauseMs / 1000} s`,
      ended - start,
      ended,
      await untilEndpoint(ended),
    );
  };

  let load: QueryLoad | undefined;
  let last: Verified | undefined;
  let firstStartMs = 0;
  let loadSummary = { calls: 0, failures: 0 };
  let folderCheck: ChaosResult['folderCheck'];
  let slowSummary: ChaosResult['slowClients'];
  try {
    tally.start();
    firstStartMs = await tally.waitHealthy();
    o.log(`tally serve --deploy healthy in ${firstStartMs.toFixed(0)} ms (pid ${tally.pid}, ${tally.url})`);
    // Slow clients: opened now, the server must close them by its own timeouts.
    const socketsBefore = tally.openSockets();
    const slow = plan.slowClients ? openSlowClients(port, 20) : undefined;
    if (slow) {
      o.log(
        `  ${slow.count} slow clients opened (a request byte a second); Tally holds ${socketsBefore} sockets`,
      );
    }
    load = new QueryLoad(() => tally.url);
    producer.start();
    await sleep(3000);
    await settle('baseline (no fault)', 0, performance.now(), 0);

    const ch = o.clickhouse;
    if (server && ch) {
      await during(() => restart('ClickHouse', ch, 'SIGTERM'));
      // A crash is cheap to recover from (under a second) and lands at a random point of an
      // insert and its bookkeeping: the full run tries it more than once.
      for (let k = 1; k <= plan.clickhouseKills; k++) {
        await during(() => restart('ClickHouse', ch, 'kill -9', plan.clickhouseKills > 1 ? ` #${k}` : ''));
      }
      await during(() => pause('ClickHouse', ch));
    }
    // --short restarts Kafka once per back end, the two ways split between them (a kill -9
    // costs a log recovery and a consumer session timeout, about 45 s here).
    if (!o.short || server) await during(() => restart('Kafka', o.kafka, 'SIGTERM'));
    if (!o.short || !server) await during(() => restart('Kafka', o.kafka, 'kill -9'));
    await during(() => pause('Kafka', o.kafka));

    // Oversized burst through the events API, with bad lines and duplicates.
    await during(async () => {
      const start = performance.now();
      const b = await oversizedBurst(tally.url, producer, plan.burst);
      badInputs += b.badInputs;
      expectedQuarantine += b.badSent;
      oversizedTried += b.oversizedTried;
      oversizedRefused += b.oversizedRefused;
      bigLineStatus = b.bigLineStatus;
      fourMb = b.fourMb;
      const ended = performance.now();
      await settle(
        `oversized burst: ${b.events} events in ${b.requests} requests, 2 oversized bodies`,
        ended - start,
        ended,
        await untilEndpoint(ended),
        b.refused.length ? `requests not accepted: ${b.refused.join(',')}` : undefined,
      );
    });

    await during(() => pause('Tally', tally));

    if (slow) {
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
    }

    // kill -9 of Tally, restarted at once.
    for (let k = 1; k <= plan.kills; k++) {
      await during(async () => {
        await sleep(Math.random() * 2000);
        const start = performance.now();
        await tally.kill9();
        tally.start();
        const ended = performance.now();
        await settle(`kill -9 of Tally #${k}`, ended - start, ended, await untilEndpoint(ended));
      });
    }
  } finally {
    await producer.pause();
    await load?.stop();
    // The last look while Tally still serves (the embedded back end's check endpoints).
    last = await verify(read, false).catch(() => undefined);
    await tally.stop();
    if (engine) {
      last = await verify(read, false).catch(() => last);
      // A failed run keeps its database for a look (the next run starts a fresh server folder).
      if (faults.every((f) => f.ok) && exact(last)) {
        await engine.command(`DROP DATABASE IF EXISTS ${quoteIdent(database)}`).catch(() => {});
      }
      await engine.close();
    } else {
      // Tally has stopped: the folder is free to open, and this check owes nothing to Tally.
      const folder = await createEngine({ user: 'default', password: '', database, embeddedPath }).catch(
        (err: unknown) => {
          o.log(`  could not open the embedded folder after the run: ${String(err)}`);
          folderCheck = 'could not open';
          return undefined;
        },
      );
      if (folder) {
        const direct = await verify(engineStateReader(folder), false).catch(() => undefined);
        const same =
          direct !== undefined &&
          last !== undefined &&
          direct.stored === last.stored &&
          direct.doubled === last.doubled &&
          direct.snapshotMismatches === last.snapshotMismatches &&
          direct.quarantined === last.quarantined;
        folderCheck = same ? 'agrees' : 'differs';
        if (!same) {
          o.log(
            `  the folder read directly differs from Tally's check endpoints: ${JSON.stringify(direct)} vs ${JSON.stringify(last)}`,
          );
        }
        last = direct ?? last;
        await folder.close();
      }
    }
    await kafka.close();
    if (last) {
      o.log(
        `final: ${last.stored} distinct events stored, lost ${last.lost}, doubled ${last.doubled}, quarantined ${last.quarantined}`,
      );
    }
    loadSummary = { calls: load?.calls ?? 0, failures: load?.failures ?? 0 };
  }
  const lost = last?.lost ?? -1;
  const doubled = last?.doubled ?? -1;
  const result: ChaosResult = {
    backend: o.backend,
    mode: o.short ? 'short' : 'full',
    startedAt: new Date(Date.now() - (performance.now() - t0)).toISOString(),
    durationS: Math.round((performance.now() - t0) / 1000),
    checkedThrough: server
      ? 'queries on the ClickHouse server, apart from Tally'
      : "Tally's check endpoints while it runs; the chDB folder opened directly once Tally has stopped",
    ...(folderCheck ? { folderCheck } : {}),
    firstStartMs: Math.round(firstStartMs),
    eventsProduced: producer.sent,
    duplicatesSent: producer.duplicates,
    distinctEvents: producer.expected.size,
    eventsIngestedUnderFaults: ingestedUnderFaults,
    faults,
    restarts,
    badInputs,
    quarantined: last?.quarantined ?? -1,
    oversizedRefused,
    oversizedTried,
    bigLineStatus,
    fourMb: { ...fourMb, stored: last?.mStored ?? -1 },
    queries: loadSummary.calls,
    queryFailures: loadSummary.failures,
    ...(slowSummary ? { slowClients: slowSummary } : {}),
    lost,
    doubled,
    ok:
      faults.every((f) => f.ok) &&
      exact(last) &&
      folderCheck !== 'differs' &&
      (!slowSummary || slowSummary.closedByServer === slowSummary.opened),
  };
  // A failed run keeps its project (and the embedded data) beside Tally's log for a look.
  if (result.ok) rmSync(project, { recursive: true, force: true });
  return result;
}
