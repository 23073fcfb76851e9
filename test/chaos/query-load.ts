// A loop of endpoint calls during the chaos run (10 a second), counting the failures.
import { ACCOUNTS } from './event-producer.ts';
import { sleep } from './tally-process.ts';

/** A loop of endpoint calls; remembers each outcome. */
export class QueryLoad {
  calls = 0;
  failures = 0;
  private running = true;
  private readonly loop: Promise<void>;

  constructor(url: () => string) {
    this.loop = (async () => {
      let i = 0;
      while (this.running) {
        const path =
          i++ % 2 === 0 ? '/v0/pipes/totals.json' : `/v0/pipes/totals.json?account=acct-${i % ACCOUNTS}`;
        const ok = await fetch(`${url()}${path}`, { signal: AbortSignal.timeout(2000) })
          .then(async (r) => {
            await r.arrayBuffer();
            return r.status === 200;
          })
          .catch(() => false);
        this.calls++;
        if (!ok) this.failures++;
        await sleep(100);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}
