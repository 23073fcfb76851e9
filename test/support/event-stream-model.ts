/**
 * The expected state of the example project after an event stream, computed here without any of
 * Tally's code: JSON.parse, the first delivery of each event id wins, malformed messages are
 * skipped, v1 amounts are integer cents and v2 amounts decimal text (both kept as integer cents,
 * so nothing goes through a double), folds by event time.
 */
import type { EventStream, StreamMessage } from './event-stream.ts';

export interface Movement {
  at: number;
  cents: number;
}

export interface SubscriptionChange {
  at: number;
  /** The event's id: of two changes in one second, the greater id is the later (as the pipes say). */
  id: string;
  status: string;
  plan: string;
}

/** The counts ingestion must end with for one data source. */
export interface Outcome {
  stored: number;
  duplicates: number;
  quarantined: number;
}

/** The status rule of pipes/subscription_state_mv.pipe.yaml, written again. */
const STATUS: Readonly<Record<string, string>> = {
  subscription_created: 'active',
  subscription_updated: 'active',
  subscription_reactivated: 'active',
  subscription_suspended: 'suspended',
  subscription_payment_rejected: 'suspended',
  subscription_deleted: 'deleted',
};

export class StreamModel {
  /** Per account, its movements sorted by time. */
  readonly accounts = new Map<string, Movement[]>();
  /** Per subscription, its changes sorted by time. */
  readonly subscriptions = new Map<number, SubscriptionChange[]>();
  /** Per session, its page views sorted by time. */
  readonly sessions = new Map<string, Array<{ at: number; url: string }>>();
  readonly outcomes: Record<'transactions' | 'subscription_events' | 'page_events', Outcome>;

  constructor(readonly stream: EventStream) {
    const tx = firstDeliveries(stream.transactions, 'transaction_id');
    for (const e of tx.events) {
      const cents = e.version === 1 ? Number(e.amount_cents) : parseCents(String(e.amount));
      push(this.accounts, String(e.account_id), { at: seconds(e.timestamp), cents });
    }
    const subs = firstDeliveries(stream.subscriptions, 'event_id');
    for (const e of subs.events) {
      const status = STATUS[String(e.event_name)] ?? 'unknown';
      push(this.subscriptions, Number(e.subscription_id), {
        at: seconds(e.timestamp),
        id: String(e.event_id),
        status,
        plan: String(e.plan),
      });
    }
    const pages = firstDeliveries(stream.pages, 'event_id');
    for (const e of pages.events) {
      if (e.action === 'ViewPage')
        push(this.sessions, String(e.session_id), { at: seconds(e.timestamp), url: String(e.url) });
    }
    for (const m of [this.accounts, this.sessions]) {
      for (const list of m.values()) (list as Array<{ at: number }>).sort((a, b) => a.at - b.at);
    }
    // By time, then by id (compared as ClickHouse compares Strings: these ids are ASCII).
    for (const list of this.subscriptions.values()) {
      list.sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    }
    this.outcomes = {
      transactions: tx.outcome,
      subscription_events: subs.outcome,
      page_events: pages.outcome,
    };
  }

  /** Balance and number of transactions up to `asOf` (epoch seconds, inclusive; undefined: all). */
  balance(account: string, asOf?: number): { cents: number; transactions: number } | undefined {
    const upTo = (this.accounts.get(account) ?? []).filter((m) => asOf === undefined || m.at <= asOf);
    if (upTo.length === 0) return undefined;
    return { cents: upTo.reduce((s, m) => s + m.cents, 0), transactions: upTo.length };
  }

  /** The latest change of a subscription up to `asOf`. */
  subscription(id: number, asOf?: number): SubscriptionChange | undefined {
    const upTo = (this.subscriptions.get(id) ?? []).filter((c) => asOf === undefined || c.at <= asOf);
    return upTo[upTo.length - 1];
  }

  /** How many subscriptions are active at `asOf`, optionally on one plan. */
  activeSubscriptions(asOf?: number, plan?: string): number {
    let n = 0;
    for (const id of this.subscriptions.keys()) {
      const s = this.subscription(id, asOf);
      if (s?.status === 'active' && (plan === undefined || s.plan === plan)) n++;
    }
    return n;
  }

  /** Sessions whose first and last viewed page differ: what a first- vs last-touch rule changes. */
  attributionChanges(): string[] {
    const out: string[] = [];
    for (const [session, views] of this.sessions) {
      if (views[0]!.url !== views[views.length - 1]!.url) out.push(session);
    }
    return out.sort();
  }
}

type Event = Record<string, unknown>;

function firstDeliveries(
  messages: readonly StreamMessage[],
  idField: string,
): { events: Event[]; outcome: Outcome } {
  const seen = new Map<string, Event>();
  let good = 0;
  let quarantined = 0;
  for (const m of messages) {
    if (m.kind === 'malformed') {
      quarantined++;
      continue;
    }
    good++;
    const e = JSON.parse(m.value) as Event;
    const id = String(e[idField]);
    if (!seen.has(id)) seen.set(id, e);
  }
  return {
    events: [...seen.values()],
    outcome: { stored: seen.size, duplicates: good - seen.size, quarantined },
  };
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** `YYYY-MM-DD hh:mm:ss` (UTC) -> epoch seconds. */
export function seconds(text: unknown): number {
  return Date.parse(`${String(text).replace(' ', 'T')}Z`) / 1000;
}

/** Decimal text with at most two decimals -> integer cents, on the digits: `-12.3` -> -1230. */
export function parseCents(text: string): number {
  const m = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(text.trim());
  if (!m) throw new Error(`not an amount of money: ${text}`);
  const cents = Number(m[2]) * 100 + Number((m[3] ?? '').padEnd(2, '0'));
  return m[1] === '-' ? -cents : cents;
}
