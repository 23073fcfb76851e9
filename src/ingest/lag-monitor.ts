/**
 * Consumer-group lag, asked of the broker every few seconds for each Kafka data source: the
 * offsets the group committed against the ends of the partitions. Tally commits an offset only
 * after ClickHouse has the rows (kafka-ingester.ts), so "lag 0" means every event Kafka had when
 * it was asked is stored: the time of that answer is when the data source was last caught up.
 * That is what freshness uses for an idle topic, which writes no batches (server/freshness.ts).
 *
 * It is the group's lag, whichever instance holds the partitions, and it is read from the
 * broker, so an ingester that is stuck does not report its last good figure forever.
 */
import type { KafkaClient, PartitionLag } from './kafka-client.ts';
import { withKafkaHint } from './kafka-security-hint.ts';

export interface LagTarget {
  datasource: string;
  topic: string;
  group: string;
  fromBeginning: boolean;
}

export interface GroupLag {
  topic: string;
  group: string;
  /** Messages not yet stored, over all partitions; undefined until the first answer. */
  lag?: number;
  partitions: PartitionLag[];
  /** Epoch ms of the last answer from the broker. */
  measuredAt?: number;
  /** Epoch ms of the last answer with lag 0. */
  caughtUpAt?: number;
  /** The last failure to ask, cleared by the next answer. */
  error?: string;
}

export interface LagMonitorOptions {
  /** Between two rounds of questions (default 2000 ms). */
  intervalMs?: number;
  /**
   * How long to wait for the broker (default 5000 ms); the client's own retries of an
   * unreachable broker last much longer, and health should say so sooner.
   */
  answerWithinMs?: number;
}

export class LagMonitor {
  private readonly lags = new Map<string, GroupLag>();
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private first: Promise<void> | undefined;

  constructor(
    private readonly client: KafkaClient,
    private readonly targets: readonly LagTarget[],
    private readonly opts: LagMonitorOptions = {},
  ) {
    for (const t of targets) this.lags.set(t.datasource, { topic: t.topic, group: t.group, partitions: [] });
  }

  /** Asks once now, then every interval until `stop()`. */
  start(): void {
    if (this.targets.length === 0 || this.timer) return;
    this.first = this.poll();
    this.timer = setInterval(() => void this.poll(), this.opts.intervalMs ?? 2000);
    this.timer.unref();
  }

  /** One round of questions (overlapping calls share it). */
  poll(): Promise<void> {
    this.round ??= Promise.all(this.targets.map((t) => this.ask(t))).then(
      () => {
        this.round = undefined;
      },
      () => {
        this.round = undefined;
      },
    );
    return this.round;
  }

  /** Settles once the first round after `start()` has an answer or an error for every target. */
  firstRound(): Promise<void> {
    return this.first ?? Promise.resolve();
  }

  get(datasource: string): GroupLag | undefined {
    const g = this.lags.get(datasource);
    return g && { ...g, partitions: [...g.partitions] };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async ask(t: LagTarget): Promise<void> {
    const entry = this.lags.get(t.datasource)!;
    // The time of the question, not of the answer: events sent meanwhile are not covered.
    const at = Date.now();
    try {
      const partitions = await within(
        this.client.groupLag(t.group, t.topic, { fromBeginning: t.fromBeginning }),
        this.opts.answerWithinMs ?? 5000,
      );
      const lag = partitions.reduce((n, p) => n + p.lag, 0);
      this.lags.set(t.datasource, {
        topic: t.topic,
        group: t.group,
        lag,
        partitions,
        measuredAt: at,
        ...(lag === 0
          ? { caughtUpAt: at }
          : entry.caughtUpAt !== undefined
            ? { caughtUpAt: entry.caughtUpAt }
            : {}),
      });
    } catch (err) {
      // A refused login shows here first when the consumer is between tries: say what to change.
      this.lags.set(t.datasource, { ...entry, error: withKafkaHint(err) });
    }
  }
}

async function within<T>(answer: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Kafka did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([answer, late]);
  } finally {
    clearTimeout(timer);
  }
}
