/**
 * The event ids a validate task published in the last `windowMs` of RAW stream time: with
 * batching on, EVENTS' duplicate window sees batch ids, not event ids, so validate drops a
 * repeated event itself, as JetStream did for a single-event message. Judged by stream time, not
 * the wall clock, so a replay decides the same; part of the task's checkpoint.
 *
 * Bounded: past `maxTracked` ids the oldest go first, so at a high rate the window is shorter
 * than `windowMs` (then a repeat reaches EVENTS; sluice.events still keeps one row per event
 * under FINAL).
 */
export class RecentIds {
  private readonly windowMs: number;
  private readonly maxTracked: number;
  /** Insertion order is stream order: the oldest entries are at the front. */
  private readonly seen = new Map<string, number>();

  constructor(windowMs: number, maxTracked: number) {
    this.windowMs = windowMs;
    this.maxTracked = maxTracked;
  }

  /** Whether `id` was published within the window before `atMs`; records it when not. */
  repeat(id: string, atMs: number): boolean {
    this.forget(atMs);
    const before = this.seen.get(id);
    if (before !== undefined && before >= atMs - this.windowMs) return true;
    this.seen.delete(id);
    this.seen.set(id, atMs);
    return false;
  }

  private forget(nowMs: number): void {
    for (const [id, at] of this.seen) {
      // Room for the one about to be added.
      if (at >= nowMs - this.windowMs && this.seen.size < this.maxTracked) break;
      this.seen.delete(id);
    }
  }

  get size(): number {
    return this.seen.size;
  }

  snapshot(): Array<[string, number]> {
    return [...this.seen];
  }

  static restore(windowMs: number, maxTracked: number, entries: ReadonlyArray<readonly [string, number]> | undefined): RecentIds {
    const ids = new RecentIds(windowMs, maxTracked);
    for (const [id, at] of entries ?? []) ids.seen.set(id, at);
    return ids;
  }
}
