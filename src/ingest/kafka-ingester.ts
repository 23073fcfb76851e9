/**
 * Consumes one data source's Kafka topic into its sink, in a consumer group of its own.
 *
 * A handler for a fetched batch parses it, adds it to the batcher and returns, unless a whole
 * flush (`flush_rows` or `flush_bytes`) is already waiting, in which case it first waits for the
 * flush in flight; kafkajs then fetches the next batch, which is parsed while the flush is in
 * flight (fetch-ahead). Offsets are committed once a batch's rows are stored. Memory held: the
 * flush in flight, at most one flush and one fetch parsed, and the fetch being read.
 *
 * No partition changes hands while its rows are in flight: before the member (re)joins the group
 * (kafkajs does so once the handlers have returned) `handOff` runs and is awaited (see
 * kafka-client.ts): it drops the rows not yet flushing (Kafka delivers them again) and lets the
 * flush in flight finish, or after `revokeGraceMs` abandons it. The rebalance cannot complete
 * without this member, so the next owner reads ClickHouse's marks only after that. While
 * ClickHouse is down the flush retries with backoff, the handlers keep the membership alive with
 * heartbeats, and nothing new is fetched: consumption pauses and resumes by itself.
 *
 * Where to start is ClickHouse's decision, not the group's: on the first batch of a partition
 * after each (re)join, the handler seeks to the offset after the last completed flush recorded in
 * `tally_ingest_offsets` when the group's offset differs.
 */
import { isUtf8 } from 'node:buffer';
import { setImmediate as yieldNow } from 'node:timers/promises';
import { engineMessage } from '../clickhouse/engine-error.ts';
import { settledWithin } from '../util/settled-within.ts';
import { firstInvalidUtf8 } from '../util/utf8-offset.ts';
import { Batcher, type BatcherOptions } from './batcher.ts';
import {
  type BatchOutcome,
  batchLines,
  type DatasourceSink,
  FencedError,
  type IncomingBatch,
  type IncomingEvent,
} from './datasource-sink.ts';
import type { FetchSizes } from './fetch-budget.ts';
import { limitHeapGrowth } from './heap-growth.ts';
import { backoffMs } from './insert-failure.ts';
import {
  type BatchControl,
  type ConsumedBatch,
  type ConsumerOptions,
  type GroupConsumer,
  isRebalance,
  type KafkaClient,
  messageHeaders,
} from './kafka-client.ts';
import { withKafkaHint } from './kafka-security-hint.ts';
import type { EventMeta, ParsedLine } from './row-parser.ts';

/** How often a consumer that cannot start logs the same failure again (/health has it all along). */
const START_FAILURE_REMINDER_MS = 5 * 60_000;

export type ConsumerTuning = Pick<
  ConsumerOptions,
  | 'sessionTimeoutMs'
  | 'heartbeatIntervalMs'
  | 'rebalanceTimeoutMs'
  | 'minBytes'
  | 'maxBytes'
  | 'maxBytesPerPartition'
  | 'maxWaitMs'
>;

export interface KafkaIngesterOptions {
  group: string;
  batch: Partial<BatcherOptions>;
  consumer: ConsumerTuning;
  /** Messages parsed between yields to the event loop (so a flush can be sent meanwhile). */
  parseChunk?: number;
  /** On a rebalance, how long to wait for a flush in flight before abandoning it. */
  revokeGraceMs?: number;
  log: (entry: Record<string, unknown>) => void;
}

export interface PartitionStats {
  partition: number;
  /** Next offset to ingest. */
  position: number;
  /** The partition's end when last fetched. */
  highWatermark: number;
  lag: number;
  lastBatchAt?: number;
}

export interface KafkaIngesterStats {
  datasource: string;
  topic: string;
  group: string;
  state: 'starting' | 'running' | 'retrying' | 'stopping' | 'stopped';
  assigned: number[];
  partitions: PartitionStats[];
  /** Rows and bytes parsed and waiting for ClickHouse. */
  buffered: { rows: number; bytes: number; inFlightBytes: number };
  /** The sizes the consumer's fetches ask for, and the topic's compression as seen. */
  fetch?: FetchSizes;
  error?: string;
}

class Revoked extends Error {}

