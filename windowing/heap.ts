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
 * Values by time, as a binary min-heap over two parallel arrays: no object per entry, which
 * matters because every event's id waits in one (for sessions, an hour of event time). Ties pop in
 * no particular order; nothing that uses it depends on that.
 */
export class TimeHeap<T> {
  private readonly times: number[] = [];
  private readonly values: T[] = [];

  get size(): number {
    return this.times.length;
  }

  /** The earliest time, or undefined when empty. */
  peek(): number | undefined {
    return this.times[0];
  }

  push(at: number, value: T): void {
    const { times, values } = this;
    let i = times.length;
    times.push(at);
    values.push(value);
    while (i > 0) {
      const parent = (i - 1) >>> 1;
      if (!(at < times[parent])) break;
      times[i] = times[parent];
      values[i] = values[parent];
      i = parent;
    }
    times[i] = at;
    values[i] = value;
  }

  /** Removes the earliest entry and returns its value. */
  pop(): T | undefined {
    const { times, values } = this;
    if (times.length === 0) return undefined;
    const top = values[0];
    const lastAt = times.pop() as number;
    const lastValue = values.pop() as T;
    const n = times.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const child = l + 1 < n && times[l + 1] < times[l] ? l + 1 : l;
      if (!(times[child] < lastAt)) break;
      times[i] = times[child];
      values[i] = values[child];
      i = child;
    }
    times[i] = lastAt;
    values[i] = lastValue;
    return top;
  }

  /** [time, value] in heap order: pushed back in this order they make the same heap. */
  entries(): [number, T][] {
    return this.times.map((t, i): [number, T] => [t, this.values[i]]);
  }
}
