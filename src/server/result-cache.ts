/**
 * A per-process cache of endpoint answers with a TTL, bounded in entries, that also coalesces
 * identical concurrent requests into one ClickHouse query.
 */
export class ResultCache<V> {
  private readonly entries = new Map<string, { value: V; expires: number }>();
  private readonly inflight = new Map<string, Promise<V>>();

  constructor(private readonly maxEntries = 1000) {}

  /** The cached value of `key` if it has not expired. */
  fresh(key: string): V | undefined {
    const entry = this.entries.get(key);
    return entry && entry.expires > Date.now() ? entry.value : undefined;
  }

  /** `hit` says whether the value came from the cache (or a request already in flight). */
  async get(key: string, ttlMs: number, load: () => Promise<V>): Promise<{ value: V; hit: boolean }> {
    const cached = this.fresh(key);
    if (cached !== undefined) return { value: cached, hit: true };
    this.entries.delete(key); // expired, if there
    const pending = this.inflight.get(key);
    if (pending) return { value: await pending, hit: true };
    const p = load();
    this.inflight.set(key, p);
    try {
      const value = await p;
      if (ttlMs > 0) {
        if (this.entries.size >= this.maxEntries) {
          const oldest = this.entries.keys().next().value;
          if (oldest !== undefined) this.entries.delete(oldest);
        }
        this.entries.set(key, { value, expires: Date.now() + ttlMs });
      }
      return { value, hit: false };
    } finally {
      this.inflight.delete(key);
    }
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
