const sealed = new WeakSet<object>();

/** A Map that refuses changes once built, so a frozen model cannot be altered through its maps. */
export class FrozenMap<K, V> extends Map<K, V> {
  constructor(entries?: Iterable<readonly [K, V]>) {
    super(entries);
    sealed.add(this);
  }

  override set(key: K, value: V): this {
    if (sealed.has(this)) throw new TypeError('the project model is read-only');
    return super.set(key, value);
  }

  override delete(_key: K): boolean {
    throw new TypeError('the project model is read-only');
  }

  override clear(): void {
    throw new TypeError('the project model is read-only');
  }
}

/**
 * Freezes `value` and everything reachable from it: objects, arrays, and Maps (which are replaced
 * by a FrozenMap when needed, since Object.freeze does not stop Map.set). Without recursion: a
 * template nested thousands deep is a model thousands deep.
 */
export function deepFreeze<T>(value: T): T {
  const replaced = new WeakMap<Map<unknown, unknown>, FrozenMap<unknown, unknown>>();
  const sealedMap = (v: unknown): unknown => {
    if (!(v instanceof Map) || v instanceof FrozenMap) return v;
    let m = replaced.get(v);
    if (!m) replaced.set(v, (m = new FrozenMap(v)));
    return m;
  };
  const top = sealedMap(value);
  // First every Map is swapped for a FrozenMap in its (still writable) parent, then all is frozen.
  const reached: object[] = [];
  const seen = new WeakSet<object>();
  const stack: unknown[] = [top];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object' || seen.has(v)) continue;
    seen.add(v);
    reached.push(v);
    if (v instanceof Map) {
      for (const child of v.values()) stack.push(child);
      continue;
    }
    for (const key of Object.keys(v)) {
      const child = (v as Record<string, unknown>)[key];
      const frozen = sealedMap(child);
      if (frozen !== child) (v as Record<string, unknown>)[key] = frozen;
      stack.push(frozen);
    }
  }
  for (const v of reached) Object.freeze(v);
  return top as T;
}