export class KafkaIngester {
  private readonly batcher: Batcher<IncomingBatch, BatchOutcome>;
  private controller = new AbortController();
  private consumer: GroupConsumer | undefined;
  private state: KafkaIngesterStats['state'] = 'starting';
  private error: string | undefined;
  private assigned: number[] = [];
  /** Partitions whose start offset was checked against ClickHouse since the last (re)join. */
  private readonly checked = new Set<number>();
  private readonly partitions = new Map<number, PartitionStats>();
  private parsing = 0;
  private stopping = false;
  /** While stopping: the drain of what was parsed (handlers called meanwhile wait for it). */
  private draining: Promise<void> | undefined;
  /** Rows the stop's grace left unstored (a failing flush told to stop retrying), to say so. */
  private abandonedRows = 0;
  /** A join or leave is under way (see handOff): handlers add nothing. */
  private revoking = false;
  /** Per partition, the first offset dropped (a hand-off) that must be fetched again. */
  private readonly rewind = new Map<number, number>();
  private retryTimer: NodeJS.Timeout | undefined;
  /** The start failure last logged, and when: the same one again is logged every few minutes only. */
  private startFailureLogged: { error: string; at: number } | undefined;
  private readonly topic: string;

  constructor(
    private readonly sink: DatasourceSink,
    private readonly client: KafkaClient,
    private readonly opts: KafkaIngesterOptions,
  ) {
    const kafka = sink.datasource.kafka;
    if (!kafka) throw new Error(`data source ${sink.datasource.name} has no kafka source`);
    this.topic = kafka.topic;
    this.batcher = new Batcher((batches) => this.flush(batches), opts.batch);
  }

  /** Joins the group and starts consuming; retries in the background when Kafka is not ready. */
  start(): Promise<void> {
    limitHeapGrowth();
    return this.connect(0);
  }

  stats(): KafkaIngesterStats {
    return {
      datasource: this.sink.datasource.name,
      topic: this.topic,
      group: this.opts.group,
      state: this.state,
      assigned: [...this.assigned],
      partitions: [...this.partitions.values()]
        .sort((a, b) => a.partition - b.partition)
        .map((p) => ({ ...p })),
      buffered: this.batcher.buffered,
      ...(this.consumer ? { fetch: this.consumer.fetchSizes() } : {}),
      ...(this.error ? { error: this.error } : {}),
    };
  }

  /**
   * Stops: what was parsed is stored (or, after `graceMs` of ClickHouse failing, abandoned to be
   * delivered again), offsets of what is in ClickHouse are committed, then the group is left.
   */
  async stop(graceMs = 30_000): Promise<void> {
    this.stopping = true;
    this.state = 'stopping';
    clearTimeout(this.retryTimer);
    const timer = setTimeout(() => this.controller.abort(), graceMs);
    try {
      // What was parsed is stored while the group still holds its partitions; then it is left.
      this.draining = this.batcher.drain();
      await this.draining;
      if (this.abandonedRows > 0) {
        // Nothing is lost (the offsets were not committed), but an operator watching a stop take
        // the whole grace should learn why, and that the next start reads these rows again.
        this.opts.log({
          level: 'warn',
          msg: `stopping: the flush in flight was abandoned after ${Math.round(graceMs / 1000)} s of ClickHouse failing; its rows are not stored, and are read again from Kafka at the next start`,
          datasource: this.sink.datasource.name,
          topic: this.topic,
          rows: this.abandonedRows,
          ...(this.sink.totals?.lastError ? { error: this.sink.totals.lastError } : {}),
        });
      }
      await this.consumer?.stop();
    } finally {
      clearTimeout(timer);
      this.batcher.abandon(new FencedError());
      this.state = 'stopped';
    }
  }

  // -------------------------------------------------------------------------------------------

  private async connect(attempt: number): Promise<void> {
    if (this.stopping) return;
    const kafka = this.sink.datasource.kafka!;
    try {
      this.consumer = await this.client.consume({
        groupId: this.opts.group,
        topic: this.topic,
        fromBeginning: kafka.start === 'earliest',
        onBatch: (batch, ctl) => this.onBatch(batch, ctl),
        onAssign: (partitions) => this.onAssign(partitions),
        beforeRejoin: () => this.handOff(),
        afterRejoin: () => {
          this.revoking = false;
        },
        onCrash: (err, restarts) => {
          this.error = `consumer crashed: ${withKafkaHint(err)}`;
          this.opts.log({
            level: 'error',
            msg: restarts
              ? 'kafka consumer crashed (it restarts)'
              : 'kafka consumer crashed and kafkajs does not restart it: reconnecting',
            datasource: this.sink.datasource.name,
            error: this.error,
          });
          if (!restarts) void this.reconnectAfterCrash();
        },
        ...this.opts.consumer,
      });
      this.state = 'running';
      this.error = undefined;
    } catch (err) {
      this.state = 'retrying';
      this.error = `cannot consume ${this.topic}: ${withKafkaHint(err)}`;
      // /health says it all along; the log says it when it is new, then as a reminder.
      const last = this.startFailureLogged;
      if (!last || last.error !== this.error || Date.now() - last.at >= START_FAILURE_REMINDER_MS) {
        this.startFailureLogged = { error: this.error, at: Date.now() };
        this.opts.log({
          level: 'warn',
          msg: 'kafka consumer not started, retrying',
          datasource: this.sink.datasource.name,
          error: this.error,
          attempt: attempt + 1,
        });
      }
      const delay = backoffMs(attempt, 1000, 30_000);
      this.retryTimer = setTimeout(() => void this.connect(attempt + 1), delay);
      this.retryTimer.unref();
      if (attempt === 0) return;
    }
  }

