import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Engine } from '../../clickhouse/engine.ts';
import { serverUrlFor } from '../../clickhouse/folder-server.ts';
import type { Config, KafkaConfig } from '../../config/config.ts';
import { INGEST_DEFAULTS } from '../../config/ingest-defaults.ts';
import { isTallyError, TallyError } from '../../errors.ts';
import { type Ingestion, startIngestion } from '../../ingest/ingestion.ts';
import { kafkajsConfig } from '../../ingest/kafka-client.ts';
import { kafkaRefusal } from '../../ingest/kafka-security-hint.ts';
import { compileRowParser } from '../../ingest/row-parser.ts';
import type { DataSource, Project } from '../../project/model.ts';
import { kafkaReachable } from '../../runtime/kafka-reachable.ts';
import { didYouMean } from '../../util/did-you-mean.ts';
import { plural } from '../../util/plural.ts';
import { utf8Fault } from '../../util/utf8-offset.ts';
import { csvEvents, type InputFormat, ndjsonEvents } from '../append-input.ts';
import type { Command, CommandContext } from '../command.ts';
import { openEngine } from '../open.ts';
import { openProject } from '../open-project.ts';
import { paint } from '../output.ts';

/** Rows sent per call (Kafka produce, ClickHouse insert or HTTP request). */
const CHUNK = 10_000;
/** Refused rows listed by line; the rest are counted. */
const REFUSED_SHOWN = 20;
/** Below this many rows no progress bar is drawn. */
const PROGRESS_MIN = 20_000;

export const appendCommand: Command = {
  name: 'append',
  summary: 'append events to a data source from a file or stdin (NDJSON or CSV)',
  usage:
    'tally append <data source> [--file F] [--format ndjson|csv] [--dry-run] [--no-kafka] [--project DIR] [--json]',
  options: {
    file: { type: 'string', short: 'f' },
    format: { type: 'string' },
    'dry-run': { type: 'boolean' },
    'no-kafka': { type: 'boolean' },
  },
  help: [
    'Checks every row against the data source schema first; a bad row is reported with its line',
    'and not sent. Then sends the good rows: to the data source Kafka topic when it has one and',
    'Kafka answers (the consumer stores them, dropping duplicates on dedup_key), else straight',
    'into ClickHouse through the ingestion path (dedup and quarantine apply). When `tally dev` or',
    '`tally serve` holds the embedded engine, the rows go through its events API instead, stored',
    'directly (not written to the data source topic: the output says so). The rows must be UTF-8.',
    '',
    '  -f, --file F       the rows (default: stdin; `-` is stdin too)',
    '  --format FORMAT    ndjson (one JSON event per line) or csv (a header row naming the',
    '                     columns); default from the file extension, else ndjson',
    '  --dry-run          check the rows only; send nothing',
    "  --no-kafka         never the topic: straight into ClickHouse (or the running server's events",
    '                     API), as for `tally dev --no-kafka`, which does not read the topic',
    '  --json             the summary as JSON: { datasource, via, target, rows, sent, refused,',
    '                     duplicates, quarantined, refused_rows: [{ line, reason }], ms, dry_run }',
    '',
    'Events are never updated or deleted: to correct one, append a compensating event (a refund',
    'that reverses a payment); see docs/cli.md. Exit code 1 when any row was refused.',
  ].join('\n'),
  async run(ctx) {
    return runAppend(ctx);
  },
};

interface Summary {
  datasource: string;
  via: 'kafka' | 'clickhouse' | 'events-api' | 'none';
  target: string;
  rows: number;
  sent: number;
  refused: number;
  /** Known when written through ingestion (Kafka: the consumer drops them later). */
  duplicates: number | null;
  quarantined: number | null;
  refused_rows: Array<{ line: number; reason: string }>;
  ms: number;
  note?: string;
}

