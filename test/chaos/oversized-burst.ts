// The oversized burst through the events API: bodies the server must refuse (11 MiB, a gzip
// bomb), one event above Kafka's message size, a 4 MB body of good events, then many events with
// ~5% duplicates and bad lines in bodies of ~500 KB.
import { gzipSync } from 'node:zlib';
import { badLines } from './bad-lines.ts';
import type { EventProducer } from './event-producer.ts';
import { sleep } from './tally-process.ts';

/** A status for "the connection was closed before an answer could be read". */
export const CLOSED = 0;

export interface BurstOutcome {
  events: number;
  requests: number;
  /** Statuses of the ~500 KB bodies other than 200/202, after retries. */
  refused: number[];
  badSent: number;
  badInputs: number;
  oversizedTried: number;
  oversizedRefused: number;
  bigLineStatus: number;
  fourMb: { status: number; events: number };
}

export async function oversizedBurst(
  url: string,
  producer: EventProducer,
  sizes: { events: number; bad: number },
): Promise<BurstOutcome> {
  // CLOSED: the server closed the connection while the body was still being sent (a refusal
  // that leaves no status to read: the 413 went out before the client finished writing).
  const post = (body: string | Uint8Array, headers: Record<string, string> = {}) =>
    fetch(`${url}/v0/events?name=ledger`, { method: 'POST', body, headers })
      .then(async (r) => {
        await r.arrayBuffer();
        return r.status;
      })
      .catch(() => CLOSED);
  // A client retries a 503 ("not acknowledged"); with a dedup_key that is harmless.
  const postRetrying = async (body: string) => {
    let status = 0;
    for (let attempt = 0; attempt < 5; attempt++) {
      status = await post(body);
      if (status !== 503 && status !== CLOSED) break;
      await sleep(500 * 2 ** attempt);
    }
    return status;
  };
  let oversizedRefused = 0;
  // One event above Kafka's message size limit (1 MB by default) in an otherwise good body.
  const bigLine = `{"id":"big-1","account":"acct-0","amount":1,"ts":"2024-06-01 12:00:00","pad":"${'q'.repeat(1_500_000)}"}`;
  const bigLineStatus = await post(bigLine);
  if (bigLineStatus === 413 || bigLineStatus === 400) oversizedRefused++;
  else if (bigLineStatus === 200 || bigLineStatus === 202)
    producer.expected.set('big-1', { account: 'acct-0', amount: 1 });
  // A 4 MB body of good events (within the 10 MiB limit): ids `m...`, account `acct-m`, left out
  // of the expectation; how many are stored is reported.
  const mLines: string[] = [];
  for (let i = 0; mLines.length * 80 < 4_000_000; i++) {
    mLines.push(JSON.stringify({ id: `m${i}`, account: 'acct-m', amount: 1, ts: '2024-06-01 12:00:00' }));
  }
  const fourMbStatus = await post(mLines.join('\n'));
  const refusedEarly = (status: number) => status === 413 || status === CLOSED;
  if (refusedEarly(await post('x'.repeat(11 * 1024 * 1024)))) oversizedRefused++;
  if (
    refusedEarly(await post(gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x61)), { 'content-encoding': 'gzip' }))
  )
    oversizedRefused++;
  const bad = badLines(sizes.bad);
  const lines: string[] = [];
  for (let i = 0; i < sizes.events; i++) {
    const dup = Math.random() < 0.05 ? producer.copyOfEarlier() : undefined;
    if (dup) producer.duplicates++;
    producer.sent++;
    lines.push((dup ?? producer.nextEvent()).line);
    if (i % 100 === 0 && bad.length) lines.push(bad.pop() as string);
  }
  for (const b of bad) lines.push(b);
  // In bodies of ~500 KB: a body's events go to Kafka in one produce request, and the broker
  // refuses a partition's batch above its message.max.bytes, 1 MiB by default (see Findings).
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
  return {
    events: lines.length,
    requests: statuses.length,
    refused: statuses.filter((s) => s !== 202 && s !== 200),
    badSent: sizes.bad,
    // + the 11 MiB body, the gzip bomb, the 1.5 MB event, the 4 MB body
    badInputs: sizes.bad + 4,
    oversizedTried: 3,
    oversizedRefused,
    bigLineStatus,
    fourMb: { status: fourMbStatus, events: mLines.length },
  };
}
