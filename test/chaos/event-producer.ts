// The chaos run's producer: new events plus ~5% re-sent copies of earlier ones, keyed by id, and
// the independent expectation (every distinct event once) the stored state is compared with.
import type { KafkaClient } from '../../src/ingest/kafka-client.ts';
import { sleep } from './tally-process.ts';

export const ACCOUNTS = 50;

export interface Expected {
  account: string;
  amount: number;
}

/** Continuous producer: new events plus ~5% re-sent copies of earlier ones, keyed by id. */
export class EventProducer {
  readonly expected = new Map<string, Expected>();
  sent = 0;
  duplicates = 0;
  private seq = 0;
  private running = false;
  private loop?: Promise<void>;
  private readonly ids: string[] = [];

  constructor(
    private readonly client: KafkaClient,
    private readonly topic: string,
    private readonly perTick: number,
  ) {}

  nextEvent(): { id: string; line: string } {
    const id = `e${this.seq++}`;
    const account = `acct-${this.seq % ACCOUNTS}`;
    const amount = ((this.seq * 7919) % 2001) - 1000;
    this.expected.set(id, { account, amount });
    this.ids.push(id);
    return { id, line: JSON.stringify({ id, account, amount, ts: '2024-06-01 12:00:00' }) };
  }

  copyOfEarlier(): { id: string; line: string } | undefined {
    if (this.ids.length === 0) return undefined;
    const id = this.ids[Math.floor(Math.random() * this.ids.length)] as string;
    const e = this.expected.get(id) as Expected;
    return {
      id,
      line: JSON.stringify({ id, account: e.account, amount: e.amount, ts: '2024-06-01 12:00:00' }),
    };
  }

  batch(n: number): { key: string; value: string }[] {
    const out: { key: string; value: string }[] = [];
    for (let i = 0; i < n; i++) {
      const dup = Math.random() < 0.05 ? this.copyOfEarlier() : undefined;
      if (dup) this.duplicates++;
      const e = dup ?? this.nextEvent();
      out.push({ key: e.id, value: e.line });
    }
    return out;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const msgs = this.batch(this.perTick);
        for (;;) {
          try {
            await this.client.produce(this.topic, msgs);
            break;
          } catch {
            // Kafka down, paused or restarting: a retry re-sends, more duplicates, harmless.
            await sleep(500);
          }
        }
        this.sent += msgs.length;
        await sleep(100);
      }
    })();
  }

  async pause(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}
