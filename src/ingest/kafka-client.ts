/**
 * The one module that knows the Kafka client library (kafkajs). Ingestion sees a consumer that
 * hands over batches with manual offset control, and a producer with acks=all; swapping the
 * library means rewriting this file only.
 */

import { createRequire } from 'node:module';
import type { Admin, Consumer, ITopicConfig, Kafka, KafkaConfig as KafkajsConfig, Producer } from 'kafkajs';
import type { KafkaConfig } from '../config/config.ts';
import { INGEST_DEFAULTS } from '../config/ingest-defaults.ts';
import { TallyError } from '../errors.ts';
import { settledWithin } from '../util/settled-within.ts';
import { FetchBudget, type FetchSizes } from './fetch-budget.ts';
import { registerKafkaCodecs } from './kafka-codecs.ts';
import { oauthBearerAuthenticator } from './oauth-bearer-authenticator.ts';
import { OAuthTokenSource, REAUTH_THRESHOLD_MS, SHORTEST_USABLE_MS } from './oauth-token-source.ts';
import { waitForTopicLeaders } from './topic-leaders.ts';

/** A message as the client decoded it (not copied: one object fewer per message). */
export interface ConsumedMessage {
  /** The offset in decimal. */
  offset: string;
  value: Buffer | null;
  key: Buffer | null;
  /** Epoch milliseconds in decimal. */
  timestamp: string;
  /** The client's headers; decoded on demand by `messageHeaders` (most data sources skip them). */
  headers?: unknown;
}

/** A message's headers as text. */
export function messageHeaders(m: ConsumedMessage): Record<string, string> {
  return headersOf(m.headers as Record<string, unknown> | undefined);
}

export interface ConsumedBatch {
  topic: string;
  partition: number;
  /** Offset of the next message the partition will get (its end). */
  highWatermark: number;
  firstOffset: number;
  lastOffset: number;
  messages: ConsumedMessage[];
}

/** What a batch handler may do with the consumer. */
export interface BatchControl {
  /** Keeps the group membership alive; throws when the group is rebalancing (see isRebalance). */
  heartbeat(): Promise<void>;
  /** Marks everything up to `offset` as processed, so the next fetch starts after it. */
  resolveOffset(offset: number): void;
  /** Fetches this partition from `offset` next (the rest of this batch is not delivered). */
  seek(offset: number): void;
}

export interface ConsumerOptions {
  groupId: string;
  topic: string;
  fromBeginning: boolean;
  /** Called for each batch; several partitions concurrently; the next batch of a partition waits. */
  onBatch: (batch: ConsumedBatch, ctl: BatchControl) => Promise<void>;
  /** Called after each (re)join with this member's partitions of `topic`. */
  onAssign?: (partitions: number[]) => void;
  /**
   * The consumer crashed. `restarts`: kafkajs starts it again by itself (a retriable error);
   * otherwise it has stopped for good (a refused authentication, say) and it is up to the caller.
   */
  onCrash?: (error: Error, restarts: boolean) => void;
  /**
   * Awaited before the member (re)joins or leaves the group, so that what it still holds (a
   * flush in flight) is settled before any of its partitions can move to another member.
   */
  beforeRejoin?: () => Promise<void>;
  /** Called once that join (or leave) is over, whether it worked or failed. */
  afterRejoin?: () => void;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  rebalanceTimeoutMs?: number;
  /** Fetch sizes: the broker waits up to maxWaitMs for minBytes, and answers at most maxBytes. */
  minBytes?: number;
  maxBytes?: number;
  maxBytesPerPartition?: number;
  maxWaitMs?: number;
}

export interface GroupConsumer {
  /** Commits `offset` (the next offset to read) for a partition; failures (rebalance) are ignored. */
  commit(partition: number, offset: number): Promise<void>;
  /** Finishes the batches in flight (the handlers decide how), leaves the group, disconnects. */
  stop(): Promise<void>;
  /** What the next fetch asks for, shrunk by the compression seen (fetch-budget.ts). */
  fetchSizes(): FetchSizes;
}

export interface OutgoingMessage {
  key: string | null;
  value: string;
}

