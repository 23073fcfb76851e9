/**
 * `POST /v0/events?name=<data source>[&wait=true]`: NDJSON events (optionally gzip), one per line.
 * - `wait=true`, or a data source without a Kafka topic (or no Kafka configured): the events are
 *   parsed, deduplicated, stored (bad ones quarantined) and the answer is 200
 *   `{ successful_rows, quarantined_rows, duplicate_rows }` once they are in ClickHouse.
 * - otherwise: the events are sent to the data source's topic and the answer is 202
 *   `{ accepted_rows }` once Kafka has them (acks=all); the Kafka ingester stores them.
 * Nothing is acknowledged before it is durable: on failure the answer is 503 and the client
 * retries (with a dedup_key, retrying is harmless).
 */

import { randomUUID } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { INGEST_DEFAULTS } from '../config/ingest-defaults.ts';
import { isTallyError } from '../errors.ts';
import type { Ingestion } from '../ingest/ingestion.ts';
import { kafkaRefusal } from '../ingest/kafka-security-hint.ts';
import { didYouMean } from '../util/did-you-mean.ts';
import { withoutBom } from '../util/without-bom.ts';
import { presentedToken } from './auth.ts';
import { HttpError } from './http-error.ts';

export interface EventsRouteDeps {
  /** The running ingestion; undefined while it starts (answered with 503). */
  ingestion: () => Ingestion | undefined;
  /** Throws HttpError 401/403 when the token may not append to the data source (TokenAuth.check). */
  check: (presented: string | undefined, access: { kind: 'append'; datasource: string }) => unknown;
  /** Largest body accepted, compressed and decompressed (default 10 MiB); above it: 413. */
  maxBodyBytes?: number;
}

export const DEFAULT_MAX_EVENTS_BODY = INGEST_DEFAULTS.maxRequestBytes;

export function registerEventsRoute(app: Hono, deps: EventsRouteDeps): void {
  const max = deps.maxBodyBytes ?? DEFAULT_MAX_EVENTS_BODY;

  app.post('/v0/events', async (c) => {
    const name = c.req.query('name');
    if (!name) throw new HttpError(400, 'name the data source: POST /v0/events?name=<data source>');
    deps.check(presentedToken(c.req.header('authorization'), c.req.query('token')), {
      kind: 'append',
      datasource: name,
    });
    const ingestion = deps.ingestion();
    if (!ingestion) throw new HttpError(503, 'ingestion is starting; retry in a moment');
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

    const events = splitLines(await readBody(c, max));
    const wait = ['true', '1'].includes(c.req.query('wait') ?? '');
    try {
      if (!wait && ingestion.viaKafka(name)) {
        return c.json(await ingestion.produce(name, events), 202);
      }
      const requestId = c.req.header('x-request-id') ?? randomUUID();
      return c.json(await ingestion.append(name, events, { requestId, source: 'http' }), 200);
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
  });

  app.all('/v0/events', (c) =>
    c.json({ error: `method ${c.req.method} not allowed; use POST` }, 405, { Allow: 'POST' }),
  );
}

/** The body as text, decompressed, refused with 413 above `max` bytes (before or after gunzip). */
async function readBody(c: Context, max: number): Promise<string> {
  const declared = Number(c.req.header('content-length'));
  if (declared > max) throw tooLarge(max);
  let stream = c.req.raw.body;
  if (!stream) return '';
  const encoding = (c.req.header('content-encoding') ?? '').trim().toLowerCase();
  if (encoding === 'gzip' || encoding === 'x-gzip') {
    stream = stream.pipeThrough(
      new DecompressionStream('gzip') as unknown as TransformStream<Uint8Array, Uint8Array>,
    );
  } else if (encoding !== '' && encoding !== 'identity') {
    throw new HttpError(400, `Content-Encoding \`${encoding}\` is not supported; send gzip or plain NDJSON`);
  }
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > max) {
        await reader.cancel().catch(() => {});
        throw tooLarge(max);
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw new HttpError(
      400,
      `the body could not be read${encoding ? ` as ${encoding}` : ''}: ${(err as Error).message}`,
    );
  }
  return Buffer.concat(chunks).toString('utf8');
}

function tooLarge(max: number): HttpError {
  return new HttpError(413, `the body is larger than ${max} bytes; send the events in smaller requests`);
}

/** NDJSON lines; blank lines (and a final newline) are not events, a leading byte-order mark is no text. */
function splitLines(body: string): string[] {
  const out: string[] = [];
  for (const line of withoutBom(body).split('\n')) {
    const l = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (l.trim() !== '') out.push(l);
  }
  return out;
}
