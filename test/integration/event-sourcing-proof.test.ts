/**
 * The proof that the example project is a correct event-sourced product: a seeded random stream
 * (v1 and v2 transactions, duplicates, late and malformed events, subscription lifecycles, shop
 * sessions) goes through the real Kafka into Tally's real ingester, and the endpoints, served by
 * the real HTTP app, answer what an independent fold of the same stream says, now and as of
 * random instants. `SEED=<n> npx vitest run <this file>` replays a run; every failure names it.
 */
import type { Hono } from 'hono';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { runMain } from '../../src/cli/main.ts';
import { applyDeploy } from '../../src/deploy/deploy.ts';
import { type Ingestion, startIngestion } from '../../src/ingest/ingestion.ts';
import type { KafkaClient } from '../../src/ingest/kafka-client.ts';
import { loadProjectOrThrow } from '../../src/project/load-project.ts';
import type { Project } from '../../src/project/model.ts';
import type { TargetDiff } from '../../src/replay/compare-tables.ts';
import { replayPipe } from '../../src/replay/replay.ts';
import { createApp } from '../../src/server/create-app.ts';
import { StateHolder } from '../../src/server/serving-state.ts';
import { forEachBackend } from '../support/backends.ts';
import { captureOutput } from '../support/capture-output.ts';
import {
  dateTimeText,
  type EventStream,
  generateEventStream,
  type StreamMessage,
} from '../support/event-stream.ts';
import { parseCents, StreamModel } from '../support/event-stream-model.ts';
import {
  deleteTopics,
  kafkaConfig,
  newClient,
  produceAll,
  uniqueTopic,
  waitFor,
} from '../support/ingest-kafka.ts';
import { ATTRIBUTION_PIPE, proofProject, switchToLastTouch } from '../support/proof-project.ts';
import { runSeed, SeededRandom } from '../support/seeded-random.ts';
import { removeProjects } from '../unit/project/write-project.ts';

const SEED = runSeed();
const DATASOURCES = ['transactions', 'subscription_events', 'page_events'] as const;
type Source = (typeof DATASOURCES)[number];

afterAll(removeProjects);

/**
 * Reads the state of one thing (an account, a subscription) now (`asOf` undefined) or as of an
 * instant (`YYYY-MM-DD hh:mm:ss`). The proof checks one reader per way of answering: today the
 * endpoints, which fold the raw log for `as_of`; a reader that starts from a periodic snapshot
 * and folds the events after it is checked by the same `checkAsOf`.
 */
export type AsOfReader<K, V> = (key: K, asOf?: string) => Promise<V | undefined>;

/** For each key: now, and 20 instants (some exactly at one of its events, some a second before one). */
function asOfQuestions<K>(
  keys: readonly K[],
  times: (key: K) => number[],
  model: StreamModel,
  rng: SeededRandom,
): Array<{ key: K; asOf?: number }> {
  const asks: Array<{ key: K; asOf?: number }> = [];
  for (const key of keys) {
    asks.push({ key });
    const own = times(key);
    for (let i = 0; i < 20; i++) {
      const roll = rng.next();
      const at =
        roll < 0.25
          ? rng.pick(own)
          : roll < 0.4
            ? rng.pick(own) - 1
            : rng.int(model.stream.from - 86_400, model.stream.to + 86_400);
      asks.push({ key, asOf: at });
    }
  }
  return asks;
}

/** Asks `read` every question and compares with `want`; returns how many were asked. */
async function checkAsOf<K, V>(
  what: string,
  asks: ReadonlyArray<{ key: K; asOf?: number }>,
  read: AsOfReader<K, V>,
  want: (key: K, asOf?: number) => V | undefined,
): Promise<number> {
  const mismatches: string[] = [];
  await inParallel(asks, 8, async ({ key, asOf }) => {
    const got = await read(key, asOf === undefined ? undefined : dateTimeText(asOf));
    const expected = want(key, asOf);
    if (JSON.stringify(got) !== JSON.stringify(expected)) {
      mismatches.push(
        `${what} ${key} as of ${asOf === undefined ? 'now' : dateTimeText(asOf)}: got ${JSON.stringify(got)}, want ${JSON.stringify(expected)}`,
      );
    }
  });
  expect(mismatches.slice(0, 10), `seed ${SEED}: ${mismatches.length} of ${asks.length} differ`).toEqual([]);
  return asks.length;
}