export interface KafkaClient {
  consume(opts: ConsumerOptions): Promise<GroupConsumer>;
  /** Sends and resolves once every in-sync replica has the messages (acks=all). */
  produce(topic: string, messages: readonly OutgoingMessage[]): Promise<void>;
  /** Creates the topic when missing (tests, dev). */
  ensureTopic(topic: string, partitions: number): Promise<void>;
  /** The topics the brokers have. */
  topics(): Promise<string[]>;
  /**
   * How far `groupId` is behind the end of each partition of `topic`, from the broker: the
   * offset the group committed (Tally commits after ClickHouse has the rows) against the end.
   */
  groupLag(groupId: string, topic: string, opts?: { fromBeginning?: boolean }): Promise<PartitionLag[]>;
  close(): Promise<void>;
}

export interface PartitionLag {
  partition: number;
  /** The partition's end: the offset its next message will get. */
  end: number;
  /** The group's committed offset (the next to read); when none, where the group will start. */
  committed: number;
  lag: number;
}

export type KafkaLog = (entry: Record<string, unknown>) => void;

/** Most bytes per send, well below a broker's default message.max.bytes (1 MiB) per batch. */
const MAX_SEND_BYTES = 768 * 1024;
/** Largest message the events API sends (the broker default, less the batch overhead). */
const MAX_MESSAGE_BYTES = 1_000_000;

/**
 * The messages in sends of at most MAX_SEND_BYTES: a broker refuses a partition's record batch
 * above message.max.bytes (1 MiB by default), and kafkajs puts a send's messages for one partition
 * in one batch. Throws `event-too-large` for any message above MAX_MESSAGE_BYTES, before slicing.
 */
export function sendSlices(messages: readonly OutgoingMessage[]): OutgoingMessage[][] {
  const sizes = messages.map((m) => {
    const n = Buffer.byteLength(m.value) + (m.key ? Buffer.byteLength(m.key) : 0) + 64;
    if (n > MAX_MESSAGE_BYTES) {
      throw new TallyError(
        'event-too-large',
        `an event of ${n} bytes is larger than a Kafka message may be (${MAX_MESSAGE_BYTES} bytes)`,
      );
    }
    return n;
  });
  const slices: OutgoingMessage[][] = [];
  let slice: OutgoingMessage[] = [];
  let size = 0;
  messages.forEach((m, i) => {
    const n = sizes[i]!;
    if (size + n > MAX_SEND_BYTES && slice.length > 0) {
      slices.push(slice);
      slice = [];
      size = 0;
    }
    slice.push({ key: m.key, value: m.value });
    size += n;
  });
  if (slice.length > 0) slices.push(slice);
  return slices;
}

/**
 * Answers kafkajs retries as a matter of course: "the group is rebalancing" (a member joined or
 * left), and a group coordinator not ready yet (a broker that has just started, whose offsets
 * topic is still being made or loaded). Each is the group doing its job; a consumer that gives
 * up on one anyway is logged as its crash, an error.
 */
const ROUTINE_NOTICE =
  /group is rebalancing|REBALANCE_IN_PROGRESS|coordinator is not available|coordinator is loading|not the correct coordinator/;

/** True for the errors heartbeat() throws when the group is rebalancing. */
export function isRebalance(err: unknown): boolean {
  const t = (err as { type?: string })?.type;
  return t === 'REBALANCE_IN_PROGRESS' || t === 'NOT_COORDINATOR_FOR_GROUP' || t === 'ILLEGAL_GENERATION';
}

/** kafkajs, imported on first use (with the codecs it lacks): it takes ~150 ms, and most commands never talk to Kafka. */
let kafkajs: Promise<typeof import('kafkajs')> | undefined;

const DEFAULT_SESSION_TIMEOUT_MS = 10_000;