  /**
   * kafkajs leaves a consumer stopped after an error it does not retry (a refused
   * authentication, while the identity provider or the credentials were changing): start a new
   * one with the same backoff as the first connection, until it is accepted again.
   */
  private async reconnectAfterCrash(): Promise<void> {
    const dead = this.consumer;
    this.consumer = undefined;
    this.state = 'retrying';
    await dead?.stop().catch(() => {});
    if (this.stopping) return;
    this.retryTimer = setTimeout(() => void this.connect(1), backoffMs(1, 1000, 30_000));
    this.retryTimer.unref();
  }

  private onAssign(partitions: number[]): void {
    this.assigned = partitions;
    // Another member may have written meanwhile: read the watermarks and check starts again.
    this.checked.clear();
    this.sink.invalidate();
    if (this.controller.signal.aborted) this.controller = new AbortController();
    for (const p of [...this.partitions.keys()]) if (!partitions.includes(p)) this.partitions.delete(p);
    for (const p of [...this.rewind.keys()]) if (!partitions.includes(p)) this.rewind.delete(p);
    this.opts.log({
      level: 'info',
      msg: 'kafka partitions assigned',
      datasource: this.sink.datasource.name,
      partitions,
    });
  }

  /**
   * Before a (re)join or a leave: rows not yet flushing are dropped (Kafka delivers them again, to
   * whoever gets their partition), and the flush in flight gets `revokeGraceMs` to be stored,
   * after which it stops retrying (after its current attempt) and is delivered again too. Until
   * the join is over, handlers add nothing (`revoking`).
   */
  private async handOff(): Promise<void> {
    this.revoking = true;
    const dropped = this.batcher.abandon(new Revoked('partition revoked'));
    const inFlight = this.batcher.inFlight();
    if (!inFlight && dropped === 0) return;
    const t0 = Date.now();
    let stored = true;
    if (inFlight) {
      stored = await settledWithin(inFlight, this.opts.revokeGraceMs ?? 10_000);
      if (!stored) {
        this.controller.abort();
        await inFlight;
      }
    }
    // Past the group's rebalance timeout the partitions move without this member: say how long.
    this.opts.log({
      level: stored ? 'info' : 'warn',
      msg: stored
        ? 'kafka hand-off before a rebalance: the flush in flight is stored'
        : 'kafka hand-off before a rebalance: the flush in flight was abandoned (delivered again)',
      datasource: this.sink.datasource.name,
      dropped_batches: dropped,
      waited_ms: Date.now() - t0,
    });
  }