async function runAppend(ctx: CommandContext): Promise<number> {
  const { io } = ctx;
  const t0 = performance.now();
  const [name, ...extra] = ctx.args;
  if (!name) {
    throw new TallyError(
      'bad-args',
      'tally append needs a data source: tally append <data source> --file events.ndjson',
    );
  }
  if (extra.length > 0) {
    throw new TallyError(
      'bad-args',
      `tally append takes one data source; unexpected \`${extra.join(' ')}\` (use --file for the rows)`,
    );
  }
  const project = openProject(ctx, { quietWarnings: true });
  const ds = project.datasources.get(name);
  if (!ds) {
    throw new TallyError(
      'unknown-datasource',
      `no data source named \`${name}\`${didYouMean(name, project.datasources.keys())}`,
      { hint: `data sources: ${[...project.datasources.keys()].join(', ')}` },
    );
  }
  const file = typeof ctx.flags.file === 'string' && ctx.flags.file !== '-' ? ctx.flags.file : undefined;
  const format = inputFormat(ctx, file);
  const where = file ?? 'stdin';
  const text = file ? readInput(resolve(file)) : await readStdin();

  // Check every row locally first: bad rows are named by line and never sent.
  const parser = compileRowParser(ds);
  const events = format === 'csv' ? csvEvents(text, ds, where) : ndjsonEvents(text);
  const good: string[] = [];
  const refused: Summary['refused_rows'] = [];
  for (const e of events) {
    const reason = e.error ?? rowProblem(parser.parse(e.text));
    if (reason === undefined) good.push(e.text);
    else refused.push({ line: e.line, reason });
  }

  const summary: Summary = {
    datasource: name,
    via: 'none',
    target: '',
    rows: events.length,
    sent: 0,
    refused: refused.length,
    duplicates: null,
    quarantined: null,
    refused_rows: refused,
    ms: 0,
  };
  if (!ctx.json) {
    for (const r of refused.slice(0, REFUSED_SHOWN))
      io.err(paint(io, 'red', `${where}:${r.line}: ${r.reason}`));
    if (refused.length > REFUSED_SHOWN)
      io.err(paint(io, 'red', `... and ${refused.length - REFUSED_SHOWN} more refused rows`));
  }
  if (good.length > 0 && !ctx.flags['dry-run']) await send(ctx, project, ds, good, summary);
  summary.ms = Math.round(performance.now() - t0);
  printSummary(ctx, summary, Boolean(ctx.flags['dry-run']));
  return refused.length > 0 ? 1 : 0;
}

function inputFormat(ctx: CommandContext, file: string | undefined): InputFormat {
  const given = ctx.flags.format;
  if (given === undefined) return file?.toLowerCase().endsWith('.csv') ? 'csv' : 'ndjson';
  if (given === 'ndjson' || given === 'csv') return given;
  throw new TallyError('bad-flag', `--format must be ndjson or csv (got \`${String(given)}\`)`);
}