export function createKafkaClient(config: KafkaConfig, log: KafkaLog = () => {}): KafkaClient {
  // OAUTHBEARER: one token source for the client's connections, refreshed until close().
  const tokens =
    config.sasl?.mechanism === 'oauthbearer'
      ? new OAuthTokenSource(config.sasl, Date.now, (lifetimeMs) =>
          log({
            level: 'warn',
            msg: `the OAuth token endpoint gives tokens of ${(lifetimeMs / 1000).toFixed(1)} s: under ${SHORTEST_USABLE_MS / 1000} s, kafkajs re-authenticates connections before every request and the brokers refuse some (ILLEGAL_SASL_STATE), so consumers restart often; give the client longer-lived tokens`,
          }),
        )
      : undefined;
  let created: Promise<Kafka> | undefined;
  const kafka = () => {
    kafkajs ??= import('kafkajs').then((k) => {
      registerKafkaCodecs();
      return k;
    });
    created ??= kafkajs.then((k) => new k.Kafka(kafkajsConfig(k.logLevel, config, log, tokens)));
    return created;
  };
  let producer: Promise<Producer> | undefined;
  let admin: Promise<Admin> | undefined;
  const consumers = new Set<Consumer>();
  const connectedAdmin = () => {
    admin ??= (async () => {
      const a = (await kafka()).admin();
      await a.connect();
      return a;
    })().catch((err) => {
      admin = undefined; // the next call tries again
      throw err;
    });
    return admin;
  };

  let closed = false;
  // A missing topic is said at once: consuming, producing to or asking offsets of one, kafkajs
  // retries its metadata for many seconds (logging each try) and keeps its connections meanwhile.
  // A topic seen once is not asked about again.
  const knownTopics = new Set<string>();
  const requireTopic = async (topic: string) => {
    if (knownTopics.has(topic)) return;
    if (!(await (await connectedAdmin()).listTopics()).includes(topic))
      throw missingTopic(topic, config.brokers);
    knownTopics.add(topic);
  };
  return {
    async consume(opts) {
      await requireTopic(opts.topic);
      const sizes = {
        maxBytes: opts.maxBytes ?? INGEST_DEFAULTS.fetchBytes,
        maxBytesPerPartition: opts.maxBytesPerPartition ?? INGEST_DEFAULTS.fetchPartitionBytes,
      };
      const consumer = (await kafka()).consumer({
        groupId: opts.groupId,
        // 10 s (kafkajs: 30 s): a crashed member's partitions move a third as late; heartbeats
        // go every 3 s, also while a flush waits on ClickHouse (kafka-ingester.ts).
        sessionTimeout: opts.sessionTimeoutMs ?? config.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS,
        heartbeatInterval: opts.heartbeatIntervalMs ?? 3_000,
        rebalanceTimeout: opts.rebalanceTimeoutMs ?? 60_000,
        minBytes: opts.minBytes ?? INGEST_DEFAULTS.fetchMinBytes,
        // A fetch is what the ingester holds in memory at most (plus the flush in flight); the
        // sizes follow the budget once the group is joined (bindFetchBudget).
        ...sizes,
        maxWaitTimeInMs: opts.maxWaitMs ?? INGEST_DEFAULTS.fetchWaitMs,
        allowAutoTopicCreation: false,
      });
      consumers.add(consumer);
      const [budget, unbudget] = shareFetchBudget(opts.groupId, opts.topic, () => new FetchBudget(sizes));
      const hooked = opts.beforeRejoin
        ? holdRejoins(opts.groupId, { before: opts.beforeRejoin, after: opts.afterRejoin ?? (() => {}) })
        : () => {};
      const unhook = () => {
        hooked();
        unbudget();
      };
      const { GROUP_JOIN, CRASH } = consumer.events;
      consumer.on(GROUP_JOIN, (e) => {
        const assigned = (e.payload.memberAssignment as Record<string, number[]>)[opts.topic] ?? [];
        opts.onAssign?.([...assigned]);
      });
      consumer.on(CRASH, (e) => opts.onCrash?.(e.payload.error, e.payload.restart));
      try {
        await consumer.connect();
        await consumer.subscribe({ topics: [opts.topic], fromBeginning: opts.fromBeginning });
        // Closed while connecting: this consumer would outlive the client.
        if (closed) throw new Error('the Kafka client was closed');
        await startConsumer(consumer, opts, budget);
      } catch (err) {
        unhook();
        consumers.delete(consumer);
        await consumer.disconnect().catch(() => {});
        throw err;
      }
      return {
        async commit(partition, offset) {
          try {
            await consumer.commitOffsets([{ topic: opts.topic, partition, offset: String(offset) }]);
          } catch (err) {
            log({
              level: 'debug',
              msg: 'kafka commit skipped',
              topic: opts.topic,
              partition,
              error: String((err as Error).message),
            });
          }
        },
        async stop() {
          try {
            await consumer.stop();
          } finally {
            unhook();
            await consumer.disconnect().catch(() => {});
            consumers.delete(consumer);
          }
        },
        fetchSizes: () => budget.sizes(),
      };
    },

    async produce(topic, messages) {
      // Every event is checked before anything is sent: a refusal means nothing was produced.
      const slices = sendSlices(messages);
      await requireTopic(topic);
      producer ??= (async () => {
        const p = (await kafka()).producer({
          idempotent: true,
          maxInFlightRequests: 1,
          allowAutoTopicCreation: false,
        });
        await p.connect();
        return p;
      })().catch((err) => {
        producer = undefined;
        throw err;
      });
      const p = await producer;
      for (const slice of slices) await p.send({ topic, acks: -1, messages: slice });
    },

    async ensureTopic(topic, partitions) {
      const admin = (await kafka()).admin();
      await admin.connect();
      try {
        if (!(await admin.listTopics()).includes(topic)) {
          await createTopicsReady(admin, [{ topic, numPartitions: partitions }]);
        }
      } finally {
        await admin.disconnect();
      }
    },

    async groupLag(groupId, topic, opts = {}) {
      await requireTopic(topic);
      const a = await connectedAdmin();
      const [ends, committed] = await Promise.all([
        a.fetchTopicOffsets(topic),
        a.fetchOffsets({ groupId, topics: [topic] }),
      ]);
      const done = new Map(
        (committed.find((t) => t.topic === topic)?.partitions ?? []).map((p) => [
          p.partition,
          Number(p.offset),
        ]),
      );
      return ends
        .map((e) => {
          const end = Number(e.high);
          // -1: nothing committed yet; the group starts at the partition's start or its end.
          const at = done.get(e.partition) ?? -1;
          const from = at >= 0 ? at : (opts.fromBeginning ?? true) ? Number(e.low) : end;
          return { partition: e.partition, end, committed: from, lag: Math.max(0, end - from) };
        })
        .sort((x, y) => x.partition - y.partition);
    },

    async topics() {
      return (await connectedAdmin()).listTopics();
    },

    async close() {
      closed = true;
      tokens?.close();
      for (const c of consumers) await c.disconnect().catch(() => {});
      consumers.clear();
      if (admin) {
        // Not awaited: a connect still retrying an unreachable broker would hold close() for
        // the client's whole retry budget; it disconnects when it settles.
        void admin.then((a) => a.disconnect()).catch(() => {});
        admin = undefined;
      }
      if (producer) {
        const p = await producer.catch(() => undefined);
        producer = undefined;
        await p?.disconnect().catch(() => {});
      }
    },
  };
}

