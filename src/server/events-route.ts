/**
 * `POST /v0/events?name=<data source>[&wait=true]`: NDJSON events (optionally gzip), one per line.
 * - `wait=true`, or a data source without a Kafka topic (or no Kafka configured): the events are
 *   parsed, deduplicated, stored (bad ones quarantined) and the answer is 200
 *   `{ successful_rows, quarantined_rows, duplicate_rows }` once they are in ClickHouse.
 * - otherwise: the events are sent to the data source's topic and the answer is 202
 *   `{ accepted_rows }` once Kafka has them (acks=all); the Kafka ingester stores them.
 * Nothing is acknowledged before it is durable: on failure the answer is 503 and the client
 * retries (with a dedup_key, retrying is harmless). An empty request touches neither. Bodies in
 * flight share a per-process budget (body-budget.ts): past it, 503 with Retry-After, unread.
 */

import type { Context, Hono } from 'hono';
import { INGEST_DEFAULTS } from '../config/ingest-defaults.ts';
import { isTallyError } from '../errors.ts';
import type { Ingestion } from '../ingest/ingestion.ts';
import { kafkaRefusal } from '../ingest/kafka-security-hint.ts';
import { didYouMean } from '../util/did-you-mean.ts';
import { settledWithin } from '../util/settled-within.ts';
import { type Utf8Fault, utf8Fault } from '../util/utf8-offset.ts';
import { withoutBom } from '../util/without-bom.ts';
import { requestToken } from './auth.ts';
import { BodyBudget, CHUNKED_FIRST_BYTES, defaultBodyBudget, type Reservation } from './body-budget.ts';
import { HttpError } from './http-error.ts';
import { settleRequestId } from './request-tracker.ts';

export interface EventsRouteDeps {
  /**
   * The running ingestion; while it (re)starts, a promise of it, which a request waits for (at
   * most `startWaitMs`), or undefined (answered with 503 and Retry-After at once).
   */
  ingestion: () => Ingestion | undefined | Promise<Ingestion | undefined>;
  /** How long a request waits for an ingestion that is starting (default 5 s). */
  startWaitMs?: number;
  /** Throws HttpError 401/403 when the token may not append to the data source (TokenAuth.check). */
  check: (presented: string | undefined, access: { kind: 'append'; datasource: string }) => unknown;
  /** Largest body accepted, compressed and decompressed (default 10 MiB); above it: 413. */
  maxBodyBytes?: number;
  /**
   * Body bytes all requests may hold at once (default `defaultBodyBudget(maxBodyBytes)`); a request
   * that does not fit is answered 503 with Retry-After instead of read. A BodyBudget: that one.
   */
  bodyBudget?: number | BodyBudget;
}

export const DEFAULT_MAX_EVENTS_BODY = INGEST_DEFAULTS.maxRequestBytes;
const START_WAIT_MS = 5_000;

/** The ingestion, waiting up to `ms` for one that is starting (a dev reload rebuilds it). */
async function ready(
  i: Ingestion | undefined | Promise<Ingestion | undefined>,
  ms: number,
): Promise<Ingestion | undefined> {
  return i instanceof Promise && !(await settledWithin(i, ms)) ? undefined : i;
}

export function registerEventsRoute(app: Hono, deps: EventsRouteDeps): void {
  const max = deps.maxBodyBytes ?? DEFAULT_MAX_EVENTS_BODY;
  const budget =
    deps.bodyBudget instanceof BodyBudget
      ? deps.bodyBudget
      : new BodyBudget(deps.bodyBudget ?? defaultBodyBudget(max));

  app.post('/v0/events', async (c) => {
    const name = c.req.query('name');
    if (!name) throw new HttpError(400, 'name the data source: POST /v0/events?name=<data source>');
    deps.check(requestToken(c), {
      kind: 'append',
      datasource: name,
    });
    const ingestion = await ready(deps.ingestion(), deps.startWaitMs ?? START_WAIT_MS);
    if (!ingestion) {
      throw new HttpError(503, 'ingestion is starting; retry in a moment', undefined, {
        'Retry-After': '1',
      });
    }
    if (!ingestion.datasourceNames().includes(name)) {
      const known = ingestion.stats().datasources.find((d) => d.name === name);
      // As declared it can never take events (aggregate states...): retrying does not help.
      if (known?.errorCode === 'ingest-unsupported')
        throw new HttpError(422, `data source \`${name}\` takes no events: ${known.error}`);
      if (known)
        throw new HttpError(503, `data source \`${name}\` takes no events: ${known.error ?? 'not ready'}`);
      throw new HttpError(
        404,
        `no data source named \`${name}\`${didYouMean(name, ingestion.datasourceNames())}`,
      );
    }

    const declared = Number(c.req.header('content-length'));
    if (declared > max) throw tooLarge(max);
    // Reserved before the body is read, released once the answer is decided, whatever it is.
    const reservation = budget.reserve(
      Number.isSafeInteger(declared) && declared >= 0 ? declared : Math.min(max, CHUNKED_FIRST_BYTES),
    );
    if (!reservation) throw tooBusy(budget);
    try {
      return await answer(c, ingestion, name, await readBody(c, max, reservation, budget));
    } finally {
      reservation.release();
    }
  });

  async function answer(c: Context, ingestion: Ingestion, name: string, body: Buffer): Promise<Response> {
    const events = splitLines(body);
    const viaKafka = !['true', '1'].includes(c.req.query('wait') ?? '') && ingestion.viaKafka(name);
    // Nothing to store: no flush, so no ops-log row that would make the data source look fresh.
    if (events.length === 0) {
      return viaKafka
        ? c.json({ accepted_rows: 0 }, 202)
        : c.json({ successful_rows: 0, quarantined_rows: 0, duplicate_rows: 0 }, 200);
    }
    try {
      if (viaKafka) return c.json(await ingestion.produce(name, events), 202);
      return c.json(await ingestion.append(name, events, { requestId: requestId(c), source: 'http' }), 200);
    } catch (err) {
      if (err instanceof HttpError) throw err;
      if (isTallyError(err) && err.code === 'event-too-large') throw new HttpError(413, err.message);
      if (isTallyError(err) && err.code === 'ingest-needs-kafka') throw new HttpError(422, err.message);
      if (isTallyError(err) && err.code === 'kafka-topic-missing') {
        throw new HttpError(
          503,
          `the events were not acknowledged: ${err.message}; create the topic, or send with wait=true to write them straight to ClickHouse`,
        );
      }
      const message = isTallyError(err) ? err.message : String((err as Error)?.message ?? err);
      // Refused for Tally's own Kafka settings: retrying will not help until they change.
      const refused = kafkaRefusal(err);
      throw new HttpError(
        503,
        refused
          ? `the events were not acknowledged: ${message} (${refused}); send with wait=true to write them straight to ClickHouse`
          : `the events were not acknowledged: ${message}; retry (with a dedup_key retrying is harmless)`,
      );
    }
  }

  app.all('/v0/events', (c) =>
    c.json({ error: `method ${c.req.method} not allowed; use POST` }, 405, { Allow: 'POST' }),
  );
}