function readInput(path: string): string {
  try {
    return utf8Text(readFileSync(path), path);
  } catch (err) {
    if (err instanceof TallyError) throw err;
    throw new TallyError(
      'unreadable-file',
      `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) {
    throw new TallyError('no-input', 'no rows: give --file F, or pipe NDJSON or CSV on stdin');
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return utf8Text(Buffer.concat(chunks), 'stdin');
}

/** The rows as text; bytes that are not UTF-8 are refused at their line, not read as U+FFFD. */
function utf8Text(bytes: Buffer, where: string): string {
  const f = utf8Fault(bytes);
  if (!f) return bytes.toString('utf8');
  throw new TallyError(
    'not-utf8',
    `the rows are not valid UTF-8: line ${f.line}, byte ${f.byteOfLine} (0x${f.hex}); save them as UTF-8 (e.g. iconv -f latin1 -t utf-8)`,
    { location: { file: where, line: f.line, col: f.byteOfLine } },
  );
}

function rowProblem(row: ReturnType<ReturnType<typeof compileRowParser>['parse']>): string | undefined {
  if (row.ok) return undefined;
  return row.problems.map((p) => (p.column ? `${p.column}: ${p.message}` : p.message)).join('; ');
}

/** Kafka when the data source has a topic and a broker answers; else ClickHouse through ingestion. */
async function send(
  ctx: CommandContext,
  project: Project,
  ds: DataSource,
  rows: string[],
  s: Summary,
): Promise<void> {
  const config = project.config;
  // --no-kafka: the topic is another project's, or nobody reads it (`tally dev --no-kafka`).
  let kafka =
    ds.kafka && !ctx.flags['no-kafka'] && (await kafkaReachable(config.kafka.brokers))
      ? config.kafka
      : undefined;
  if (kafka && ds.kafka && !(await topicExists(kafka, ds.kafka.topic))) {
    // A topic nobody created yet: write through ClickHouse rather than create it.
    s.note = `Kafka topic ${ds.kafka.topic} does not exist on ${kafka.brokers.join(', ')}; written through ClickHouse`;
    kafka = undefined;
  }
  let engine: Engine;
  try {
    engine = await openEngine(config);
  } catch (err) {
    // The embedded engine opens one data folder per process: `tally dev` may hold it. It says
    // where it listens (clickhouse/folder-server.ts); else it may be on the configured port.
    if (!config.clickhouse.url && isTallyError(err) && err.code.startsWith('embedded')) {
      const urls = [
        ...new Set([
          serverUrlFor(config.clickhouse.embeddedPath),
          `http://${config.server.host}:${config.server.port}`,
        ]),
      ].filter((u): u is string => u !== undefined);
      for (const url of urls) {
        if (await answers(`${url}/health`)) {
          // The server writes them (wait=true: straight to ClickHouse): say that, not the above.
          delete s.note;
          return sendToServer(ctx, config, url, ds, rows, s);
        }
      }
      if (err.code === 'embedded-busy') {
        throw new TallyError(err.code, err.message, {
          exitCode: 2,
          cause: err,
          hint: `no Tally server answered at ${urls.join(' or ')}: stop the process that holds the folder, or start \`tally dev\` and append while it runs`,
        });
      }
    }
    throw err;
  }
  let ingestion: Ingestion | undefined;
  try {
    ingestion = await startIngestion(project, engine, kafka, { consume: false, datasources: [ds.name] });
    if (!ingestion.datasourceNames().includes(ds.name)) {
      const why = ingestion.stats().datasources.find((d) => d.name === ds.name)?.error;
      throw new TallyError(
        'ingest-unavailable',
        `data source \`${ds.name}\` takes no events: ${why ?? 'not ready'}`,
      );
    }
    const viaKafka = kafka !== undefined && ingestion.viaKafka(ds.name);
    const bar = progress(ctx, rows.length);
    for (let i = 0; i < rows.length; i += CHUNK) {
      const chunk = rows.slice(i, i + CHUNK);
      if (viaKafka) {
        await ingestion.produce(ds.name, chunk);
        s.sent += chunk.length;
        bar(i + chunk.length);
        continue;
      }
      const r = await ingestion.append(ds.name, chunk, {
        requestId: `tally-append:${process.pid}:${i}`,
        source: 'append',
      });
      s.sent += r.successful_rows;
      s.duplicates = (s.duplicates ?? 0) + r.duplicate_rows;
      s.quarantined = (s.quarantined ?? 0) + r.quarantined_rows;
      bar(i + chunk.length);
    }
    s.via = viaKafka ? 'kafka' : 'clickhouse';
    s.target = viaKafka ? `Kafka topic ${ds.kafka!.topic}` : `${ds.name} on ${engine.description}`;
    bar(-1);
  } finally {
    await ingestion?.stop();
    await engine.close();
  }
}

/** Through a running Tally's events API (`POST /v0/events?wait=true`): stored when it answers. */
async function sendToServer(
  ctx: CommandContext,
  config: Config,
  url: string,
  ds: DataSource,
  rows: string[],
  s: Summary,
): Promise<void> {
  const token = config.tokens.find(
    (t) =>
      t.scope === 'admin' || (t.scope === 'append' && (!t.datasources || t.datasources.includes(ds.name))),
  );
  s.via = 'events-api';
  // wait=true stores them at once: a data source's topic never sees them, nor its other readers.
  const topic = ds.kafka && !ctx.flags['no-kafka'] ? ds.kafka.topic : undefined;
  s.target = `${ds.name} through the Tally server at ${url}${topic ? `, stored directly (not written to Kafka topic ${topic})` : ''}`;
  if (topic) {
    s.note = `to write events to topic ${topic} instead: run \`tally append\` while no Tally server holds the embedded engine, or POST them to ${url}/v0/events?name=${encodeURIComponent(ds.name)} without wait=true (a server that reads the topic produces them to it)`;
  }
  s.duplicates = 0;
  s.quarantined = 0;
  const bar = progress(ctx, rows.length);
  // The server refuses a body over its max_request_bytes (413): wide rows fill it before CHUNK.
  const maxBytes = config.ingest.maxRequestBytes ?? INGEST_DEFAULTS.maxRequestBytes;
  for (let i = 0; i < rows.length; ) {
    const chunk = takeRows(rows, i, CHUNK, maxBytes);
    i += chunk.length;
    const res = await fetch(`${url}/v0/events?name=${encodeURIComponent(ds.name)}&wait=true`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-ndjson',
        ...(token ? { authorization: `Bearer ${token.value}` } : {}),
      },
      body: `${chunk.join('\n')}\n`,
    });
    const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok) {
      throw new TallyError(
        'append-failed',
        `the Tally server at ${url} answered ${res.status}: ${String(body.error ?? '')}`,
        {
          exitCode: res.status < 500 ? 1 : 2,
          hint:
            s.sent > 0
              ? `${s.sent} rows were stored before; appending them again is harmless with a dedup_key`
              : undefined,
        },
      );
    }
    s.sent += Number(body.successful_rows ?? 0);
    s.duplicates += Number(body.duplicate_rows ?? 0);
    s.quarantined += Number(body.quarantined_rows ?? 0);
    bar(i);
  }
  bar(-1);
}

