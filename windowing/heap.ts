/** A binary min-heap over a plain array, so its state snapshots as that array. */
export class MinHeap<T> {
  readonly items: T[];
  private readonly less: (a: T, b: T) => boolean;

  constructor(less: (a: T, b: T) => boolean, items: T[] = []) {
    this.less = less;
    this.items = items;
    for (let i = (items.length >>> 1) - 1; i >= 0; i--) this.down(i);
  }

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  // Both sifts move a hole instead of swapping pairs: one write per level.
  push(item: T): void {
    const a = this.items;
    let i = a.length;
    a.push(item);
    while (i > 0) {
      const parent = (i - 1) >>> 1;
      if (!this.less(item, a[parent])) break;
      a[i] = a[parent];
      i = parent;
    }
    a[i] = item;
  }

  pop(): T | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      this.down(0);
    }
    return top;
  }

  private down(start: number): void {
    const a = this.items;
    const n = a.length;
    const item = a[start];
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && this.less(a[r], a[l]) ? r : l;
      if (!this.less(a[child], item)) break;
      a[i] = a[child];
      i = child;
    }
    a[i] = item;
  }
}

/**
 * Ids by the time they expire, as a binary min-heap over two parallel arrays: no object per entry,
 * which matters because every event's id waits here (for sessions, an hour of event time). Ties
 * pop in no particular order; nothing depends on it.
 */
export class ExpiryHeap {
  private readonly times: number[] = [];
  private readonly ids: string[] = [];

  get size(): number {
    return this.times.length;
  }

  /** The earliest expiry, or undefined when empty. */
  peek(): number | undefined {
    return this.times[0];
  }

  push(at: number, id: string): void {
    const { times, ids } = this;
    let i = times.length;
    times.push(at);
    ids.push(id);
    while (i > 0) {
      const parent = (i - 1) >>> 1;
      if (!(at < times[parent])) break;
      times[i] = times[parent];
      ids[i] = ids[parent];
      i = parent;
    }
    times[i] = at;
    ids[i] = id;
  }

  /** Removes the earliest entry and returns its id. */
  pop(): string | undefined {
    const { times, ids } = this;
    if (times.length === 0) return undefined;
    const top = ids[0];
    const lastAt = times.pop() as number;
    const lastId = ids.pop() as string;
    const n = times.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const child = l + 1 < n && times[l + 1] < times[l] ? l + 1 : l;
      if (!(times[child] < lastAt)) break;
      times[i] = times[child];
      ids[i] = ids[child];
      i = child;
    }
    times[i] = lastAt;
    ids[i] = lastId;
    return top;
  }

  /** [expiry, id] in heap order: pushed back in this order they make the same heap. */
  entries(): [number, string][] {
    return this.times.map((t, i): [number, string] => [t, this.ids[i]]);
  }
}
