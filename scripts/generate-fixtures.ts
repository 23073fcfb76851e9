/**
 * Writes the example project's sample events to fixtures/<data source>.ndjson.
 *
 *   npx tsx scripts/generate-fixtures.ts
 *
 * Deterministic: a seeded PRNG and no clock, so the same script always writes the same bytes and
 * tests can recompute any expectation from the fixture files alone. Each file is in arrival order
 * (the order a Kafka consumer would see): mostly by time, with
 *   - exact duplicates (the same event, byte for byte, delivered again a little later), and
 *   - late events (an event whose timestamp is hours or days older than its neighbours').
 * Timestamps are `YYYY-MM-DD hh:mm:ss` in UTC; amounts are JSON numbers with two decimals.
 *
 * The talk's own examples are in the data, so docs and tests can quote them:
 *   - account 6ad87cf1: +5000.00, -1299.00 (Data Council), -879.00 (American Airlines) -> 2822.00,
 *     and 3701.00 as of 2024-03-12 00:00:00;
 *   - subscription 923890 (user 4329878, premium): created, updated, payment rejected, suspended;
 *   - a session that views /new, then /popular, then adds item 16a7f9c98d to the cart (2024-03-25).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SEED = 20240311;
const START = utc('2024-01-01 00:00:00');
const END = utc('2024-03-31 23:59:59');
const DAY = 86_400;
const HOUR = 3_600;

/** mulberry32: small, fast and good enough for sample data; the same seed gives the same stream. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** One random stream per file, so changing one generator does not reshuffle the others. */
class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = prng(seed);
  }
  float(): number {
    return this.next();
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  weighted<T>(items: ReadonlyArray<readonly [T, number]>): T {
    const total = items.reduce((s, [, w]) => s + w, 0);
    let r = this.next() * total;
    for (const [item, w] of items) {
      r -= w;
      if (r < 0) return item;
    }
    return items[items.length - 1]![0];
  }
  hex(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += Math.floor(this.next() * 16).toString(16);
    return s;
  }
  uuid(): string {
    const h = this.hex(32);
    const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }
}

function utc(text: string): number {
  return Date.parse(`${text.replace(' ', 'T')}Z`) / 1000;
}

function fmt(seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(0, 19).replace('T', ' ');
}

/** A decimal with exactly two digits, written into the JSON as a number (not a string). */
class Money {
  constructor(readonly cents: number) {}
  toJSON(): string {
    return `${MONEY_MARK}${(this.cents / 100).toFixed(2)}`;
  }
}
const MONEY_MARK = '\u0000money:';

function ndjsonLine(event: Record<string, unknown>): string {
  return JSON.stringify(event).replace(/"\\u0000money:(-?\d+\.\d\d)"/g, '$1');
}

interface Timed {
  at: number;
  event: Record<string, unknown>;
}

/**
 * Orders events by time, then simulates delivery: `late` events are moved later in the stream
 * (they arrive after newer ones) and `duplicates` events are delivered a second time.
 */
function deliver(rng: Rng, events: Timed[], opts: { duplicates: number; late: number }): string[] {
  const ordered = [...events].sort((a, b) => a.at - b.at).map((e) => ndjsonLine(e.event));
  const stream = [...ordered];
  const moved = new Set<number>();
  for (let i = 0; i < opts.late; i++) {
    // only events from the first three quarters, so "late" means really late
    let from = rng.int(0, Math.floor(stream.length * 0.75));
    while (moved.has(from)) from = rng.int(0, Math.floor(stream.length * 0.75));
    const [line] = stream.splice(from, 1);
    const to = Math.min(stream.length, from + rng.int(25, 120));
    stream.splice(to, 0, line!);
    moved.add(to);
  }
  const dupSources = new Set<number>();
  while (dupSources.size < opts.duplicates) dupSources.add(rng.int(0, ordered.length - 1));
  for (const i of [...dupSources].sort((a, b) => b - a)) {
    const line = ordered[i]!;
    const at = stream.indexOf(line);
    stream.splice(Math.min(stream.length, at + rng.int(1, 40)), 0, line);
  }
  return stream;
}

// ---------------------------------------------------------------------------------------------
// Bank transactions

