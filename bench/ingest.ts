/**
 * Ingestion benchmark, one run, three ways into the same ClickHouse server:
 *  1. Tally: Kafka -> Tally's ingester (in a child process, so its CPU and memory are its own).
 *  2. Straight HTTP: the same NDJSON inserted over HTTP in 100k-row batches.
 *  3. ClickHouse's own Kafka table engine + a materialized view, on the same topic.
 * Prints rows/s, MB/s, Tally's CPU time and peak RSS, and the ratios.
 *
 *   npx tsx bench/ingest.ts            1M events of ~300 bytes
 *   npx tsx bench/ingest.ts --quick    200k events
 *   options: --events N  --no-dedup  --partitions N  --keep
 *            --rounds N  the three paths N times, alternating (default 3, 1 with --quick); each
 *                        path's median is reported, and the highest peak RSS
 *            --heap MB   run Tally's process with --max-old-space-size=MB (default: Node's)
 *            --compression gzip|snappy|lz4|zstd  the topic's compression.type: the broker
 *                        recompresses every batch, so every path reads compressed batches
 * Uses TALLY_CLICKHOUSE_URL (default http://127.0.0.1:8123) and TALLY_KAFKA_BROKERS (127.0.0.1:9092).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { type Admin, Kafka, logLevel } from 'kafkajs';
import { createEngine, quoteIdent } from '../src/clickhouse/create-engine.ts';
import type { Engine } from '../src/clickhouse/engine.ts';
import { QUARANTINE_COLUMNS } from '../src/clickhouse/quarantine-schema.ts';
import type { ClickHouseConfig, KafkaConfig } from '../src/config/config.ts';
import { startIngestion } from '../src/ingest/ingestion.ts';
import { createTopicsReady } from '../src/ingest/kafka-client.ts';
import type { Column, DataSource, Project } from '../src/project/model.ts';
import { cliNodeFlags } from './lib/cli-node-flags.ts';
import { median } from './lib/stats.ts';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const option = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};

const URL_ = process.env.TALLY_CLICKHOUSE_URL || 'http://127.0.0.1:8123';
const BROKERS = (process.env.TALLY_KAFKA_BROKERS || '127.0.0.1:9092').split(',');
const N = option('--events', flag('--quick') ? 200_000 : 1_000_000);
const PARTITIONS = option('--partitions', 4);
const DEDUP = !flag('--no-dedup');
const HEAP = option('--heap', 0);
const ROUNDS = option('--rounds', flag('--quick') ? 1 : 3);
const COMPRESSION = args.includes('--compression') ? args[args.indexOf('--compression') + 1] : undefined;
if (COMPRESSION !== undefined && !['gzip', 'snappy', 'lz4', 'zstd'].includes(COMPRESSION)) {
  console.error(`--compression: expected gzip, snappy, lz4 or zstd, got ${COMPRESSION}`);
  process.exit(1);
}

interface ChildInput {
  clickhouse: ClickHouseConfig;
  kafka: KafkaConfig;
  datasource: DataSource;
  events: number;
}

interface ChildResult {
  ms: number;
  /** The rate between 10% and 90% of the rows stored, as the time for all: no start-up. */
  sustainedMs: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  peakRssMb: number;
  stored: number;
  duplicates: number;
  quarantined: number;
  flushes: number;
  /** ClickHouse time inside the ingester: seen lookups, inserts, bookkeeping. */
  clickhouseMs: { lookup: number; insert: number; bookkeeping: number };
  /** The consumer's fetch sizes at the end, and the compression it saw. */
  fetch?: { maxBytes: number; maxBytesPerPartition: number; compression: number };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const id = `${process.pid}_${Date.now().toString(36)}`;
  const database = `tally_bench_${id}`;
  const topic = `tally_bench_${id}`;
  const clickhouse: ClickHouseConfig = {
    url: URL_,
    user: 'default',
    password: '',
    database,
    embeddedPath: '',
  };
  const engine = await createEngine(clickhouse);
  console.log(
    `ingest bench: ${N.toLocaleString('en')} events, ${PARTITIONS} partitions, ${engine.description}, Kafka ${BROKERS.join(',')}`,
  );
  console.log(
    `Tally data source: ${DEDUP ? 'dedup_key transaction_id' : 'no dedup_key (Kafka coordinates)'}\n`,
  );
  const kafka = new Kafka({ brokers: BROKERS, clientId: 'tally-bench', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    // Events: ~300 bytes of JSON each, readable as is by all three paths.
    const lines = Array.from({ length: N }, (_, i) => event(i));
    const bytes = lines.reduce((n, l) => n + Buffer.byteLength(l), 0);
    console.log(`events: average ${(bytes / N).toFixed(0)} bytes, ${(bytes / 1e6).toFixed(0)} MB in all`);

    const configEntries = COMPRESSION ? [{ name: 'compression.type', value: COMPRESSION }] : [];
    await createTopicsReady(admin, [{ topic, numPartitions: PARTITIONS, configEntries }]);
    if (COMPRESSION) console.log(`topic compression: ${COMPRESSION} (the broker recompresses every batch)`);
    const t0 = performance.now();
    const producer = kafka.producer();
    await producer.connect();
    for (let i = 0; i < N; i += 10_000) {
      await producer.send({
        topic,
        acks: -1,
        messages: lines.slice(i, i + 10_000).map((value) => ({ value })),
      });
    }
    await producer.disconnect();
    console.log(
      `produced to ${topic} in ${((performance.now() - t0) / 1000).toFixed(1)} s (not measured below)\n`,
    );

    const ds = datasource(topic);
    const rounds: Round[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const round = await runRound(engine, clickhouse, admin, ds, lines, `${id}_${r}`);
      rounds.push(round);
      if (ROUNDS > 1) {
        const k = round.kafka ? `, Kafka engine ${perSecond(round.kafka.sustainedMs)}` : '';
        console.log(
          `round ${r + 1} of ${ROUNDS}: Tally ${perSecond(round.tally.sustainedMs)}, straight HTTP ${perSecond(round.httpMs)}${k} (sustained, rows/s); Tally peak RSS ${round.tally.peakRssMb.toFixed(0)} MB`,
        );
      }
    }
    if (ROUNDS > 1) console.log('');

    // Each path's median over the rounds; the peak RSS is the highest of any round.
    const med = (f: (r: Round) => number) => median(rounds.map(f));
    // The round whose Tally rate is the median one reports Tally's CPU, counts and waits.
    const tally = rounds.map((r) => r.tally).sort((a, b) => a.sustainedMs - b.sustainedMs)[
      Math.floor(rounds.length / 2)
    ]!;
    const tallySustainedMs = med((r) => r.tally.sustainedMs);
    const tallyMs = med((r) => r.tally.ms);
    const httpMs = med((r) => r.httpMs);
    const engineRounds = rounds.filter((r) => r.kafka);
    const kafkaSustainedMs =
      engineRounds.length === rounds.length ? med((r) => r.kafka!.sustainedMs) : undefined;
    const kafkaMs = engineRounds.length === rounds.length ? med((r) => r.kafka!.ms) : undefined;
    const peakRssMb = Math.max(...rounds.map((r) => r.tally.peakRssMb));

    const mb = bytes / 1e6;
    const rate = (ms: number) =>
      `${(ms / 1000).toFixed(2).padStart(7)} s ${Math.round(N / (ms / 1000))
        .toLocaleString('en')
        .padStart(11)} rows/s ${(mb / (ms / 1000)).toFixed(1).padStart(7)} MB/s`;
    const over = ROUNDS > 1 ? `, median of ${ROUNDS} rounds` : '';
    console.log(`${''.padEnd(36)} sustained (10% -> 90% of the rows${over})   end to end (with group join)`);
    console.log(`${'Tally (Kafka -> ClickHouse)'.padEnd(36)} ${rate(tallySustainedMs)}   ${rate(tallyMs)}`);
    console.log(`${'HTTP JSONEachRow, 100k-row inserts'.padEnd(36)} ${rate(httpMs)}   ${rate(httpMs)}`);
    if (kafkaMs !== undefined && kafkaSustainedMs !== undefined) {
      console.log(
        `${'ClickHouse Kafka engine + MV'.padEnd(36)} ${rate(kafkaSustainedMs)}   ${rate(kafkaMs)}`,
      );
    } else {
      console.log("ClickHouse's Kafka engine stalled in some round: left out");
    }
    console.log('');
    console.log(
      `Tally / straight HTTP (sustained):          ${(httpMs / tallySustainedMs).toFixed(2)}  (target >= 0.70)`,
    );
    if (kafkaSustainedMs !== undefined) {
      console.log(
        `Tally / ClickHouse Kafka engine (sustained): ${(kafkaSustainedMs / tallySustainedMs).toFixed(2)}  (target >= 1.00)`,
      );
    }
    // CPU, counts and waits of the median Tally round; the peak RSS of all rounds.
    console.log(
      `Tally process: CPU ${(tally.cpuUserMs / 1000).toFixed(1)} s user + ${(tally.cpuSystemMs / 1000).toFixed(1)} s system (${((tally.cpuUserMs + tally.cpuSystemMs) / tally.ms).toFixed(2)} cores), peak RSS ${peakRssMb.toFixed(0)} MB (target <= 300)`,
    );
    console.log(
      `Tally counts: stored ${tally.stored}, duplicates ${tally.duplicates}, quarantined ${tally.quarantined}`,
    );
    if (tally.fetch) {
      const f = tally.fetch;
      console.log(
        `Tally fetches: compression seen ${f.compression.toFixed(1)}x, so each asks for ${(f.maxBytes / 1024).toFixed(0)} KiB (${(f.maxBytesPerPartition / 1024).toFixed(0)} KiB per partition)`,
      );
    }
    const cm = tally.clickhouseMs;
    console.log(
      `Tally flushes: ${tally.flushes}; waiting on ClickHouse: lookups ${(cm.lookup / 1000).toFixed(2)} s, inserts ${(cm.insert / 1000).toFixed(2)} s, bookkeeping ${(cm.bookkeeping / 1000).toFixed(2)} s`,
    );
  } finally {
    if (!flag('--keep')) {
      await engine.command(`DROP DATABASE IF EXISTS ${quoteIdent(database)}`).catch(() => {});
      await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    }
    await admin.disconnect();
    await engine.close();
  }
}