/**
 * The body's bytes, decompressed, refused with 413 above `max` bytes (as received and once
 * decompressed), 503 when `reservation` cannot grow to cover them, 400 when not UTF-8.
 */
async function readBody(
  c: Context,
  max: number,
  reservation: Reservation,
  budget: BodyBudget,
): Promise<Buffer> {
  const raw = c.req.raw.body;
  if (!raw) return Buffer.alloc(0);
  const encoding = (c.req.header('content-encoding') ?? '').trim().toLowerCase();
  const gzip = encoding === 'gzip' || encoding === 'x-gzip';
  if (!gzip && encoding !== '' && encoding !== 'identity') {
    throw new HttpError(400, `Content-Encoding \`${encoding}\` is not supported; send gzip or plain NDJSON`);
  }
  // What arrives is counted before gunzip too: trailing bytes it skips, or deflate blocks that
  // inflate to nothing, would otherwise stream in unbounded. (A zero-filled tail after the gzip
  // member is consumed silently by DecompressionStream, so it cannot be refused with 400 here;
  // other trailing bytes fail as a bad gzip header: 400. The count bounds both.)
  let refusal: HttpError | undefined;
  let received = 0;
  let stream = raw;
  if (gzip) {
    const counted = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctl) {
        received += chunk.byteLength;
        if (received > max) {
          refusal = tooLarge(max);
          ctl.error(refusal);
        } else ctl.enqueue(chunk);
      },
    });
    stream = raw
      .pipeThrough(counted)
      .pipeThrough(new DecompressionStream('gzip') as unknown as TransformStream<Uint8Array, Uint8Array>);
  }
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > max) refusal = tooLarge(max);
      else if (!reservation.cover(total)) refusal = tooBusy(budget);
      if (refusal) {
        await reader.cancel().catch(() => {});
        throw refusal;
      }
      chunks.push(value);
    }
  } catch (err) {
    if (refusal) throw refusal;
    if (err instanceof HttpError) throw err;
    throw new HttpError(
      400,
      `the body could not be read${encoding ? ` as ${encoding}` : ''}: ${(err as Error).message}`,
    );
  }
  if (refusal) throw refusal;
  const body = Buffer.concat(chunks);
  const fault = utf8Fault(body);
  if (fault) throw notUtf8(fault, gzip);
  return body;
}

function tooLarge(max: number): HttpError {
  return new HttpError(413, `the body is larger than ${max} bytes; send the events in smaller requests`);
}

function tooBusy(budget: BodyBudget): HttpError {
  // The body is not read: the connection cannot carry another request.
  return new HttpError(
    503,
    `the server is taking in too much at once (request bodies in flight are at their limit of ${budget.capacity} bytes); retry after a second, or send fewer requests at once`,
    {},
    { 'retry-after': '1', connection: 'close' },
  );
}

/** 400 naming the first byte that is not UTF-8 (rather than storing U+FFFD in its place). */
function notUtf8(f: Utf8Fault, gzip: boolean): HttpError {
  return new HttpError(
    400,
    `the body is not valid UTF-8: line ${f.line}, byte ${f.byteOfLine} of the line (0x${f.hex}, offset ${f.offset} of the ${gzip ? 'decompressed ' : ''}body); send the events as UTF-8`,
    { line: f.line, offset: f.offset },
  );
}

/** The request's id as answered in X-Request-Id (RequestTracker's, under createApp). */
function requestId(c: Context): string {
  const id = c.get('requestId');
  if (id !== undefined) return id;
  // Served without createApp's tracker: settle one the same way, and answer it.
  const settled = settleRequestId(c.req.header('x-request-id'));
  c.header('X-Request-Id', settled);
  return settled;
}

/** NDJSON lines; blank lines (and a final newline) are not events, a leading byte-order mark is no text. */
function splitLines(body: Buffer): string[] {
  const out: string[] = [];
  for (const line of withoutBom(body.toString('utf8')).split('\n')) {
    const l = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (l.trim() !== '') out.push(l);
  }
  return out;
}