forEachBackend(`event-sourcing proof (seed ${SEED})`, (ctx) => {
  const stream: EventStream = generateEventStream(SEED);
  const model = new StreamModel(stream);
  const topics = Object.fromEntries(DATASOURCES.map((d) => [d, uniqueTopic(`proof_${d}`)])) as Record<
    Source,
    string
  >;
  const dir = proofProject(topics);
  let project: Project;
  let client: KafkaClient;
  let ingestion: Ingestion | undefined;
  let app: Hono;

  const get = async (path: string) => {
    const res = await app.request(path);
    const body = (await res.json()) as { data?: Array<Record<string, unknown>>; error?: string };
    if (res.status !== 200)
      throw new Error(`seed ${SEED}: ${path} answered ${res.status}: ${JSON.stringify(body)}`);
    return body.data!;
  };

  beforeAll(async () => {
    console.log(`[${ctx.backend}] event-sourcing proof, seed ${SEED} (SEED=${SEED} to replay this run)`);
    project = loadProjectOrThrow(dir, { env: {} });
    const deployed = await applyDeploy(project, ctx.engine);
    expect(deployed.ok, deployed.error).toBe(true);
    client = await newClient();
    for (const ds of DATASOURCES) await client.ensureTopic(topics[ds], 2);
    const messages = (ds: Source): StreamMessage[] =>
      ds === 'transactions'
        ? stream.transactions
        : ds === 'subscription_events'
          ? stream.subscriptions
          : stream.pages;
    const send = (ds: Source, part: StreamMessage[]) =>
      produceAll(
        client,
        topics[ds],
        part.map((m) => ({ key: m.key, value: m.value })),
      );
    // Half before the ingester starts (a backlog), half while it runs.
    for (const ds of DATASOURCES) await send(ds, messages(ds).slice(0, messages(ds).length >> 1));
    ingestion = await startIngestion(project, ctx.engine, kafkaConfig(), {
      kafkaClient: client,
      consumer: { sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1000, maxWaitMs: 100 },
      batch: { maxWaitMs: 200 },
    });
    for (const ds of DATASOURCES) await send(ds, messages(ds).slice(messages(ds).length >> 1));
    await waitFor(
      async () => {
        const stats = ingestion!.stats().datasources;
        const behind = DATASOURCES.filter((ds) => {
          const t = stats.find((s) => s.name === ds)!.totals;
          return t.stored + t.duplicates + t.quarantined < messages(ds).length;
        });
        return behind.length === 0 || stats.map((s) => ({ [s.name]: s.totals, error: s.error }));
      },
      60_000,
      `every message ingested (seed ${SEED})`,
    );
    app = createApp({
      state: new StateHolder({ project, engine: ctx.engine, version: 'proof' }),
      tokens: [],
      // The stream is ingested once; the proof reads it for longer than max_staleness.
      staleness: 'report',
    });
  }, 120_000);

  afterAll(async () => {
    await ingestion?.stop();
    await client?.close();
    await deleteTopics(...Object.values(topics));
  });

  it('stores each event once, drops every duplicate, quarantines every malformed event', async () => {
    const stats = ingestion!.stats().datasources;
    for (const ds of DATASOURCES) {
      const t = stats.find((s) => s.name === ds)!.totals;
      expect(
        { stored: t.stored, duplicates: t.duplicates, quarantined: t.quarantined },
        `seed ${SEED}: ${ds}`,
      ).toEqual(model.outcomes[ds]);
    }
    const [tx] = await ctx.engine.rows<{ n: string; u: string; c: string }>(
      'SELECT count() AS n, uniqExact(transaction_id) AS u, toString(sum(amount * 100)) AS c FROM transactions',
    );
    const cents = [...model.accounts.values()].flat().reduce((s, m) => s + m.cents, 0);
    expect([Number(tx!.n), Number(tx!.u), Number(tx!.c)], `seed ${SEED}`).toEqual([
      model.outcomes.transactions.stored,
      model.outcomes.transactions.stored,
      cents,
    ]);
  });

  it('each malformed or unknown-version event is in quarantine, raw, with its reason', async () => {
    for (const [ds, messages] of [
      ['transactions', stream.transactions],
      ['subscription_events', stream.subscriptions],
      ['page_events', stream.pages],
    ] as const) {
      const rows = await ctx.engine.rows<{ raw: string; reason: string; source: string }>(
        `SELECT raw, reason, source FROM ${ds}_quarantine`,
      );
      const byRaw = new Map(rows.map((r) => [r.raw, r]));
      const malformed = messages.filter((m) => m.kind === 'malformed');
      expect(rows.length, `seed ${SEED}: ${ds}_quarantine`).toBe(malformed.length);
      for (const m of malformed) {
        const row = byRaw.get(m.value);
        expect(row, `seed ${SEED}: ${ds} event not in quarantine: ${m.value}`).toBeDefined();
        expect(row!.reason, `seed ${SEED}: ${m.value}`).toMatch(m.reason!);
        expect(row!.source).toBe('kafka');
      }
    }
    // Both kinds of unknown version are there, naming the version seen and the versions known.
    const versions = await ctx.engine.rows<{ reason: string }>(
      "SELECT reason FROM transactions_quarantine WHERE reason LIKE '%unknown event version%' ORDER BY reason",
    );
    expect(new Set(versions.map((v) => v.reason))).toEqual(
      new Set([
        'event: unknown event version "v9" at $.version (known versions: 1, 2)',
        'event: unknown event version 3 at $.version (known versions: 1, 2)',
      ]),
    );
  });

  it('balance of 50 random accounts, now and as of 20 instants each, equals the independent fold', async () => {
    const endpoint: AsOfReader<string, { cents: number; transactions: number }> = async (account, asOf) => {
      const q = new URLSearchParams({ account_id: account, ...(asOf ? { as_of: asOf } : {}) });
      const [row] = await get(`/v0/pipes/balance.json?${q}`);
      return row && { cents: parseCents(String(row.balance)), transactions: Number(row.transactions) };
    };
    const rng = new SeededRandom(SEED + 1);
    const accounts = rng.sample([...model.accounts.keys()], 50);
    const asks = asOfQuestions(accounts, (a) => model.accounts.get(a)!.map((m) => m.at), model, rng);
    expect(await checkAsOf('balance of', asks, endpoint, (a, at) => model.balance(a, at))).toBe(50 * 21);
  }, 60_000);

  it('status of 50 random subscriptions, now (the snapshot) and as of 20 instants each (the log)', async () => {
    const endpoint: AsOfReader<number, { status: unknown; plan: unknown; updated_at: unknown }> = async (
      id,
      asOf,
    ) => {
      const q = new URLSearchParams({ subscription_id: String(id), ...(asOf ? { as_of: asOf } : {}) });
      const [row] = await get(`/v0/pipes/subscription_status.json?${q}`);
      return row && { status: row.status, plan: row.plan, updated_at: row.updated_at };
    };
    const want = (id: number, at?: number) => {
      const s = model.subscription(id, at);
      return s && { status: s.status, plan: s.plan, updated_at: dateTimeText(s.at) };
    };
    const rng = new SeededRandom(SEED + 3);
    const ids = rng.sample([...model.subscriptions.keys()], 50);
    const asks = asOfQuestions(ids, (id) => model.subscriptions.get(id)!.map((c) => c.at), model, rng);
    expect(await checkAsOf('subscription', asks, endpoint, want)).toBe(50 * 21);
  }, 60_000);

  it('every subscription now (the snapshot); active counts now and as of 20 instants, per plan (the log)', async () => {
    const rng = new SeededRandom(SEED + 2);
    const mismatches: string[] = [];
    await inParallel([...model.subscriptions.keys()], 8, async (id) => {
      const [row] = await get(`/v0/pipes/subscription_status.json?subscription_id=${id}`);
      const want = model.subscription(id)!;
      const got = row && { status: row.status, plan: row.plan, updated_at: row.updated_at };
      const expected = { status: want.status, plan: want.plan, updated_at: dateTimeText(want.at) };
      if (JSON.stringify(got) !== JSON.stringify(expected))
        mismatches.push(`${id}: got ${JSON.stringify(got)}, want ${JSON.stringify(expected)}`);
    });
    for (let i = 0; i < 20; i++) {
      const at = rng.int(stream.from - 86_400, stream.to + 86_400);
      const plan = i % 4 === 0 ? rng.pick(['free', 'premium', 'enterprise']) : undefined;
      const q = new URLSearchParams({ as_of: dateTimeText(at), ...(plan ? { plan } : {}) });
      const [row] = await get(`/v0/pipes/active_subscriptions_from_events.json?${q}`);
      const want = model.activeSubscriptions(at, plan);
      if (Number(row?.active_subscriptions) !== want)
        mismatches.push(
          `active as of ${dateTimeText(at)} ${plan ?? ''}: got ${row?.active_subscriptions}, want ${want}`,
        );
    }
    const [now] = await get('/v0/pipes/active_subscriptions.json');
    if (Number(now?.active_subscriptions) !== model.activeSubscriptions())
      mismatches.push(`active now: got ${now?.active_subscriptions}, want ${model.activeSubscriptions()}`);
    expect(mismatches.slice(0, 10), `seed ${SEED}: ${mismatches.length} differ`).toEqual([]);
  }, 60_000);

  it('tally replay after first touch -> last touch reports exactly the sessions the change alters', async () => {
    // The server through the CLI itself; chDB through the function behind it, on this process's
    // engine (the CLI would open the project's own chDB folder, and a process holds one).
    const replay = async (sample: number): Promise<TargetDiff> => {
      if (ctx.backend === 'server') {
        const io = captureOutput();
        const env = {
          TALLY_CLICKHOUSE_URL: inject('clickhouseUrl'),
          TALLY_CLICKHOUSE_DATABASE: ctx.database,
        };
        const argv = ['replay', ATTRIBUTION_PIPE, '--json', '--sample', String(sample), '--project', dir];
        const code = await runMain(argv, { io, env, cwd: dir });
        expect(code, io.stderr()).toBe(0);
        return (JSON.parse(io.stdout()) as { diff: TargetDiff }).diff;
      }
      return (
        await replayPipe(loadProjectOrThrow(dir, { env: {} }), ctx.engine, ATTRIBUTION_PIPE, { sample })
      ).diff;
    };
    const same = await replay(0);
    expect(same.counts, `seed ${SEED}`).toEqual({ added: 0, removed: 0, changed: 0 });
    expect(Number(same.liveKeys)).toBe(model.sessions.size);

    switchToLastTouch(dir);
    const expected = model.attributionChanges();
    expect(expected.length).toBeGreaterThan(10);
    const diff = await replay(100_000);
    expect(diff.key).toEqual(['session_id']);
    expect(diff.counts, `seed ${SEED}`).toEqual({ added: 0, removed: 0, changed: expected.length });
    expect(diff.samples.changed.map((c) => String(c.key.session_id)).sort(), `seed ${SEED}`).toEqual(
      expected,
    );
    for (const c of diff.samples.changed) {
      const views = model.sessions.get(String(c.key.session_id))!;
      expect([c.live?.attributed_url, c.replayed?.attributed_url]).toEqual([
        views[0]!.url,
        views[views.length - 1]!.url,
      ]);
    }
  }, 60_000);
});

/** Runs `work` over `items`, `n` at a time. */
async function inParallel<T>(
  items: readonly T[],
  n: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}