function missingTopic(topic: string, brokers: readonly string[]): TallyError {
  return new TallyError(
    'kafka-topic-missing',
    `Kafka topic \`${topic}\` does not exist on ${brokers.join(', ')} (Tally does not create topics it consumes); it is consumed once it exists`,
  );
}

/**
 * Hooks awaited before a consumer of the group joins or leaves it, per group id. Consumers of one
 * group in one process (data sources sharing `kafka.group`, or tests) hand off together: a join
 * of one drops what the others have parsed too, which they fetch again (see the ingester's
 * `rewind`), so it costs work, not rows.
 *
 * kafkajs has no awaited hook before a rebalance hands partitions over: a member rejoins as soon
 * as its batch handlers have returned, and leaves the group when it crashes. So its group join
 * and leave (`ConsumerGroup.joinAndSync` and `leave`, kafkajs 2.x, checked at first use) are
 * wrapped, once per process, to run these first. A held join holds the whole group: in Kafka's
 * group protocol a rebalance completes only when every member has joined again (or has missed
 * the rebalance timeout, `rebalanceTimeoutMs`), so no partition moves until the hooks have
 * settled. Meanwhile the member heartbeats, which keeps its session alive through the wait.
 */
interface RejoinHook {
  before: () => Promise<void>;
  after: () => void;
}

const rejoinHooks = new Map<string, Set<RejoinHook>>();
let joinWrapped = false;

interface KafkajsConsumerGroup {
  groupId: string;
  topics?: string[];
  maxBytes?: number;
  maxBytesPerPartition?: number;
  heartbeat(opts: { interval: number }): Promise<void>;
  joinAndSync(): Promise<unknown>;
  leave(): Promise<unknown>;
}

function holdRejoins(groupId: string, hook: RejoinHook): () => void {
  wrapGroupJoin();
  const hooks = rejoinHooks.get(groupId) ?? new Set();
  rejoinHooks.set(groupId, hooks);
  hooks.add(hook);
  return () => {
    hooks.delete(hook);
    if (hooks.size === 0 && rejoinHooks.get(groupId) === hooks) rejoinHooks.delete(groupId);
  };
}