/**
 * Rows from `from` on, at most `maxRows` of them and, as NDJSON lines, at most `maxBytes` (one
 * row at least, so a row too big alone gets the server's own answer).
 */
export function takeRows(rows: readonly string[], from: number, maxRows: number, maxBytes: number): string[] {
  let bytes = 0;
  let end = from;
  while (end < rows.length && end - from < maxRows) {
    const size = Buffer.byteLength(rows[end]!) + 1;
    if (end > from && bytes + size > maxBytes) break;
    bytes += size;
    end++;
  }
  return rows.slice(from, end);
}

/** Whether the broker has the topic (producing to a missing one only retries until a timeout). */
async function topicExists(config: KafkaConfig, topic: string): Promise<boolean> {
  const { Kafka, logLevel } = await import('kafkajs');
  const kafka = new Kafka({
    ...kafkajsConfig(logLevel, config, () => {}),
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    retry: { retries: 1 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    return (await admin.listTopics()).includes(topic);
  } catch (err) {
    // Refused for its credentials or TLS: say which setting, rather than retry the produce.
    const hint = kafkaRefusal(err);
    if (hint) {
      throw new TallyError(
        'kafka-refused',
        `Kafka at ${config.brokers.join(', ')} refused Tally: ${(err as Error).message}`,
        {
          exitCode: 2,
          hint,
        },
      );
    }
    return true; // unknown: let the produce say what is wrong
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.body?.cancel();
    return res.status < 500;
  } catch {
    return false;
  }
}

/** A progress bar on stderr, only on a terminal and for big inputs; `done < 0` clears it. */
function progress(ctx: CommandContext, total: number): (done: number) => void {
  if (ctx.json || total < PROGRESS_MIN || !process.stderr.isTTY) return () => {};
  const width = 30;
  const t0 = performance.now();
  return (done) => {
    if (done < 0) {
      process.stderr.write('\r\u001b[K');
      return;
    }
    const f = Math.min(1, done / total);
    const filled = Math.round(f * width);
    const rate = done / Math.max(0.001, (performance.now() - t0) / 1000);
    process.stderr.write(
      `\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.round(f * 100)}% ${done.toLocaleString('en')}/${total.toLocaleString('en')} rows, ${Math.round(rate).toLocaleString('en')}/s`,
    );
  };
}

function printSummary(ctx: CommandContext, s: Summary, dryRun: boolean): void {
  const { io } = ctx;
  if (ctx.json) {
    io.out(JSON.stringify({ ...s, dry_run: dryRun }, null, 2));
    return;
  }
  const parts = [`${s.sent} sent`, `${s.refused} refused`];
  if (s.duplicates !== null) parts.push(`${plural(s.duplicates, 'duplicate')} dropped`);
  if (s.quarantined) parts.push(`${s.quarantined} quarantined`);
  const rows = plural(s.rows, 'row');
  if (dryRun) {
    const ok = s.refused === 0;
    io.out(
      paint(
        io,
        ok ? 'green' : 'red',
        `${ok ? '✓' : '✗'} dry run: ${rows} checked, ${s.rows - s.refused} good, ${s.refused} refused; nothing sent`,
      ),
    );
    return;
  }
  // Through a server, the note is what to do next, not a warning about what is to come.
  const noteAfter = s.via === 'events-api';
  if (s.note && !noteAfter) io.out(paint(io, 'yellow', s.note));
  const to = s.via === 'none' ? s.datasource : s.target;
  const ok = s.refused === 0;
  io.out(
    paint(io, ok ? 'green' : 'red', `${ok ? '✓' : '✗'} ${rows} to ${to}: ${parts.join(', ')} (${s.ms} ms)`),
  );
  if (s.via === 'kafka') {
    io.out(
      paint(io, 'dim', 'the consumer stores them (and drops duplicates on dedup_key) as it reads the topic'),
    );
  }
  if (s.note && noteAfter) io.out(paint(io, 'dim', s.note));
}
