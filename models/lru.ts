/**
 * A map that keeps at most `capacity` keys, evicting the least recently used: per-key detector
 * state stays bounded however many sensors, customers or topics appear.
 *
 * @example
 * const m = new Lru<number>(2);
 * m.set("a", 1); m.set("b", 2); m.get("a"); m.set("c", 3); // "b" is evicted
 */
export class Lru<V> {
  readonly capacity: number;
  readonly #map = new Map<string, V>();
  /** Keys dropped so far; exported as a metric so a cap that is too small shows. */
  evicted = 0;

  /** Called with each evicted key and value (not on `clear`): to free what a value holds outside the heap. */
  readonly #onEvict: ((key: string, value: V) => void) | undefined;

  constructor(capacity: number, onEvict?: (key: string, value: V) => void) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`Lru capacity must be a whole number ≥ 1, got ${capacity}`);
    this.capacity = capacity;
    this.#onEvict = onEvict;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: string): V | undefined {
    const value = this.#map.get(key);
    if (value === undefined) return undefined;
    this.#map.delete(key);
    this.#map.set(key, value);
    return value;
  }

  /** The value for `key` without making it the most recent: for reads that must change nothing. */
  peek(key: string): V | undefined {
    return this.#map.get(key);
  }

  /** The value for `key`, created by `make` (and possibly evicting the oldest key) when missing. */
  upsert(key: string, make: () => V): V {
    const found = this.get(key);
    if (found !== undefined) return found;
    const value = make();
    this.set(key, value);
    return value;
  }

  set(key: string, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    while (this.#map.size > this.capacity) {
      const [oldest, dropped] = this.#map.entries().next().value as [string, V];
      this.#map.delete(oldest);
      this.evicted++;
      this.#onEvict?.(oldest, dropped);
    }
  }

  /** Oldest first, so restoring entries in this order keeps the recency order. */
  entries(): IterableIterator<[string, V]> {
    return this.#map.entries();
  }

  clear(): void {
    this.#map.clear();
  }
}