function wrapGroupJoin(): void {
  if (joinWrapped) return;
  const require = createRequire(import.meta.url);
  const { version } = require('kafkajs/package.json') as { version: string };
  const group = require('kafkajs/src/consumer/consumerGroup.js') as { prototype: KafkajsConsumerGroup };
  if (!version.startsWith('2.'))
    throw new Error(
      `kafkajs ${version}: Tally wraps the group join of kafkajs 2.x and needs that major version`,
    );
  for (const method of ['joinAndSync', 'leave'] as const) {
    const original = group.prototype[method];
    if (typeof original !== 'function')
      throw new Error(`kafkajs ${version} has no ConsumerGroup.${method}, which Tally wraps (kafkajs 2.x)`);
    group.prototype[method] = async function (this: KafkajsConsumerGroup) {
      if (method === 'joinAndSync') bindFetchBudget(this);
      const hooks = [...(rejoinHooks.get(this.groupId) ?? [])];
      try {
        await runHooks(this, hooks);
        return await original.call(this);
      } finally {
        for (const h of hooks) h.after();
      }
    };
  }
  joinWrapped = true;
}

async function runHooks(group: KafkajsConsumerGroup, hooks: RejoinHook[]): Promise<void> {
  if (hooks.length === 0) return;
  const all = Promise.allSettled(hooks.map((h) => h.before()));
  while (!(await settledWithin(all, REJOIN_HEARTBEAT_MS))) {
    await group.heartbeat({ interval: 0 }).catch(() => {});
  }
}

/**
 * The fetch sizes of each consumer, per group and topic: kafkajs reads `maxBytes` and
 * `maxBytesPerPartition` from its ConsumerGroup at every fetch, fixed at creation; at each join
 * they become the budget's live values, so that a compressed topic's fetches shrink.
 */
const fetchBudgets = new Map<string, { budget: FetchBudget; users: number }>();

/**
 * The budget of a consumer of `topic` in `groupId`: consumers of the same group and topic in
 * one process (tests, a second instance in-process) share one, which all of them measure and
 * follow. Returns it and its release.
 */
function shareFetchBudget(
  groupId: string,
  topic: string,
  make: () => FetchBudget,
): [FetchBudget, () => void] {
  wrapGroupJoin();
  const key = `${groupId}\u0000${topic}`;
  const shared = fetchBudgets.get(key) ?? { budget: make(), users: 0 };
  shared.users++;
  fetchBudgets.set(key, shared);
  let released = false;
  return [
    shared.budget,
    () => {
      if (released) return;
      released = true;
      if (--shared.users === 0 && fetchBudgets.get(key) === shared) fetchBudgets.delete(key);
    },
  ];
}

function bindFetchBudget(group: KafkajsConsumerGroup): void {
  const budget = fetchBudgets.get(`${group.groupId}\u0000${group.topics?.[0] ?? ''}`)?.budget;
  // Another kafkajs 2.x whose group keeps these elsewhere: fetches keep their first sizes.
  if (!budget || typeof group.maxBytes !== 'number' || typeof group.maxBytesPerPartition !== 'number') return;
  Object.defineProperty(group, 'maxBytes', {
    configurable: true,
    enumerable: true,
    get: () => budget.maxBytes,
  });
  Object.defineProperty(group, 'maxBytesPerPartition', {
    configurable: true,
    enumerable: true,
    get: () => budget.askPerPartition(),
  });
}

/** Heartbeats while a join is held: well under any session timeout (6 s at the least). */
const REJOIN_HEARTBEAT_MS = 1000;

