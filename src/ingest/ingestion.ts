/**
 * Ingestion for a whole project: per data source a row parser, a sink, an HTTP batcher and
 * (when it has a Kafka topic and Kafka is configured) a Kafka ingester. The lead wires it:
 *
 *   const ingestion = await startIngestion(project, engine, config.kafka, { log });
 *   registerEventsRoute(app, { ingestion: () => ingestion, check: (t, a) => auth.check(t, a) });
 *   ...
 *   await ingestion.stop();   // SIGTERM
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { Engine } from '../clickhouse/engine.ts';
import { EngineError, engineMessage } from '../clickhouse/engine-error.ts';
import { isShardedCluster } from '../clickhouse/replicated-engine.ts';
import { columnsOf } from '../clickhouse/table-columns.ts';
import type { ViewFailure } from '../clickhouse/view-failure-log.ts';
import type { KafkaConfig } from '../config/config.ts';
import { INGEST_DEFAULTS } from '../config/ingest-defaults.ts';
import { gateName, holdName } from '../deploy/names.ts';
import { TallyError } from '../errors.ts';
import { kafkaOnlyKeyColumns } from '../project/dedup-key-column.ts';
import type { DataSource, Project } from '../project/model.ts';
import { isAggregateState } from '../project/parse-type.ts';
import { quoteString } from '../sql/render-literal.ts';
import { Batcher, type BatcherOptions } from './batcher.ts';
import { recoverAfterCrash } from './crash-recovery.ts';
import {
  type BatchOutcome,
  DatasourceSink,
  emptyTotals,
  type Identity,
  type IncomingBatch,
  type SinkTotals,
} from './datasource-sink.ts';
import { ensureIngestTables, pruneSeen } from './ingest-tables.ts';
import { createKafkaClient, type KafkaClient } from './kafka-client.ts';
import { type ConsumerTuning, KafkaIngester, type KafkaIngesterStats } from './kafka-ingester.ts';
import { type GroupLag, LagMonitor } from './lag-monitor.ts';
import { RestartRecovery } from './restart-recovery.ts';
import { compileRowParser, type RowParser } from './row-parser.ts';
import { ViewFailureWatch } from './view-failure-watch.ts';
import { claimWriterMarker } from './writer-marker.ts';

export interface IngestionOptions {
  /** Consume Kafka topics (default true). False: HTTP only (e.g. a read replica). */
  consume?: boolean;
  /** Only these data sources (default all that can take events). */
  datasources?: readonly string[];
  /** This process in the ops log (default host:pid). */
  instance?: string;
  log?: (entry: Record<string, unknown>) => void;
  /** Kafka batching (defaults: see DEFAULT_KAFKA_BATCH). */
  batch?: Partial<BatcherOptions>;
  /** HTTP group commit (defaults: see DEFAULT_HTTP_BATCH). */
  httpBatch?: Partial<BatcherOptions>;
  consumer?: ConsumerTuning;
  /** How long a dedup key is remembered, in days (INGEST_DEFAULTS, tally.yaml's ingest:). */
  dedupWindowDays?: number;
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** On stop, how long to keep retrying a failing flush before abandoning it (default 30 s). */
  stopGraceMs?: number;
  /** How often the consumer groups' lag is asked of the broker (default 2000 ms). */
  lagIntervalMs?: number;
  /** How often tally_view_failures is read (default VIEW_FAILURES_READ_MS; tests). */
  viewFailuresReadMs?: number;
  /** A Kafka client to use instead of one made from the config (tests). */
  kafkaClient?: KafkaClient;
  /** When the server last started (default: asked of it with uptime(); tests fake a restart). */
  serverStartedAt?: (engine: Engine) => Promise<number>;
  /** How often the server's start time is asked (default START_WATCH_MS; 0: not asked; tests). */
  startWatchMs?: number;
}

/**
 * Kafka: a flush every 4 MB or 20k rows, so a fetch (4 MiB by default, see kafka-client.ts) is
 * inserted in parts while the rest of it is parsed; at most a second late. Memory is bounded by
 * the fetch size, not by these. Chosen with bench/ingest.ts (see docs/ingestion.md).
 */
export const DEFAULT_KAFKA_BATCH: Partial<BatcherOptions> = {
  maxRows: INGEST_DEFAULTS.flushRows,
  maxBytes: INGEST_DEFAULTS.flushBytes,
  maxWaitMs: 1000,
  maxBufferedBytes: INGEST_DEFAULTS.bufferBytes,
};

