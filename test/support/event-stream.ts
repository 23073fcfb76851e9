/**
 * A seeded random event stream for the example project, as producers would send it to Kafka:
 * bank transactions for a few hundred accounts (v1 events in integer cents, v2 and unversioned
 * events in decimal amounts), subscription lifecycles and shop sessions, with
 *   - duplicates: the same event id sent again later (mostly byte for byte; some transactions in
 *     the other version's form, same money; a few with a different amount, where the first
 *     delivery must win),
 *   - late events: an event sent long after events with later timestamps,
 *   - malformed events: bad JSON, wrong types, a v1 amount that is not whole cents, unknown or
 *     missing versions... each with the quarantine reason it must get.
 * The stream is data only; test/support/event-stream-model.ts folds it independently of Tally.
 */
import { SeededRandom } from './seeded-random.ts';

export interface StreamMessage {
  /** The Kafka key: the event's id, so copies of one event land in one partition, in order. */
  key: string;
  value: string;
  /** `malformed`: must be quarantined with `reason`; the others are events a fold reads. */
  kind: 'event' | 'duplicate' | 'late' | 'malformed';
  reason?: RegExp;
}

export interface EventStream {
  seed: number;
  transactions: StreamMessage[];
  subscriptions: StreamMessage[];
  pages: StreamMessage[];
  /** Epoch seconds of the first and last event time. */
  from: number;
  to: number;
}

export interface StreamOptions {
  accounts?: number;
  subscriptions?: number;
  sessions?: number;
}

const FROM = Date.UTC(2024, 0, 1) / 1000;
const TO = Date.UTC(2024, 5, 30, 23, 59, 59) / 1000;
const TYPES = ['payment', 'payment', 'payment', 'withdrawal', 'fee', 'refund'];
const PLANS = ['free', 'premium', 'enterprise'];
const PAGES = [
  '/',
  '/new',
  '/popular',
  '/sale',
  '/category/shirts',
  '/category/shoes',
  '/product/a1',
  '/product/b2',
];

/** `YYYY-MM-DD hh:mm:ss` (UTC) of epoch seconds. */
export function dateTimeText(seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(0, 19).replace('T', ' ');
}

