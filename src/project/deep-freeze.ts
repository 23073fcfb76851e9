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
 * by a FrozenMap when needed, since Object.freeze does not stop Map.set).
 */
export function deepFreeze<T>(value: T): T {
  return freeze(value, new WeakSet()) as T;
}

function freeze(value: unknown, seen: WeakSet<object>): unknown {
  if (value === null || typeof value !== 'object' || seen.has(value)) return value;
  seen.add(value);
  if (value instanceof Map) {
    const map = value instanceof FrozenMap ? value : new FrozenMap(value);
    for (const v of map.values()) freeze(v, seen);
    return Object.freeze(map);
  }
  for (const key of Object.keys(value)) {
    const child = (value as Record<string, unknown>)[key];
    const frozen = freeze(child, seen);
    if (frozen !== child) (value as Record<string, unknown>)[key] = frozen;
  }
  return Object.freeze(value);
}