const MERCHANTS: ReadonlyArray<readonly [string, string, number, number]> = [
  // merchant, description, min and max amount in dollars
  ['Whole Foods', 'Groceries', 25, 180],
  ["Trader Joe's", 'Groceries', 15, 120],
  ['Shell', 'Fuel', 30, 90],
  ['Amazon', 'Online order', 10, 350],
  ['Netflix', 'Streaming subscription', 15, 23],
  ['Spotify', 'Music subscription', 11, 17],
  ['Uber', 'Ride', 8, 65],
  ['Starbucks', 'Coffee', 4, 18],
  ['Delta Air Lines', 'Flight tickets', 180, 950],
  ['Airbnb', 'Lodging', 120, 1400],
  ['Con Edison', 'Electricity bill', 60, 240],
  ['Verizon', 'Phone bill', 45, 120],
  ['Apple', 'App Store', 1, 30],
  ['IKEA', 'Furniture', 40, 900],
];
const EMPLOYERS = ['ACME Corp', 'Globex', 'Initech', 'Umbrella Health', 'Stark Industries', 'Wayne Foods'];

function transactions(): string[] {
  const rng = new Rng(SEED + 1);
  const usedIds = new Set<string>(['123456789', '987654321', '987654322']);
  const txId = (): string => {
    let id = String(rng.int(100_000_000, 999_999_999));
    while (usedIds.has(id)) id = String(rng.int(100_000_000, 999_999_999));
    usedIds.add(id);
    return id;
  };
  const events: Timed[] = [];
  const tx = (
    account: string,
    at: number,
    type: string,
    cents: number,
    description: string,
    merchant?: string,
    id = txId(),
  ): void => {
    const e: Record<string, unknown> = { transaction_id: id, timestamp: fmt(at), account_id: account, type };
    e.amount = new Money(cents);
    // Some producers omit the currency (the column default, USD, fills it) or the description.
    if (!rng.chance(0.06)) e.currency = 'USD';
    if (merchant !== undefined) e.merchant = merchant;
    else if (rng.chance(0.1)) e.merchant = null;
    if (!rng.chance(0.04)) e.description = description;
    events.push({ at, event: e });
  };

  // The talk's account, exactly as on its slides (with a distinct id for the third event: the
  // slide reuses 987654321, which a dedup key would rightly drop).
  const talk = '6ad87cf1';
  const talkEvents: Array<[string, string, string, number, string, string?]> = [
    ['123456789', '2024-03-11 12:30:45', 'transfer', 500_000, 'Transfer funds to new account'],
    ['987654321', '2024-03-11 15:57:09', 'payment', -129_900, 'Data Council tickets', 'Data Council'],
    ['987654322', '2024-03-13 09:17:28', 'payment', -87_900, 'Flight tickets to Austin', 'American Airlines'],
  ];
  for (const [id, at, type, cents, description, merchant] of talkEvents) {
    const e: Record<string, unknown> = { transaction_id: id, timestamp: at, account_id: talk, type };
    e.amount = new Money(cents);
    e.currency = 'USD';
    if (merchant) e.merchant = merchant;
    e.description = description;
    events.push({ at: utc(at), event: e });
  }

  const accounts = new Set<string>([talk]);
  while (accounts.size < 40) accounts.add(rng.hex(8));
  for (const account of [...accounts].slice(1)) {
    const moves: Array<{ at: number; run: (balance: number) => number }> = [];
    /** A move of money that the bank declines (no event) when it would overdraw the account. */
    const move = (at: number, type: string, cents: number, description: string): void => {
      moves.push({
        at,
        run: (balance) => {
          if (balance + cents < 0) return 0;
          tx(account, at, type, cents, description);
          return cents;
        },
      });
    };
    const opened = START + rng.int(0, 20 * DAY);
    const opening = rng.int(50, 800) * 1000;
    moves.push({
      at: opened,
      run: () => {
        tx(account, opened, 'deposit', opening, 'Initial deposit');
        return opening;
      },
    });
    if (rng.chance(0.75)) {
      const employer = rng.pick(EMPLOYERS);
      const salary = rng.int(2000, 6500) * 100 + rng.pick([0, 0, 50, 75]);
      for (const month of ['2024-01', '2024-02', '2024-03']) {
        const at = utc(`${month}-${rng.int(25, 28)} 09:00:00`) + rng.int(0, 2 * HOUR);
        if (at > opened) move(at, 'transfer', salary, `Salary ${employer}`);
      }
    }
    if (rng.chance(0.5)) {
      for (const month of ['2024-02', '2024-03']) {
        const at = utc(`${month}-01 00:05:00`) + rng.int(0, 600);
        move(at, 'fee', -495, 'Monthly maintenance fee');
      }
    }
    const payments = rng.int(3, 9);
    for (let i = 0; i < payments; i++) {
      const [merchant, description, lo, hi] = rng.pick(MERCHANTS);
      const cents = -rng.int(lo * 100, hi * 100);
      const at = opened + rng.int(HOUR, END - opened - HOUR);
      const refund = rng.chance(0.08);
      const refundAt = at + rng.int(2 * DAY, 10 * DAY);
      moves.push({
        at,
        run: (balance) => {
          if (balance + cents < 0) return 0; // insufficient funds: the bank declines, no event
          tx(account, at, 'payment', cents, description, merchant);
          if (refund && refundAt < END) {
            tx(account, refundAt, 'refund', -cents, `Refund: ${description}`, merchant);
            return 0;
          }
          return cents;
        },
      });
    }
    const withdrawals = rng.int(0, 3);
    for (let i = 0; i < withdrawals; i++) {
      const cents = -rng.int(1, 15) * 2000;
      const at = opened + rng.int(HOUR, END - opened - HOUR);
      move(at, 'withdrawal', cents, 'ATM withdrawal');
    }
    if (rng.chance(0.4)) {
      const cents = -rng.int(2, 20) * 5000;
      const at = opened + rng.int(DAY, END - opened - HOUR);
      move(at, 'transfer', cents, 'Transfer to savings');
    }
    let balance = 0;
    for (const m of moves.sort((a, b) => a.at - b.at)) balance += m.run(balance);
  }
  return deliver(rng, events, { duplicates: 8, late: 6 });
}

