/**
 * Fetch sizes counted in decoded bytes. A fetch's `maxBytes` limits what the broker sends, which
 * for a topic of compressed batches (lz4, zstd, snappy, gzip) is the compressed size: 4 MiB of
 * lz4 is ~20 MiB of events once kafkajs has decoded them, and the ingester's memory grew by that
 * factor (measured: peak RSS 383 MB against 269 MB for the same events uncompressed). So the
 * sizes asked for shrink by the compression factor seen in full batches, and the decoded size of
 * a fetch stays near the configured one.
 */
export class FetchBudget {
  /** What the next fetch asks for, in the broker's (compressed) bytes. */
  maxBytes: number;
  maxBytesPerPartition: number;
  /** Decoded bytes per byte asked for: the compression factor, 1 for plain batches. */
  private factor = 1;
  /** The decoded size of the last full partition batch: near the configured size once adapted. */
  lastFullBatchBytes = 0;

  constructor(
    private readonly configured: { maxBytes: number; maxBytesPerPartition: number },
    /** The least a fetch asks for per partition (the broker sends one whole batch anyway). */
    private readonly floorBytes = Math.min(64 * 1024, Math.floor(configured.maxBytesPerPartition / 32)),
  ) {
    this.maxBytes = configured.maxBytes;
    this.maxBytesPerPartition = configured.maxBytesPerPartition;
  }

  /** Decoded bytes per byte asked for, as now estimated. */
  get compression(): number {
    return this.factor;
  }

  /**
   * One partition's batch from a fetch: the decoded size of its records. Only a batch that came
   * near the size asked for is full enough to measure by; a small one (the partition's end)
   * says nothing about compression.
   */
  observe(decodedBytes: number): void {
    const asked = this.maxBytesPerPartition;
    if (decodedBytes < asked * FULL) return;
    this.lastFullBatchBytes = decodedBytes;
    // Halfway between this batch's factor and the estimate so far: one odd batch (or one asked
    // for with the sizes before the last change) moves the sizes by less than its own factor.
    const seen = Math.min(MAX_FACTOR, Math.max(1, decodedBytes / asked));
    this.factor = Math.min(MAX_FACTOR, Math.max(1, (this.factor + seen) / 2));
    const scaled = (bytes: number) => Math.max(this.floorBytes, Math.floor(bytes / this.factor));
    this.maxBytesPerPartition = Math.min(
      this.configured.maxBytesPerPartition,
      scaled(this.configured.maxBytesPerPartition),
    );
    this.maxBytes = Math.min(this.configured.maxBytes, scaled(this.configured.maxBytes));
  }
}

/** A batch decoded to this share of the size asked for is taken as full. */
const FULL = 0.8;
/** Compression beyond this is not followed (zstd of repetitive JSON reaches ~20x). */
const MAX_FACTOR = 64;
