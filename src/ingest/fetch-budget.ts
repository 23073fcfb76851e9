/**
 * Fetch sizes counted in decoded bytes. A fetch's `maxBytes` limits what the broker sends, which
 * for a topic of compressed batches (lz4, zstd, snappy, gzip) is the compressed size: 4 MiB of
 * lz4 is ~20 MiB of events once kafkajs has decoded them, and the ingester's memory grew by that
 * factor (measured: peak RSS 383 MB against 269 MB for the same events uncompressed). So the
 * sizes asked for shrink by the compression factor seen in full batches, and the decoded size of
 * a fetch stays near the configured one.
 */
/** What a consumer's fetches ask for now, and what the budget has seen. */
export interface FetchSizes {
  maxBytes: number;
  maxBytesPerPartition: number;
  /** Decoded bytes per fetched byte, as estimated from full batches (1: plain). */
  compression: number;
  /** The decoded size of the last partition batch that filled what was asked for. */
  lastFullBatchBytes: number;
}

export class FetchBudget {
  /** What the next fetch asks for, in the broker's (compressed) bytes. */
  maxBytes: number;
  maxBytesPerPartition: number;
  /** Decoded bytes per byte asked for: the compression factor, 1 for plain batches. */
  private factor = 1;
  /** The decoded size of the last full partition batch: near the configured size once adapted. */
  lastFullBatchBytes = 0;
  /** The per-partition size the last fetch asked for: what its batches are measured against. */
  private askedAtFetch: number;

  constructor(
    private readonly configured: { maxBytes: number; maxBytesPerPartition: number },
    /** The least a fetch asks for per partition (the broker sends one whole batch anyway). */
    private readonly floorBytes = Math.min(64 * 1024, Math.floor(configured.maxBytesPerPartition / 32)),
  ) {
    this.maxBytes = configured.maxBytes;
    this.maxBytesPerPartition = configured.maxBytesPerPartition;
    this.askedAtFetch = configured.maxBytesPerPartition;
  }

  /** The per-partition size for a fetch being sent (kafkajs reads it as it builds one). */
  askPerPartition(): number {
    this.askedAtFetch = this.maxBytesPerPartition;
    return this.askedAtFetch;
  }

  /** Decoded bytes per byte asked for, as now estimated. */
  get compression(): number {
    return this.factor;
  }

  sizes(): FetchSizes {
    const { maxBytes, maxBytesPerPartition, lastFullBatchBytes } = this;
    return { maxBytes, maxBytesPerPartition, compression: this.factor, lastFullBatchBytes };
  }

  /**
   * One partition's batch from a fetch: the decoded size of its records, whether the partition
   * had more (the size asked for cut the batch), and how many of the producer's record batches
   * it holds. Only a batch cut near the size asked for measures compression: one that reached
   * the partition's end, or came far short, does not. Nor does a single record batch: the broker
   * sends a partition's first one whole whatever was asked, so a producer's big batches would
   * otherwise read as ever more compression as the sizes shrink.
   */
  observe(decodedBytes: number, cut = true, recordBatches = 2): void {
    const asked = this.askedAtFetch;
    if (!cut || recordBatches < 2 || decodedBytes < asked * FULL) return;
    this.lastFullBatchBytes = decodedBytes;
    // Halfway between this batch's factor and the estimate so far: one odd batch moves the sizes
    // by less than its own factor.
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

/**
 * A cut batch decoded to at least this share of the size asked for measures (plain records of
 * ~40 bytes decode to ~0.65 of their size on the wire); one far shorter was cut by the fetch's
 * total size, not its own.
 */
const FULL = 0.5;
/** Compression beyond this is not followed (zstd of repetitive JSON reaches ~20x). */
const MAX_FACTOR = 64;