  private async onBatch(batch: ConsumedBatch, ctl: BatchControl): Promise<void> {
    if (this.stopping) {
      // No refetch of the same batch until the consumer stops; the membership kept meanwhile.
      await this.heartbeatUntil(this.draining!, ctl);
      return;
    }
    if (this.revoking) {
      // A join is under way (kafkajs fetches from other brokers meanwhile): this batch is not
      // resolved, so it comes again after the join, to whoever then has its partition.
      await delay(100);
      return;
    }
    if (batch.messages.length === 0) return;
    const p = batch.partition;
    const back = this.rewind.get(p);
    if (back !== undefined) {
      // Rows from `back` on were dropped (a hand-off), but the client may have moved past them
      // (a join that failed keeps its positions): fetch them again.
      this.rewind.delete(p);
      if (batch.firstOffset > back) {
        ctl.seek(back);
        return;
      }
    }
    const marks = await this.untilDone(() => this.sink.watermarks(this.topic), ctl);
    const m = marks.get(p);
    let resume = m && m.batch >= 0 ? m.batch + 1 : -1;
    if (!this.checked.has(p)) {
      this.checked.add(p);
      if (resume > batch.highWatermark) {
        this.error = `ClickHouse records offsets of ${batch.topic}[${p}] up to ${resume - 1}, beyond the partition's end (${batch.highWatermark}): was the topic recreated? Its rows in tally_ingest_offsets must be cleared (resetOffsets); ingesting from the group's offset meanwhile`;
        this.opts.log({ level: 'error', msg: this.error, datasource: this.sink.datasource.name });
        resume = -1;
      } else if (resume >= 0 && (batch.firstOffset > resume || batch.lastOffset < resume)) {
        this.opts.log({
          level: 'info',
          msg: 'kafka: resuming from ClickHouse',
          datasource: this.sink.datasource.name,
          partition: p,
          from: resume,
          groupAt: batch.firstOffset,
        });
        ctl.seek(resume);
        return;
      }
    }
    const messages =
      resume > batch.firstOffset ? batch.messages.filter((x) => Number(x.offset) >= resume) : batch.messages;
    if (messages.length === 0) {
      ctl.resolveOffset(batch.lastOffset);
      return;
    }

    // A chunk is one unit of the batcher: no larger than a flush, so `flush_rows` is honoured
    // even within one fetch.
    const chunk = Math.min(this.opts.parseChunk ?? 5000, this.opts.batch.maxRows ?? Number.POSITIVE_INFINITY);
    const results: Promise<BatchOutcome>[] = [];
    let added = 0;
    this.parsing++;
    try {
      for (let i = 0; i < messages.length; i += chunk) {
        const part = messages.slice(i, i + chunk);
        const last = i + chunk >= messages.length;
        const incoming = this.toIncoming(
          batch,
          part,
          last ? batch.lastOffset : Number(part[part.length - 1]!.offset),
        );
        // Over the memory cap: wait (keeping the membership) until a flush makes room. The
        // handler waits, not only its rows, so nothing more is fetched meanwhile.
        for (
          let room = this.batcher.roomFor(incoming.bytes);
          room && !this.revoking && !this.stopping;
          room = this.batcher.roomFor(incoming.bytes)
        ) {
          await this.heartbeatUntil(room, ctl);
        }
        if (this.revoking || this.stopping) break; // the rest comes again (not resolved)
        results.push(this.batcher.add(incoming, { rows: part.length, bytes: incoming.bytes }));
        added += part.length;
        if (!last) await yieldNow();
      }
    } finally {
      this.parsing--;
      if (this.parsing === 0) {
        // Every handler of this fetch has added its rows: nothing more comes until they return.
        setImmediate(() => {
          if (this.parsing === 0) this.batcher.flushNow();
        });
      }
      const first = Number(messages[0]!.offset);
      if (added < messages.length) this.rewindTo(p, Number(messages[added]?.offset ?? first));
      this.track(results, p, first, added === messages.length ? batch.lastOffset : -1, batch.highWatermark);
    }
    if (added < messages.length) return;

    // Fetch ahead: kafkajs fetches the next batch once this handler returns, so parsing goes on
    // while a flush is in flight, and what is parsed meanwhile makes the next flush (group
    // commit: the slower ClickHouse answers, the bigger the flushes). Only once a whole flush is
    // waiting does the handler wait for the one in flight: that bounds what is held.
    ctl.resolveOffset(batch.lastOffset);
    const before = this.batcher.inFlight();
    if (before && this.batcher.full) await this.untilDone(() => before, ctl);
  }

  /**
   * Follows a batch's rows to ClickHouse: once all are stored its offsets are committed (the
   * group's hint, see top; `lastOffset` -1: the batch was not added whole, nothing to commit);
   * rows dropped on the way are fetched again. A method of its own so that the callbacks do not
   * share the handler's scope, which holds the fetch.
   */
  private track(
    results: Promise<BatchOutcome>[],
    p: number,
    first: number,
    lastOffset: number,
    highWatermark: number,
  ): void {
    Promise.all(results).then(
      () => {
        if (lastOffset >= 0) this.stored(p, lastOffset, highWatermark);
      },
      (err) => this.notStored(err, p, first),
    );
  }

  private stored(p: number, lastOffset: number, highWatermark: number): void {
    void this.consumer?.commit(p, lastOffset + 1);
    if (!this.assigned.includes(p)) return; // stored just before the partition moved
    const stats = this.partitions.get(p) ?? { partition: p, position: 0, highWatermark: 0, lag: 0 };
    stats.position = lastOffset + 1;
    stats.highWatermark = highWatermark;
    stats.lag = Math.max(0, highWatermark - stats.position);
    stats.lastBatchAt = Date.now();
    this.partitions.set(p, stats);
  }