/** Cents as the decimal text of a v2 amount: -1234 -> `-12.34`. */
export function centsText(cents: number): string {
  const abs = Math.abs(cents);
  return `${cents < 0 ? '-' : ''}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

export function generateEventStream(seed: number, opts: StreamOptions = {}): EventStream {
  const rng = new SeededRandom(seed);
  return {
    seed,
    transactions: transactions(rng, opts.accounts ?? 200),
    subscriptions: subscriptions(rng, opts.subscriptions ?? 150),
    pages: pages(rng, opts.sessions ?? 120),
    from: FROM,
    to: TO,
  };
}

interface Timed {
  at: number;
  key: string;
  value: string;
  /** Another form of the same event (transactions: the other version), for re-sends. */
  alternative?: string;
  /** The same id with different content (a producer bug): the first delivery wins. */
  conflicting?: string;
}

/**
 * Arrival order: by event time, then some events moved far later (late), copies of some sent
 * again later (duplicates), and the malformed ones scattered in.
 */
function deliver(
  rng: SeededRandom,
  events: Timed[],
  malformed: StreamMessage[],
  dupRate: number,
): StreamMessage[] {
  const sorted = [...events].sort((a, b) => a.at - b.at);
  const out: StreamMessage[] = [];
  const lateOnes: Timed[] = [];
  for (const e of sorted) {
    if (rng.chance(0.05)) lateOnes.push(e);
    else out.push({ key: e.key, value: e.value, kind: 'event' });
  }
  for (const e of lateOnes) {
    // Into the last fifth of the stream: after events whose times are later than its own.
    out.splice(rng.int(Math.floor(out.length * 0.8), out.length), 0, {
      key: e.key,
      value: e.value,
      kind: 'late',
    });
  }
  const copies: StreamMessage[] = [];
  for (const e of sorted) {
    if (!rng.chance(dupRate)) continue;
    const roll = rng.next();
    const value =
      roll < 0.1 && e.conflicting ? e.conflicting : roll < 0.35 && e.alternative ? e.alternative : e.value;
    copies.push({ key: e.key, value, kind: 'duplicate' });
  }
  for (const c of copies) {
    // After the original (same key, so same partition: the original is delivered first).
    const first = out.findIndex((m) => m.key === c.key);
    out.splice(rng.int(first + 1, out.length), 0, c);
  }
  for (const m of malformed) out.splice(rng.int(0, out.length), 0, m);
  return out;
}

function transactions(rng: SeededRandom, accounts: number): StreamMessage[] {
  const ids = new Set<string>();
  while (ids.size < accounts) ids.add(rng.hex(8));
  const events: Timed[] = [];
  let n = 0;
  for (const account of ids) {
    const count = rng.int(8, 30);
    for (let i = 0; i < count; i++) {
      const id = `tx-${seedTag(rng)}-${n++}`;
      const type = i === 0 ? 'deposit' : rng.pick(TYPES);
      const magnitude = rng.int(1, i === 0 ? 500_000 : 60_000);
      const cents = type === 'deposit' || type === 'refund' ? magnitude : -magnitude;
      const at = rng.int(FROM, TO);
      const base: Record<string, unknown> = {
        transaction_id: id,
        timestamp: dateTimeText(at),
        account_id: account,
        type,
      };
      if (rng.chance(0.9)) base.currency = 'USD';
      if (rng.chance(0.5)) base.merchant = rng.pick(['Whole Foods', 'Shell', 'Amazon', null]);
      const v1 = json({ ...base, version: 1, amount_cents: cents });
      const v2 = json({ ...base, version: 2 }, centsText(cents));
      const plain = rng.chance(0.15)
        ? json({ ...base, amount: centsText(cents) })
        : json(base, centsText(cents));
      const roll = rng.next();
      const value = roll < 0.35 ? v1 : roll < 0.65 ? v2 : plain;
      const other = cents + rng.int(1, 999);
      events.push({
        at,
        key: id,
        value,
        alternative: value === v1 ? v2 : v1,
        conflicting: json({ ...base, version: 1, amount_cents: other }),
      });
    }
  }
  const bad = (k: number, value: string, reason: RegExp): StreamMessage => ({
    key: `bad-${k}`,
    value,
    kind: 'malformed',
    reason,
  });
  const good = (k: number) => ({
    transaction_id: `bad-${k}`,
    timestamp: dateTimeText(rng.int(FROM, TO)),
    account_id: [...ids][k % ids.size],
    type: 'payment',
  });
  const malformed: StreamMessage[] = [];
  for (let k = 0; k < 60; k++) {
    const e = good(k);
    switch (k % 8) {
      case 0:
        malformed.push(bad(k, json(e, '-1.00').slice(0, -9), /^event: malformed JSON/));
        break;
      case 1:
        malformed.push(bad(k, json({ ...e, version: 2, amount: 'twelve' }), /^amount: expected a number/));
        break;
      case 2:
        malformed.push(
          bad(k, json({ ...e, timestamp: 'yesterday' }, '-1.00'), /^timestamp: expected a date and time/),
        );
        break;
      case 3:
        malformed.push(
          bad(
            k,
            json({ ...e, version: 1, amount_cents: 1250.5 }),
            /^amount: version 1 \(\$\.amount_cents = 1250\.5, shift -2 -> 12\.505\): Decimal\(18, 2\) takes at most 2 digits/,
          ),
        );
        break;
      case 4:
        malformed.push(
          bad(
            k,
            json({ ...e, version: 3, amount: { value: '-1.00' } }),
            /^event: unknown event version 3 at \$\.version \(known versions: 1, 2\)$/,
          ),
        );
        break;
      case 5:
        malformed.push(
          bad(k, json({ ...e, version: 'v9' }, '-1.00'), /^event: unknown event version "v9" at \$\.version/),
        );
        break;
      case 6: {
        const { account_id: _drop, ...rest } = e;
        malformed.push(bad(k, json(rest, '-1.00'), /^account_id: missing/));
        break;
      }
      default:
        malformed.push(
          bad(
            k,
            json({ ...e, version: 1, amount: 100 }),
            /^amount: version 1 reads \$\.amount_cents: missing/,
          ),
        );
    }
  }
  return deliver(rng, events, malformed, 0.08);
}

function subscriptions(rng: SeededRandom, count: number): StreamMessage[] {
  const events: Timed[] = [];
  let n = 0;
  for (let s = 0; s < count; s++) {
    const subscription = 100_000 + s * 7 + rng.int(0, 6);
    const user = rng.int(1_000_000, 9_999_999);
    let plan = rng.pick(PLANS);
    let at = rng.int(FROM, FROM + 60 * 86_400);
    const push = (name: string) => {
      const id = `se-${seedTag(rng)}-${n++}`;
      const value = json({
        event_id: id,
        timestamp: dateTimeText(at),
        event_name: `subscription_${name}`,
        subscription_id: subscription,
        user_id: user,
        plan,
      });
      events.push({ at, key: id, value });
    };
    push('created');
    const changes = rng.int(0, 6);
    for (let i = 0; i < changes; i++) {
      // One change in six in the same second as the one before: the pipes order them by event_id.
      if (rng.int(0, 5) > 0) at += rng.int(3_600, 20 * 86_400);
      const name = rng.pick([
        'updated',
        'payment_rejected',
        'suspended',
        'reactivated',
        'updated',
        'deleted',
      ]);
      if (name === 'updated') plan = rng.pick(PLANS);
      push(name);
      if (name === 'deleted') break;
    }
  }
  const malformed: StreamMessage[] = [];
  for (let k = 0; k < 15; k++) {
    const e = {
      event_id: `bad-se-${k}`,
      timestamp: dateTimeText(rng.int(FROM, TO)),
      event_name: 'subscription_deleted',
      subscription_id: 100_000 + k * 7,
      user_id: 1,
      plan: 'free',
    };
    const [value, reason] =
      k % 3 === 0
        ? [json({ ...e, subscription_id: 'abc' }), /^subscription_id: expected an integer/]
        : k % 3 === 1
          ? [json({ ...e, timestamp: 'not a time' }), /^timestamp: expected a date and time/]
          : [`${json(e).slice(0, 20)}`, /^event: malformed JSON/];
    malformed.push({ key: e.event_id, value, kind: 'malformed', reason });
  }
  return deliver(rng, events, malformed, 0.08);
}

function pages(rng: SeededRandom, sessions: number): StreamMessage[] {
  const events: Timed[] = [];
  let n = 0;
  for (let s = 0; s < sessions; s++) {
    const session = rng.hex(12);
    const user = `u_${rng.hex(6)}`;
    let at = rng.int(FROM, TO - 86_400);
    const views = rng.int(1, 6);
    const push = (e: Record<string, unknown>) => {
      const id = `pe-${seedTag(rng)}-${n++}`;
      events.push({
        at,
        key: id,
        value: json({ event_id: id, timestamp: dateTimeText(at), session_id: session, user_id: user, ...e }),
      });
    };
    for (let v = 0; v < views; v++) {
      at += rng.int(1, 600);
      push({ action: 'ViewPage', url: `https://shop.example${rng.pick(PAGES)}` });
    }
    at += rng.int(1, 600);
    push({ action: 'AddToCart', item_id: rng.hex(10) });
  }
  const malformed: StreamMessage[] = [];
  for (let k = 0; k < 6; k++) {
    malformed.push({
      key: `bad-pe-${k}`,
      value: `{"event_id":"bad-pe-${k}","timestamp":`,
      kind: 'malformed',
      reason: /^event: malformed JSON/,
    });
  }
  return deliver(rng, events, malformed, 0.05);
}

/** Event ids differ between runs (topics are new, the seen tables too; this is belt and braces). */
function seedTag(rng: SeededRandom): string {
  return (rng.seed % 1_000_000).toString(36);
}

/** Compact JSON of an event, with `amount` appended as a JSON number written exactly (`12.30`). */
function json(event: Record<string, unknown>, amount?: string): string {
  const text = JSON.stringify(event);
  return amount === undefined ? text : `${text.slice(0, -1)},"amount":${amount}}`;
}