/** The Tally side, in its own process: from start to every event stored. */
async function child(input: ChildInput): Promise<void> {
  const engine = await createEngine(input.clickhouse);
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const project: Project = {
    root: process.cwd(),
    config: {} as Project['config'],
    datasources: new Map([[input.datasource.name, input.datasource]]),
    pipes: new Map(),
    endpoints: new Map(),
  };
  const ingestion = await startIngestion(project, engine, input.kafka, {
    log: (e) => {
      if (e.level === 'error') process.stderr.write(`${JSON.stringify(e)}\n`);
    },
  });
  let first: { at: number; rows: number } | undefined;
  for (;;) {
    const t = ingestion.stats().datasources[0]!.totals;
    const done = t.stored + t.duplicates + t.quarantined;
    if (!first && done > 0) first = { at: performance.now(), rows: done };
    if (done >= input.events) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const ms = performance.now() - t0;
  const sustainedMs =
    ((performance.now() - first!.at) * input.events) / Math.max(1, input.events - first!.rows);
  const cpu = process.cpuUsage(cpu0);
  const stats = ingestion.stats().datasources[0]!;
  const t = stats.totals;
  const fetch = stats.kafka?.fetch;
  await ingestion.stop();
  clearInterval(sampler);
  peak = Math.max(peak, process.resourceUsage().maxRSS * 1024);
  const result: ChildResult = {
    ms,
    sustainedMs,
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    peakRssMb: peak / 1e6,
    stored: t.stored,
    duplicates: t.duplicates,
    quarantined: t.quarantined,
    flushes: t.flushes,
    clickhouseMs: t.ms,
    ...(fetch ? { fetch } : {}),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  await engine.close();
  process.exit(0);
}

interface Round {
  tally: ChildResult;
  httpMs: number;
  /** Undefined when the Kafka engine stalled. */
  kafka?: { ms: number; sustainedMs: number };
}

/**
 * One round of the three paths over the same topic, in a database of its own (Tally's marks and
 * seen keys, and the Kafka engine's consumer group, start empty each round).
 */
async function runRound(
  base: Engine,
  clickhouse: ClickHouseConfig,
  admin: Admin,
  ds: DataSource,
  lines: readonly string[],
  id: string,
): Promise<Round> {
  const database = `tally_bench_${id}`;
  await base.command(`CREATE DATABASE IF NOT EXISTS ${quoteIdent(database)}`);
  const engine = await createEngine({ ...clickhouse, database });
  try {
    await createTable(engine, 'transactions', ds);
    await engine.command(
      `CREATE TABLE transactions_quarantine (${QUARANTINE_COLUMNS.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(', ')}) ENGINE = MergeTree ORDER BY received_at`,
    );

    // 1. Tally, in a child process.
    const tally = await runChild({
      clickhouse: { ...clickhouse, database },
      kafka: { brokers: BROKERS, clientId: 'tally-bench', ssl: false },
      datasource: ds,
      events: N,
    });
    const [count] = await engine.rows<{ n: string }>('SELECT toString(count()) AS n FROM transactions');
    if (Number(count!.n) !== N) throw new Error(`Tally stored ${count!.n} rows, expected ${N}`);

    // 2. Straight HTTP inserts of the same NDJSON, 100k rows each.
    await createTable(engine, 'raw_http', ds);
    const bodies: string[] = [];
    for (let i = 0; i < N; i += 100_000) bodies.push(lines.slice(i, i + 100_000).join('\n'));
    const h0 = performance.now();
    for (const body of bodies) await engine.command(`INSERT INTO raw_http FORMAT JSONEachRow\n${body}`);
    const httpMs = performance.now() - h0;

    // 3. ClickHouse's Kafka engine + materialized view. Its consumer group starts at the end of
    // the topic unless it has offsets (18.16 has no per-table setting): commit 0 for it first.
    const topic = ds.kafka!.topic;
    await createTable(engine, 'kafka_engine', ds);
    await admin.setOffsets({
      groupId: `clickhouse_${id}`,
      topic,
      partitions: Array.from({ length: PARTITIONS }, (_, p) => ({ partition: p, offset: '0' })),
    });
    const cols = ds.columns.map((c) => `${quoteIdent(c.name)} ${c.type.text}`).join(', ');
    await engine.command(
      `CREATE TABLE kafka_queue (${cols}) ENGINE = Kafka SETTINGS kafka_broker_list = '${BROKERS.join(',')}', kafka_topic_list = '${topic}', kafka_group_name = 'clickhouse_${id}', kafka_format = 'JSONEachRow', kafka_num_consumers = 1`,
    );
    const k0 = performance.now();
    await engine.command('CREATE MATERIALIZED VIEW kafka_mv TO kafka_engine AS SELECT * FROM kafka_queue');
    let kafka: Round['kafka'];
    const kafkaWindow = new Window(N);
    let last = -1;
    let lastChange = performance.now();
    for (;;) {
      const [r] = await engine.rows<{ n: string }>('SELECT toString(count()) AS n FROM kafka_engine');
      const n = Number(r!.n);
      kafkaWindow.note(n);
      if (n >= N) {
        kafka = { ms: performance.now() - k0, sustainedMs: kafkaWindow.ms() };
        break;
      }
      if (n !== last) {
        last = n;
        lastChange = performance.now();
      } else if (performance.now() - lastChange > 60_000) {
        console.log(`ClickHouse's Kafka engine stalled at ${n} rows for 60 s; left out`);
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await engine.command('DROP TABLE IF EXISTS kafka_mv');
    await engine.command('DROP TABLE IF EXISTS kafka_queue');
    return { tally, httpMs, ...(kafka ? { kafka } : {}) };
  } finally {
    if (!flag('--keep'))
      await engine.command(`DROP DATABASE IF EXISTS ${quoteIdent(database)}`).catch(() => {});
    await engine.close();
  }
}

function perSecond(ms: number): string {
  return Math.round(N / (ms / 1000)).toLocaleString('en');
}

/**
 * The time between 10% and 90% of `total` rows, scaled to all rows: the steady rate, without the
 * start (group join) and the tail. Falls back to the whole time when rows come in few big steps.
 */
class Window {
  private readonly t0 = performance.now();
  private from?: { at: number; rows: number };
  private to?: { at: number; rows: number };
  constructor(private readonly total: number) {}
  note(rows: number): void {
    const now = performance.now();
    if (!this.from && rows >= this.total * 0.1) this.from = { at: now, rows };
    if (!this.to && rows >= this.total * 0.9) this.to = { at: now, rows };
  }
  ms(): number {
    const { from, to } = this;
    if (!from || !to || to.rows - from.rows < this.total * 0.5) return performance.now() - this.t0;
    return ((to.at - from.at) * this.total) / (to.rows - from.rows);
  }
}

function runChild(input: ChildInput): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const heap = HEAP > 0 ? [`--max-old-space-size=${HEAP}`] : [];
    // e.g. TALLY_BENCH_CHILD_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the ingester;
    // with TALLY_BENCH_CHILD_OUT=<file>, what it printed (say, with --trace-gc) is kept there.
    const extra = (process.env.TALLY_BENCH_CHILD_FLAGS ?? '').split(' ').filter(Boolean);
    // The ingester runs as `npx tally` runs it: with the command's node flags.
    const proc = spawn(
      process.execPath,
      [...cliNodeFlags(), ...heap, ...extra, '--import', 'tsx', import.meta.filename],
      {
        env: { ...process.env, TALLY_BENCH_CHILD: JSON.stringify(input) },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (c: string) => {
      out += c;
    });
    proc.on('exit', (code) => {
      if (process.env.TALLY_BENCH_CHILD_OUT) writeFileSync(process.env.TALLY_BENCH_CHILD_OUT, out);
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0) reject(new Error(`Tally child exited with ${code}: ${out}`));
      else resolve(JSON.parse(line) as ChildResult);
    });
  });
}

// ---------------------------------------------------------------------------------------------

const TYPES = ['deposit', 'payment', 'transfer', 'withdrawal', 'refund', 'fee'];

function event(i: number): string {
  const d = new Date(Date.UTC(2024, 0, 1) + i * 1000);
  const ts = d.toISOString().slice(0, 19).replace('T', ' ');
  return JSON.stringify({
    transaction_id: `tx-${i.toString(36).padStart(8, '0')}-${((i * 2654435761) >>> 0).toString(16).padStart(8, '0')}`,
    timestamp: ts,
    account_id: `acct-${((i * 7919) % 50_000).toString().padStart(6, '0')}`,
    type: TYPES[i % TYPES.length],
    amount: Number((((i * 37) % 200_000) / 100 - 1000).toFixed(2)),
    currency: ['EUR', 'USD', 'GBP'][i % 3],
    merchant: i % 4 === 0 ? null : `merchant-${i % 1733}`,
    description: `Card payment ${i % 97} at store ${i % 389}, reference ${(i * 31337).toString(16)}, terminal ${i % 53}, batch ${i % 7919} of the day`,
  });
}

function datasource(topic: string): DataSource {
  const loc = { file: 'bench', line: 1, col: 1 };
  const col = (
    name: string,
    type: string,
    args: DataSource['columns'][number]['type']['args'] = [],
  ): Column => ({
    name,
    type: {
      name: type,
      args,
      text: args.length
        ? `${type}(${args.map((a) => (a.kind === 'number' ? a.value : a.kind === 'type' ? a.type.text : '')).join(', ')})`
        : type,
    },
    json: { text: `$.${name}`, segments: [name] },
    loc,
  });
  const str = { name: 'String', args: [], text: 'String' };
  return {
    kind: 'datasource',
    name: 'transactions',
    file: 'bench',
    loc,
    columns: [
      col('transaction_id', 'String'),
      col('timestamp', 'DateTime'),
      col('account_id', 'String'),
      col('type', 'String'),
      col('amount', 'Decimal', [
        { kind: 'number', value: 18 },
        { kind: 'number', value: 2 },
      ]),
      col('currency', 'String'),
      col('merchant', 'Nullable', [{ kind: 'type', type: str }]),
      col('description', 'String'),
    ],
    engine: {
      type: 'MergeTree',
      sortingKey: ['account_id', 'timestamp'],
      partitionKey: 'toYYYYMM(timestamp)',
      settings: {},
    },
    kafka: { topic, start: 'earliest', metadata: [], loc },
    ...(DEDUP ? { dedupKey: ['transaction_id'] } : {}),
  };
}

async function createTable(engine: Engine, name: string, ds: DataSource): Promise<void> {
  const cols = ds.columns.map((c) => `${quoteIdent(c.name)} ${c.type.text}`);
  if (!DEDUP && name === 'transactions')
    cols.push('__partition Int32 DEFAULT -1', '__offset Int64 DEFAULT -1');
  await engine.command(
    `CREATE TABLE ${quoteIdent(name)} (${cols.join(', ')}) ENGINE = MergeTree PARTITION BY toYYYYMM(timestamp) ORDER BY (account_id, timestamp)`,
  );
}

if (process.env.TALLY_BENCH_CHILD) await child(JSON.parse(process.env.TALLY_BENCH_CHILD) as ChildInput);
else await main();