  /**
   * The batcher's flush. One that fails takes what waits behind it along (before the batcher can
   * start the next flush): a partition's rows must not be stored past rows that were not.
   */
  private async flush(batches: readonly IncomingBatch[]): Promise<BatchOutcome[]> {
    try {
      return await this.sink.write(batches, this.controller.signal);
    } catch (err) {
      if (err instanceof FencedError && this.stopping) {
        // Its rows and those waiting behind it (dropped next) are not stored.
        this.abandonedRows += batches.reduce((n, b) => n + b.events.length, this.batcher.buffered.rows);
      }
      this.batcher.abandon(new Revoked('an earlier flush failed'));
      throw err;
    }
  }

  /** Rows of partition `p` from `first` on did not reach ClickHouse: they are fetched again. */
  private notStored(err: unknown, p: number, first: number): void {
    this.rewindTo(p, first);
    if (err instanceof FencedError || err instanceof Revoked) return;
    // Not expected: a Kafka flush retries until stored or abandoned.
    this.error = `ingest flush failed: ${engineMessage(err)}`;
    this.opts.log({
      level: 'error',
      msg: 'ingest flush failed; its rows are fetched again',
      datasource: this.sink.datasource.name,
      error: this.error,
    });
  }

  private rewindTo(p: number, offset: number): void {
    const at = this.rewind.get(p);
    if (at === undefined || offset < at) this.rewind.set(p, offset);
  }

  private toIncoming(
    batch: ConsumedBatch,
    part: ConsumedBatch['messages'],
    lastOffset: number,
  ): IncomingBatch {
    const parser = this.sink.parser;
    const events: IncomingEvent[] = new Array(part.length);
    const lines: string[] = [];
    let bytes = 0;
    const withMeta = parser.usesMeta;
    const keyAndHeaders = parser.usesKeyOrHeaders;
    for (let i = 0; i < part.length; i++) {
      const msg = part[i]!;
      const offset = Number(msg.offset);
      const value = msg.value;
      const raw = value ? value.toString('utf8') : '';
      bytes += value ? value.length : 0;
      const meta: EventMeta | undefined = withMeta
        ? {
            topic: batch.topic,
            partition: batch.partition,
            offset,
            timestamp: Number(msg.timestamp),
            key: keyAndHeaders && msg.key ? msg.key.toString('utf8') : null,
            headers: keyAndHeaders ? JSON.stringify(messageHeaders(msg)) : '{}',
          }
        : undefined;
      // Bytes that are not UTF-8 would be stored with U+FFFD in their place: refused instead.
      const row = value && !isUtf8(value) ? notUtf8(value) : parser.parseLineInto(raw, meta, lines);
      // The value's bytes (held by the fetch anyway) stand for the raw text until quarantine.
      events[i] = { raw: value ?? '', row, offset };
    }
    return {
      source: 'kafka',
      topic: batch.topic,
      partition: batch.partition,
      requestId: '',
      events,
      firstOffset: Number(part[0]!.offset),
      lastOffset,
      lag: Math.max(0, batch.highWatermark - lastOffset - 1),
      bytes,
      lines: batchLines(events, lines),
    };
  }

  /** Waits for `work` (retrying it with backoff when it fails) while keeping the membership alive. */
  private async untilDone<T>(work: () => Promise<T>, ctl: BatchControl): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const p = work();
      await this.heartbeatUntil(p, ctl);
      try {
        return await p;
      } catch (err) {
        if (this.stopping) throw err;
        this.error = engineMessage(err);
        this.opts.log({
          level: 'warn',
          msg: 'ingest: ClickHouse not answering, retrying',
          datasource: this.sink.datasource.name,
          error: this.error,
        });
        await this.heartbeatUntil(delay(backoffMs(attempt, 500, 10_000)), ctl);
      }
    }
  }

  /** Heartbeats until `settled`; a rebalance is thrown, and kafkajs rejoins after `handOff`. */
  private async heartbeatUntil(settled: Promise<unknown>, ctl: BatchControl): Promise<void> {
    const every = Math.max(500, Math.floor((this.opts.consumer.heartbeatIntervalMs ?? 3000) / 2));
    for (;;) {
      if (await settledWithin(settled, every)) return;
      try {
        await ctl.heartbeat();
      } catch (err) {
        if (isRebalance(err)) throw err;
      }
    }
  }
}

/** The refusal of a message whose value is not UTF-8 (quarantine shows it with U+FFFD). */
function notUtf8(value: Buffer): ParsedLine {
  const at = firstInvalidUtf8(value);
  return {
    ok: false,
    problems: [
      {
        message: `the event is not valid UTF-8: byte ${at + 1} (0x${value[at]?.toString(16) ?? ''}) of ${value.length}; the raw value here shows U+FFFD in its place, the message at its offset has the bytes`,
      },
    ],
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