/** HTTP: concurrent requests share an insert; a lone request waits at most 50 ms. */
export const DEFAULT_HTTP_BATCH: Partial<BatcherOptions> = {
  maxRows: 100_000,
  maxBytes: 32 * 1024 * 1024,
  maxWaitMs: 50,
  maxBufferedBytes: 256 * 1024 * 1024,
};

export interface AppendResult {
  successful_rows: number;
  quarantined_rows: number;
  duplicate_rows: number;
}

export interface DatasourceIngestStats {
  name: string;
  /** How a redelivered event is recognized; `none` means at-least-once. */
  identity: Identity;
  totals: SinkTotals;
  http: { rows: number; bytes: number; inFlightBytes: number };
  kafka?: KafkaIngesterStats;
  /** The consumer group's lag from the broker (lag-monitor.ts). */
  groupLag?: GroupLag;
  /**
   * Its views that failed on stored rows since their targets were last recomputed, by any
   * instance (tally_view_failures, read every VIEW_FAILURES_READ_MS) or by this one meanwhile.
   */
  viewsMissingRows: Record<string, ViewFailure>;
  /** Why the data source takes no events (not deployed, unsupported column...). */
  error?: string;
  /** Its code: `ingest-unsupported` (the data source cannot take events as declared), `ingest-not-deployed`... */
  errorCode?: string;
}

export interface IngestStats {
  instance: string;
  datasources: DatasourceIngestStats[];
  /**
   * Recomputes after ClickHouse restarted under an INSERT of this process (restart-recovery.ts):
   * how many, and the last one's duration and hold.
   */
  restartRecoveries: { count: number; last?: { ms: number; at: string } };
}

export interface Ingestion {
  /** Data sources that take events (others are in stats() with their error). */
  datasourceNames(): string[];
  /** True when events for `datasource` go through Kafka (it has a topic and Kafka is configured). */
  viaKafka(datasource: string): boolean;
  /** Parses and writes events straight to ClickHouse; resolves once they are stored. */
  append(
    datasource: string,
    events: readonly string[],
    opts: { requestId: string; source?: 'http' | 'append' },
  ): Promise<AppendResult>;
  /** Sends events to the data source's topic; resolves once Kafka has them (acks=all). */
  produce(datasource: string, events: readonly string[]): Promise<{ accepted_rows: number }>;
  stats(): IngestStats;
  /** The consumer group's lag of a Kafka data source, as the broker last told it. */
  lag(datasource: string): GroupLag | undefined;
  /**
   * Epoch ms up to which `datasource`'s data is known to be current, if known: for a Kafka-fed
   * one, when its group was last seen with nothing left to read; for one written directly (no
   * Kafka), now, since an event is acknowledged only once stored and nothing waits anywhere,
   * unless its writes are failing (then since when).
   */
  currentAt(datasource: string): number | undefined;
  /** Settles once the broker answered (or failed) the first lag question of every Kafka data source. */
  lagKnown(): Promise<void>;
  /** Forgets the failures of these views (SinkTotals.viewFailures): a deploy recomputed their targets. */
  forgetViewFailures(views: readonly string[]): void;
  /** Finishes or abandons what is in flight, commits, leaves the groups. Idempotent. */
  stop(opts?: { graceMs?: number }): Promise<void>;
}

interface Entry {
  ds: DataSource;
  identity: Identity;
  parser?: RowParser;
  sink?: DatasourceSink;
  http?: Batcher<IncomingBatch, BatchOutcome>;
  kafka?: KafkaIngester;
  error?: string;
  /** The TallyError code of `error`: `ingest-unsupported` never changes without a new project. */
  errorCode?: string;
}

/** Tries of a data source's setup around a deploy's hold: 50 + 100 + 200 + 400 ms of waits. */
const SETUP_ATTEMPTS = 5;

/** True while a deploy holds `table` (its hold or gate name exists). */
async function held(engine: Engine, table: string): Promise<boolean> {
  const rows = await engine.rows(
    `SELECT 1 FROM system.tables WHERE database = ${quoteString(engine.database)} AND name IN (${quoteString(holdName(table))}, ${quoteString(gateName(table))})`,
  );
  return rows.length > 0;
}

/** How often tally_view_failures is read (other instances' failures, recomputes run elsewhere). */
const VIEW_FAILURES_READ_MS = 10_000;