// ---------------------------------------------------------------------------------------------
// Subscription lifecycles

type Plan = 'free' | 'premium' | 'enterprise';

function subscriptionEvents(): string[] {
  const rng = new Rng(SEED + 2);
  const events: Timed[] = [];
  const ev = (at: number, name: string, subscription: number, user: number, plan: Plan): void => {
    events.push({
      at,
      event: {
        event_id: rng.uuid(),
        timestamp: fmt(at),
        event_name: `subscription_${name}`,
        subscription_id: subscription,
        user_id: user,
        plan,
      },
    });
  };

  // The talk's audit-trail example.
  ev(utc('2024-02-01 14:38:09'), 'created', 923890, 4329878, 'premium');
  ev(utc('2024-02-21 04:31:55'), 'updated', 923890, 4329878, 'premium');
  ev(utc('2024-03-01 00:00:11'), 'payment_rejected', 923890, 4329878, 'premium');
  ev(utc('2024-03-01 00:00:12'), 'suspended', 923890, 4329878, 'premium');

  const ids = new Set<number>([923890]);
  while (ids.size < 150) ids.add(rng.int(100_000, 999_999));
  for (const id of [...ids].slice(1)) {
    const user = rng.int(1_000_000, 9_999_999);
    let plan = rng.weighted<Plan>([
      ['free', 50],
      ['premium', 35],
      ['enterprise', 15],
    ]);
    let t = START + rng.int(0, 80 * DAY);
    ev(t, 'created', id, user, plan);
    let state: 'active' | 'rejected' | 'suspended' = 'active';
    // Every later event is strictly after the previous one, so "latest event" is never a tie.
    for (;;) {
      t += state === 'rejected' && rng.chance(0.75) ? rng.int(1, 120) : rng.int(HOUR, 25 * DAY);
      if (t > END || (state === 'active' && rng.chance(0.3))) break;
      if (state === 'active') {
        const r = rng.float();
        if (r < 0.45 || (r < 0.8 && plan === 'free')) {
          plan = rng.pick((['free', 'premium', 'enterprise'] as const).filter((p) => p !== plan));
          ev(t, 'updated', id, user, plan);
        } else if (r < 0.8) {
          ev(t, 'payment_rejected', id, user, plan); // only paid plans have payments to reject
          state = 'rejected';
        } else {
          ev(t, 'deleted', id, user, plan);
          break;
        }
      } else if (state === 'rejected') {
        // a rejected payment is usually followed, within seconds, by the suspension; sometimes
        // the customer fixes the card first (an update reactivates the subscription)
        if (rng.chance(0.75)) {
          ev(t, 'suspended', id, user, plan);
          state = 'suspended';
        } else {
          ev(t, 'updated', id, user, plan);
          state = 'active';
        }
      } else {
        const r = rng.float();
        if (r < 0.5) {
          ev(t, 'reactivated', id, user, plan);
          state = 'active';
        } else if (r < 0.8) {
          ev(t, 'deleted', id, user, plan);
          break;
        } else {
          break; // stays suspended
        }
      }
    }
  }
  return deliver(rng, events, { duplicates: 6, late: 5 });
}

// ---------------------------------------------------------------------------------------------
// Page views and add-to-cart events

const SHOP = 'https://shop.tinybird.co';
const LISTINGS = ['/', '/new', '/popular', '/sale', '/category/shirts', '/category/shoes', '/category/bags'];