/** Runs a subscribed consumer: every batch to `opts.onBatch`, offsets resolved and committed by it. */
function startConsumer(consumer: Consumer, opts: ConsumerOptions, budget: FetchBudget): Promise<void> {
  return consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    // Every partition of a fetch is handled at once, so one insert can carry them all.
    partitionsConsumedConcurrently: 256,
    eachBatch: async ({ batch, heartbeat, resolveOffset }) => {
      const messages: ConsumedMessage[] = batch.messages;
      // Cut by the fetch's size when the partition had more than the batch holds; a batch that
      // reached the end (a consumer caught up) is not measured at all.
      if (Number(batch.lastOffset()) + 1 < Number(batch.highWatermark)) {
        const { bytes, recordBatches } = measure(messages);
        budget.observe(bytes, true, recordBatches);
      }
      await opts.onBatch(
        {
          topic: batch.topic,
          partition: batch.partition,
          highWatermark: Number(batch.highWatermark),
          firstOffset: Number(batch.firstOffset() ?? messages[0]?.offset ?? 0),
          lastOffset: Number(batch.lastOffset()),
          messages,
        },
        {
          heartbeat,
          resolveOffset: (offset) => resolveOffset(String(offset)),
          seek: (offset) =>
            consumer.seek({ topic: batch.topic, partition: batch.partition, offset: String(offset) }),
        },
      );
    },
  });
}

/**
 * kafkajs's client settings for a project's `kafka:` (brokers, TLS, SASL; logs into `log`).
 * OAUTHBEARER takes its tokens from `tokens` (a source of its own when not given: a short-lived
 * client, whose background refresh does not hold the process).
 */
export function kafkajsConfig(
  logLevel: typeof import('kafkajs').logLevel,
  config: KafkaConfig,
  log: KafkaLog,
  tokens?: OAuthTokenSource,
): KafkajsConfig {
  const base: KafkajsConfig = {
    clientId: config.clientId,
    brokers: config.brokers,
    ssl: config.ssl,
    logLevel: logLevel.WARN,
    // kafkajs logs through our structured log, not the console.
    logCreator:
      () =>
      ({ level, log: entry }) => {
        const { message, ...rest } = entry as { message: string } & Record<string, unknown>;
        // kafkajs logs the answer that tells of a rebalance, or of a coordinator not ready on a
        // broker just started, as an error, which read as a failure in every dev session.
        const routine = message.startsWith('Response ') && ROUTINE_NOTICE.test(String(rest.error ?? ''));
        log({
          level: routine ? 'info' : level <= logLevel.ERROR ? 'error' : 'warn',
          msg: `kafka: ${message}`,
          ...rest,
        });
      },
  };
  const sasl = config.sasl;
  if (sasl?.mechanism === 'oauthbearer') {
    const source = tokens ?? new OAuthTokenSource(sasl);
    base.reauthenticationThreshold = REAUTH_THRESHOLD_MS;
    base.sasl = {
      mechanism: 'oauthbearer',
      authenticationProvider: oauthBearerAuthenticator(() => source.token()),
    };
  } else if (sasl) {
    const { mechanism, username, password } = sasl;
    base.sasl =
      mechanism === 'plain'
        ? { mechanism: 'plain', username, password }
        : mechanism === 'scram-sha-256'
          ? { mechanism: 'scram-sha-256', username, password }
          : { mechanism: 'scram-sha-512', username, password };
  }
  return base;
}

/**
 * The bytes of a batch's records once decoded (keys and values), and how many of the
 * producer's record batches they came in (kafkajs gives the records of one the same context).
 */
function measure(messages: readonly ConsumedMessage[]): { bytes: number; recordBatches: number } {
  let bytes = 0;
  let recordBatches = 0;
  let context: unknown;
  for (const m of messages) {
    bytes += (m.value?.length ?? 0) + (m.key?.length ?? 0);
    const c = (m as { batchContext?: unknown }).batchContext;
    if (c !== context || c === undefined) {
      recordBatches++;
      context = c;
    }
  }
  return { bytes, recordBatches };
}

function headersOf(h: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v.map((x) => String(x)).join(',') : String(v);
  }
  return out;
}

/**
 * Creates `topics` (those that exist are left as they are) and waits until each has its leaders
 * (topic-leaders.ts: kafkajs's own wait gives up on UNKNOWN_TOPIC_OR_PARTITION).
 */
export async function createTopicsReady(admin: Admin, topics: ITopicConfig[]): Promise<void> {
  // kafkajs's own wait for leaders gives up on UNKNOWN_TOPIC_OR_PARTITION, which a broker that
  // has just started answers for a topic it created a moment ago (seen in CI): ours waits it out.
  await admin.createTopics({ topics, waitForLeaders: false });
  for (const { topic } of topics) {
    await waitForTopicLeaders(topic, async () =>
      (await admin.fetchTopicMetadata({ topics: [topic] })).topics.find((t) => t.name === topic),
    );
  }
}
