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