function pageEvents(): string[] {
  const rng = new Rng(SEED + 3);
  const events: Timed[] = [];
  const ev = (
    at: number,
    session: string,
    user: string,
    action: 'ViewPage' | 'AddToCart',
    target: string,
  ): void => {
    const e: Record<string, unknown> = {
      event_id: rng.uuid(),
      timestamp: fmt(at),
      session_id: session,
      user_id: user,
      action,
    };
    if (action === 'ViewPage') e.url = `${SHOP}${target}`;
    else e.item_id = target;
    events.push({ at, event: e });
  };

  // The talk's attribution example: the cart is attributed to /popular, the last page before it.
  ev(utc('2024-03-25 17:05:28'), 'b1e2c3d4f5a6', 'u_5f3a9c', 'ViewPage', '/new');
  ev(utc('2024-03-25 17:06:12'), 'b1e2c3d4f5a6', 'u_5f3a9c', 'ViewPage', '/popular');
  ev(utc('2024-03-25 17:08:42'), 'b1e2c3d4f5a6', 'u_5f3a9c', 'AddToCart', '16a7f9c98d');

  const items = Array.from({ length: 30 }, () => rng.hex(10));
  const users = Array.from({ length: 45 }, () => `u_${rng.hex(6)}`);
  const sessions = new Set<string>(['b1e2c3d4f5a6']);
  while (sessions.size < 70) sessions.add(rng.hex(12));
  const monthStart = utc('2024-03-01 00:00:00');
  for (const session of [...sessions].slice(1)) {
    const user = rng.pick(users);
    let t = monthStart + rng.int(0, 30 * DAY - 2 * HOUR);
    let page = rng.pick(LISTINGS);
    ev(t, session, user, 'ViewPage', page);
    const views = rng.int(1, 7);
    const endsInCart = rng.chance(0.7);
    let carts = 0;
    for (let i = 0; i < views; i++) {
      t += rng.int(8, 240);
      if (page.startsWith('/product/') && rng.chance(0.35)) {
        ev(t, session, user, 'AddToCart', page.slice('/product/'.length));
        carts++;
        t += rng.int(8, 120);
      } else if (!page.startsWith('/product/') && rng.chance(0.08)) {
        ev(t, session, user, 'AddToCart', rng.pick(items)); // quick add from a listing
        carts++;
        t += rng.int(8, 120);
      }
      page = rng.chance(0.55) ? `/product/${rng.pick(items)}` : rng.pick(LISTINGS);
      ev(t, session, user, 'ViewPage', page);
    }
    if (endsInCart && carts === 0) {
      t += rng.int(8, 240);
      ev(
        t,
        session,
        user,
        'AddToCart',
        page.startsWith('/product/') ? page.slice('/product/'.length) : rng.pick(items),
      );
    }
  }
  return deliver(rng, events, { duplicates: 5, late: 4 });
}

/**
 * Versioned events (docs/event-sourcing.md, "schema evolution"): the oldest producers send
 * version 1, with the amount in integer cents (`amount_cents`); current ones send version 2, or
 * no version (`versions.missing: 2`). From line 51 on (deploy tests insert the first 50 lines
 * into the table as they are), every fourth event is rewritten in the v1 form and every seventh
 * says `"version":2`; the money is the same, so every expectation still holds. Two events of
 * versions the data source does not know end the stream: they go to quarantine.
 */
function versioned(lines: string[]): string[] {
  const out = lines.map((line, i) => {
    if (i < 50) return line;
    if (i % 4 === 0) {
      return line.replace(/"amount":(-?)(\d+)\.(\d\d)/, (_m, sign: string, units: string, cents: string) => {
        return `"version":1,"amount_cents":${sign}${Number(units + cents)}`;
      });
    }
    return i % 7 === 0 ? line.replace(/"amount":/, '"version":2,"amount":') : line;
  });
  out.push(
    '{"transaction_id":"900000001","timestamp":"2024-03-30 10:00:00","account_id":"6ad87cf1","type":"payment","version":3,"amount":{"value":"-12.00","currency":"USD"}}',
    '{"transaction_id":"900000002","timestamp":"2024-03-30 11:00:00","account_id":"bfd07d78","type":"deposit","version":"2024-06","amount":100.00,"currency":"USD"}',
  );
  return out;
}

// ---------------------------------------------------------------------------------------------

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'fixtures');
mkdirSync(out, { recursive: true });
const files: Array<[string, string[]]> = [
  ['transactions', versioned(transactions())],
  ['subscription_events', subscriptionEvents()],
  ['page_events', pageEvents()],
];
for (const [name, lines] of files) {
  writeFileSync(join(out, `${name}.ndjson`), `${lines.join('\n')}\n`);
  console.log(`fixtures/${name}.ndjson: ${lines.length} events`);
}