/** Starts ingestion for every data source of the project that can take events. */
export async function startIngestion(
  project: Project,
  engine: Engine,
  kafka: KafkaConfig | undefined,
  opts: IngestionOptions = {},
): Promise<Ingestion> {
  const log = opts.log ?? (() => {});
  const instance = opts.instance ?? `${hostname()}:${process.pid}`;
  const consume = opts.consume ?? true;
  const client = opts.kafkaClient ?? (kafka ? createKafkaClient(kafka, log) : undefined);
  const entries = new Map<string, Entry>();
  const windowDays = opts.dedupWindowDays ?? INGEST_DEFAULTS.dedupWindowDays;

  const claim = claimWriterMarker(engine);
  if (claim?.unclean) {
    log({
      level: 'warn',
      msg: 'the last Tally process writing to this embedded database died without stopping (kill -9, crash): recomputing marks and views from the stored events',
      database: engine.database,
      previous: claim.previous,
    });
    try {
      const r = await recoverAfterCrash(project, engine);
      log({ level: 'info', msg: 'crash recovery done', ...r });
    } catch (err) {
      claim.release({ keep: true });
      throw err;
    }
  }

  const restarts = new RestartRecovery(project, engine, {
    instance,
    log,
    ...(opts.serverStartedAt ? { serverStartedAt: opts.serverStartedAt } : {}),
    onRecovered: () => {
      for (const e of entries.values()) e.sink?.invalidate();
    },
  });
  // A server restart may have torn even an INSERT it answered: its start is watched from before
  // the first INSERT (the first probe is what later ones compare with).
  if (opts.startWatchMs !== 0 && project.datasources.size > 0) await restarts.watchStarts(opts.startWatchMs);

  for (const ds of project.datasources.values()) {
    if (opts.datasources && !opts.datasources.includes(ds.name)) continue;
    const entry: Entry = { ds, identity: 'none' };
    entries.set(ds.name, entry);
    try {
      await prepareAroundHolds(entry);
    } catch (err) {
      entry.error = err instanceof TallyError ? err.message : engineMessage(err);
      if (err instanceof TallyError) entry.errorCode = err.code;
      // A data source a materialized pipe fills is meant to take no events: not worth a warning.
      const level = entry.errorCode === 'ingest-unsupported' ? 'info' : 'warn';
      log({ level, msg: 'data source takes no events', datasource: ds.name, error: entry.error });
    }
  }

  /**
   * A deploy holds a table for milliseconds (deploy/hold.ts): its name is a gate, or empty, or
   * being put back, and a setup query can fail on it ("table ... does not exist"). Such a failure
   * is tried again, briefly: while the table is held, or when ClickHouse refused the query.
   */
  async function prepareAroundHolds(entry: Entry): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await prepare(entry);
      } catch (err) {
        const unsupported = err instanceof TallyError && err.code === 'ingest-unsupported';
        if (unsupported || attempt >= SETUP_ATTEMPTS - 1) throw err;
        if (!(err instanceof EngineError) && !(await held(engine, entry.ds.name))) throw err;
        await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
      }
    }
  }

  async function prepare(entry: Entry): Promise<void> {
    const ds = entry.ds;
    if (ds.columns.some((c) => isAggregateState(c.type))) {
      throw new TallyError(
        'ingest-unsupported',
        `\`${ds.name}\` holds aggregate states; a materialized pipe fills it`,
      );
    }
    const tableColumns = await columnsOf(engine, ds.name);
    if (tableColumns.size === 0)
      throw new TallyError(
        'ingest-not-deployed',
        `table \`${ds.name}\` does not exist: run \`tally deploy\``,
      );
    const hidden = (['__partition', '__offset'] as const).filter((c) => tableColumns.has(c));
    const parser = compileRowParser(ds, { hiddenColumns: hidden, capabilities: engine.capabilities });
    const missing = parser.columns.filter((c) => !tableColumns.has(c.name)).map((c) => c.name);
    if (missing.length > 0) {
      throw new TallyError(
        'ingest-not-deployed',
        `table \`${ds.name}\` lacks column(s) ${missing.join(', ')}: run \`tally deploy\``,
      );
    }
    const report = await ensureIngestTables(engine, ds);
    entry.identity = parser.dedupKey ? 'dedup_key' : ds.kafka && report.coordinates ? 'coordinates' : 'none';
    if (entry.identity === 'coordinates' && isShardedCluster(engine)) {
      // A batch spread over several shards can be stored on some and not others; the Kafka marks
      // cannot tell which rows are in. Seen keys, looked up across the shards, can.
      throw new TallyError(
        'ingest-unsupported',
        `\`${ds.name}\` has no dedup_key: on a cluster of several shards Tally ingests a Kafka data source exactly once only by its dedup key`,
        { hint: 'give it a dedup_key (the field that identifies an event), deploy, and start again' },
      );
    }
    if (ds.kafka && entry.identity === 'none') {
      log({
        level: 'warn',
        msg: 'no dedup_key and no __partition/__offset columns: Kafka ingestion is at-least-once (a crash can store an event twice)',
        datasource: ds.name,
      });
    }
    const sink = new DatasourceSink(engine, ds, parser, {
      instance,
      identity: entry.identity,
      log,
      restarts,
      ...(opts.retryInitialMs !== undefined ? { retryInitialMs: opts.retryInitialMs } : {}),
      ...(opts.retryMaxMs !== undefined ? { retryMaxMs: opts.retryMaxMs } : {}),
    });
    entry.parser = parser;
    entry.sink = sink;
    entry.http = new Batcher((batches) => sink.write(batches), { ...DEFAULT_HTTP_BATCH, ...opts.httpBatch });
    if (parser.dedupKey) await pruneSeen(engine, ds.name, windowDays).catch(() => {});
    if (ds.kafka && client && consume) {
      entry.kafka = new KafkaIngester(sink, client, {
        group: consumerGroup(ds, engine),
        batch: { ...DEFAULT_KAFKA_BATCH, ...opts.batch },
        consumer: opts.consumer ?? {},
        log,
      });
      await entry.kafka.start();
    }
  }

  const monitor = client
    ? new LagMonitor(
        client,
        [...entries.values()].flatMap((e) =>
          e.kafka && e.ds.kafka
            ? [
                {
                  datasource: e.ds.name,
                  topic: e.ds.kafka.topic,
                  group: consumerGroup(e.ds, engine),
                  fromBeginning: e.ds.kafka.start !== 'latest',
                },
              ]
            : [],
        ),
        opts.lagIntervalMs !== undefined ? { intervalMs: opts.lagIntervalMs } : {},
      )
    : undefined;
  monitor?.start();

  // What tally_view_failures says: failures met by other instances or before this process
  // started, and recomputes run elsewhere.
  const viewFailures = new ViewFailureWatch(
    engine,
    log,
    opts.viewFailuresReadMs ?? VIEW_FAILURES_READ_MS,
    (recomputed) => {
      // A recompute run elsewhere: a failure met after it is written at once, not a minute late.
      for (const e of entries.values()) e.sink?.viewsRecomputedElsewhere(recomputed);
    },
  );
  if (entries.size > 0) await viewFailures.start();

  const prune = setInterval(() => {
    for (const e of entries.values()) {
      if (e.parser?.dedupKey) void pruneSeen(engine, e.ds.name, windowDays).catch(() => {});
    }
  }, 6 * 3600_000);
  prune.unref();

  const ready = (name: string): Required<Pick<Entry, 'parser' | 'sink' | 'http'>> & Entry => {
    const e = entries.get(name);
    if (!e) throw new TallyError('unknown-datasource', `no data source named \`${name}\``);
    if (!e.sink || !e.parser || !e.http) {
      throw new TallyError(
        'ingest-unavailable',
        `data source \`${name}\` takes no events: ${e.error ?? 'not ready'}`,
      );
    }
    return e as Required<Pick<Entry, 'parser' | 'sink' | 'http'>> & Entry;
  };

  let stopped: Promise<void> | undefined;

  return {
    datasourceNames: () => [...entries.values()].filter((e) => e.sink).map((e) => e.ds.name),

    viaKafka: (name) => Boolean(client && entries.get(name)?.ds.kafka),

    async append(name, events, { requestId, source = 'http' }) {
      const e = ready(name);
      const kafkaOnly = kafkaOnlyKeyColumns(e.ds);
      if (kafkaOnly.length > 0) {
        // These rows would all share one key: all but the first would be dropped as duplicates.
        throw new TallyError(
          'ingest-needs-kafka',
          `data source \`${name}\` deduplicates by Kafka metadata (${kafkaOnly.join(', ')}), which events that do not come through Kafka lack; send them to its topic ${e.ds.kafka ? `\`${e.ds.kafka.topic}\` (the events API does without wait=true)` : '(it has none: change its dedup_key)'}`,
        );
      }
      const batch: IncomingBatch = {
        source,
        topic: '',
        partition: -1,
        requestId,
        events: events.map((raw) => ({ raw, row: e.parser.parseLine(raw), offset: -1 })),
        firstOffset: -1,
        lastOffset: -1,
        lag: -1,
        bytes: events.reduce((n, x) => n + x.length, 0),
      };
      const o = await e.http.add(batch, { rows: events.length, bytes: batch.bytes });
      return { successful_rows: o.stored, quarantined_rows: o.quarantined, duplicate_rows: o.duplicates };
    },

    async produce(name, events) {
      const e = ready(name);
      if (!client || !e.ds.kafka)
        throw new TallyError('ingest-no-kafka', `data source \`${name}\` has no Kafka topic`);
      // Keyed by the dedup key: the same event always lands in the same partition, so one
      // consumer sees both copies in order (no race between two ingesters).
      const messages = events.map((value) => {
        const row = e.parser.dedupKey ? e.parser.parse(value) : undefined;
        return { key: row?.ok && row.key !== undefined ? row.key : null, value };
      });
      await client.produce(e.ds.kafka.topic, messages);
      return { accepted_rows: events.length };
    },

    stats: () => ({
      instance,
      restartRecoveries: restarts.summary(),
      datasources: [...entries.values()].map((e) => ({
        name: e.ds.name,
        identity: e.identity,
        totals: e.sink ? { ...e.sink.totals, ms: { ...e.sink.totals.ms } } : emptyTotals(),
        http: e.http?.buffered ?? { rows: 0, bytes: 0, inFlightBytes: 0 },
        ...(e.kafka ? { kafka: e.kafka.stats() } : {}),
        ...(monitor?.get(e.ds.name) ? { groupLag: monitor.get(e.ds.name)! } : {}),
        viewsMissingRows: viewFailures.missingRows(e.ds.name, e.sink?.totals.viewFailures),
        ...(e.error ? { error: e.error } : {}),
        ...(e.errorCode ? { errorCode: e.errorCode } : {}),
      })),
    }),

    lag: (name) => monitor?.get(name),
    currentAt: (name) => {
      const e = entries.get(name);
      if (!e?.sink) return undefined;
      if (client && e.ds.kafka) return monitor?.get(name)?.caughtUpAt;
      return e.sink.totals.failingSince ?? Date.now();
    },
    lagKnown: () => monitor?.firstRound() ?? Promise.resolve(),
    forgetViewFailures: (views) => {
      // The deploy recorded the recompute too: the reads from now on agree.
      viewFailures.healed(views);
      for (const e of entries.values()) {
        e.sink?.viewsRecomputed(views);
        const failures = e.sink?.totals.viewFailures;
        if (!failures) continue;
        for (const v of views) delete failures[v];
        if (Object.keys(failures).length === 0) delete e.sink!.totals.viewFailures;
      }
    },

    stop(stopOpts = {}) {
      stopped ??= (async () => {
        clearInterval(prune);
        const lastRead = viewFailures.stop();
        const lastProbe = restarts.stopWatching();
        monitor?.stop();
        const grace = stopOpts.graceMs ?? opts.stopGraceMs ?? 30_000;
        await Promise.all([...entries.values()].map((e) => e.kafka?.stop(grace)));
        await Promise.all([...entries.values()].map((e) => e.http?.drain().catch(() => {})));
        await Promise.all([...entries.values()].map((e) => e.sink?.close()));
        await lastRead;
        await lastProbe;
        // Everything taken is stored or will be delivered again: the next start needs no recovery.
        claim?.release();
        if (!opts.kafkaClient) await client?.close();
      })();
      return stopped;
    },
  };
}

/**
 * The consumer group of a Kafka data source: its own (`kafka.group`), or one per store and data
 * source. A server's store is its database: processes writing the same tables share the group
 * and split the partitions. An embedded store is its chDB folder, which one process holds: two
 * projects on one machine (each with a database named `tally` by default) must not share a group,
 * or each would store only the partitions the broker hands it. So the folder's path is in the name.
 */
export function consumerGroup(ds: DataSource, engine: Pick<Engine, 'database' | 'dataPath'>): string {
  if (ds.kafka?.group) return ds.kafka.group;
  const base = `tally.${engine.database}.${ds.name}`;
  return engine.dataPath === undefined ? base : `${base}.${storeId(engine.dataPath)}`;
}

/** A short, stable name for an embedded data folder (8 hex digits of its path's SHA-256). */
function storeId(dataPath: string): string {
  return createHash('sha256').update(dataPath).digest('hex').slice(0, 8);
}
