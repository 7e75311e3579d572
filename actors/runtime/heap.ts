/** A binary min-heap on a numeric priority: held messages ordered by the watermark that frees them. */
export class MinHeap<T> {
  private readonly items: Array<{ priority: number; value: T }> = [];

  get size(): number {
    return this.items.length;
  }

  push(priority: number, value: T): void {
    const items = this.items;
    items.push({ priority, value });
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent].priority <= items[i].priority) break;
      [items[parent], items[i]] = [items[i], items[parent]];
      i = parent;
    }
  }

  /** Removes and returns every value whose priority is at most `limit`. */
  popUpTo(limit: number): T[] {
    const out: T[] = [];
    while (this.items.length && this.items[0].priority <= limit) out.push(this.pop()!);
    return out;
  }

  values(): T[] {
    return this.items.map((i) => i.value);
  }

  clear(): T[] {
    const all = this.values();
    this.items.length = 0;
    return all;
  }

  private pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop()!;
    if (items.length) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < items.length && items[l].priority < items[m].priority) m = l;
        if (r < items.length && items[r].priority < items[m].priority) m = r;
        if (m === i) break;
        [items[m], items[i]] = [items[i], items[m]];
        i = m;
      }
    }
    return top?.value;
  }
}
