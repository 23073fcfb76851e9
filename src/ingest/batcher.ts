/**
 * Group commit: callers add batches (a Kafka fetch of one partition, one HTTP request) and wait;
 * the batcher flushes them together when enough rows or bytes are pending, or some time after the
 * first one came. One flush runs at a time, in order, so a source's rows reach ClickHouse in the
 * order they were added. A memory cap makes `add` wait (and so pauses the input) while the
 * buffered bytes are over it.
 */

export interface BatcherOptions {
  /** Flush when this many rows are pending. */
  maxRows: number;
  /** Flush when this many bytes are pending. */
  maxBytes: number;
  /** Flush this long after the first pending batch came, whatever its size. */
  maxWaitMs: number;
  /** `add` waits while pending + in-flight bytes would exceed this. */
  maxBufferedBytes: number;
}

export const DEFAULT_BATCHER_OPTIONS: BatcherOptions = {
  maxRows: 100_000,
  maxBytes: 32 * 1024 * 1024,
  maxWaitMs: 1000,
  maxBufferedBytes: 96 * 1024 * 1024,
};

export interface BatchSize {
  rows: number;
  bytes: number;
}

/** Flushes the batches in the order added and returns one result per batch. */
export type FlushFn<T, R> = (batches: readonly T[]) => Promise<readonly R[]>;

interface Pending<T, R> {
  batch: T;
  size: BatchSize;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

export class Batcher<T, R> {
  private readonly opts: BatcherOptions;
  private pending: Pending<T, R>[] = [];
  private pendingRows = 0;
  private pendingBytes = 0;
  private inFlightBytes = 0;
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private urgent = false;
  private capacityWaiters: Array<() => void> = [];

  constructor(
    private readonly flushFn: FlushFn<T, R>,
    opts: Partial<BatcherOptions> = {},
  ) {
    this.opts = { ...DEFAULT_BATCHER_OPTIONS, ...opts };
  }

  /** Rows and bytes waiting for a flush, and bytes being flushed. */
  get buffered(): { rows: number; bytes: number; inFlightBytes: number } {
    return { rows: this.pendingRows, bytes: this.pendingBytes, inFlightBytes: this.inFlightBytes };
  }

  /** The flush in flight, if any; settles (never rejects) once it is done. */
  inFlight(): Promise<void> | undefined {
    return this.flushing;
  }

  /**
   * Undefined when `bytes` fit under the memory cap now; else flushes what is pending and returns
   * a promise of the next time room may have been made (a flush ended, batches were abandoned):
   * ask again then.
   */
  roomFor(bytes: number): Promise<void> | undefined {
    if (!this.overCap(bytes)) return undefined;
    this.flushNow();
    return new Promise<void>((resolve) => this.capacityWaiters.push(resolve));
  }

  /** A full flush is pending (rows or bytes at the flush size). */
  get full(): boolean {
    return this.pendingRows >= this.opts.maxRows || this.pendingBytes >= this.opts.maxBytes;
  }

  /** Adds a batch; resolves with its result once the flush that carried it is done. */
  add(batch: T, size: BatchSize): Promise<R> {
    const room = this.roomFor(size.bytes);
    if (room) return room.then(() => this.add(batch, size));
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ batch, size, resolve, reject });
      this.pendingRows += size.rows;
      this.pendingBytes += size.bytes;
      if (this.pendingRows >= this.opts.maxRows || this.pendingBytes >= this.opts.maxBytes)
        this.urgent = true;
      else if (!this.timer && this.opts.maxWaitMs > 0) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.flushNow();
        }, this.opts.maxWaitMs);
      }
      if (this.urgent || this.opts.maxWaitMs <= 0) {
        this.urgent = true;
        this.kick();
      }
    });
  }

  /** Flushes what is pending as soon as the flush in flight (if any) is done. */
  flushNow(): void {
    if (this.pending.length === 0) return;
    this.urgent = true;
    this.kick();
  }

  /** Flushes everything pending and waits until no flush is in flight. */
  async drain(): Promise<void> {
    for (;;) {
      this.flushNow();
      const f = this.flushing;
      if (!f) {
        if (this.pending.length === 0) return;
        continue;
      }
      await f;
    }
  }

  /** Rejects every pending batch (not the one in flight) with `reason`; returns how many. */
  abandon(reason: unknown, keep?: (batch: T) => boolean): number {
    const dropped = keep ? this.pending.filter((p) => !keep(p.batch)) : this.pending;
    this.pending = keep ? this.pending.filter((p) => keep(p.batch)) : [];
    for (const p of dropped) {
      this.pendingRows -= p.size.rows;
      this.pendingBytes -= p.size.bytes;
      p.reject(reason);
    }
    if (this.pending.length === 0 && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.wakeCapacity();
    return dropped.length;
  }

  private kick(): void {
    if (this.flushing || !this.urgent || this.pending.length === 0) return;
    this.urgent = false;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const taken = this.pending;
    this.pending = [];
    const bytes = this.pendingBytes;
    this.pendingRows = 0;
    this.pendingBytes = 0;
    this.inFlightBytes = bytes;
    this.flushing = this.run(taken).finally(() => {
      this.flushing = undefined;
      this.inFlightBytes = 0;
      this.wakeCapacity();
      if (this.pending.length > 0) {
        if (this.pendingRows >= this.opts.maxRows || this.pendingBytes >= this.opts.maxBytes)
          this.urgent = true;
        else if (!this.timer && !this.urgent) {
          this.timer = setTimeout(() => {
            this.timer = undefined;
            this.flushNow();
          }, this.opts.maxWaitMs);
        }
        this.kick();
      }
    });
  }

  private async run(taken: Pending<T, R>[]): Promise<void> {
    try {
      const results = await this.flushFn(taken.map((p) => p.batch));
      for (let i = 0; i < taken.length; i++) taken[i]!.resolve(results[i]!);
    } catch (err) {
      for (const p of taken) p.reject(err);
    }
  }

  private overCap(bytes: number): boolean {
    const buffered = this.pendingBytes + this.inFlightBytes;
    return buffered > 0 && buffered + bytes > this.opts.maxBufferedBytes;
  }

  private wakeCapacity(): void {
    const waiters = this.capacityWaiters;
    this.capacityWaiters = [];
    for (const w of waiters) w();
  }
}
