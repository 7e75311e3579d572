import type { PartitionStatus } from "./types.ts";

interface Partition {
  maxEventTime: number;
  lastSeenMs: number;
  /** Counts towards the minimum; lost by going idle, regained once caught up with the combined watermark. */
  aligned: boolean;
}

export interface WatermarkJson {
  watermark: number | null;
  started: boolean;
  partitions: [partition: number, maxEventTime: number | null, lastSeenMs: number, aligned: boolean][];
}

/**
 * Bounded-out-of-orderness watermarks per partition, combined like Flink's StatusWatermarkValve:
 * the combined watermark is the minimum over partitions that are active (seen an event within the
 * idle timeout) and aligned; when every partition is idle, the maximum over all of them. A partition
 * loses alignment by going idle and regains it once its own watermark has caught up with the
 * combined one, so one coming back with old data does not stall the others. A partition seen for
 * the first time is aligned: it holds the watermark from its first event. The combined watermark
 * never goes back. Event time before it is late.
 */
export class WatermarkTracker {
  private readonly bound: number;
  private readonly idleTimeoutMs: number;
  private readonly expected: number;
  private readonly partitions = new Map<number, Partition>();
  /** The same partitions in the same order, for the scan on every event (a Map iterator allocates). */
  private readonly list: Partition[] = [];
  private started = false;
  private current = -Infinity;

  constructor(opts: { outOfOrdernessMs: number; idleTimeoutMs: number; expectedPartitions: number }) {
    this.bound = opts.outOfOrdernessMs;
    this.idleTimeoutMs = opts.idleTimeoutMs;
    this.expected = opts.expectedPartitions;
  }

  get watermark(): number {
    return this.current;
  }

  /** Records an event (or a redelivery) of a partition; does not move the combined watermark. */
  observe(partition: number, eventTime: number, nowMs: number): void {
    this.start(nowMs);
    const p = this.partitions.get(partition);
    if (p) {
      if (eventTime > p.maxEventTime) p.maxEventTime = eventTime;
      if (nowMs > p.lastSeenMs) p.lastSeenMs = nowMs;
    } else {
      this.add(partition, { maxEventTime: eventTime, lastSeenMs: nowMs, aligned: true });
    }
  }

  /** Recomputes the combined watermark at processing time `nowMs`; true when it moved forward. */
  advance(nowMs: number): boolean {
    this.start(nowMs);
    if (this.partitions.size === 0) return false;
    let minAligned = Infinity;
    let maxAll = -Infinity;
    let anyActive = false;
    for (const p of this.list) {
      const wm = p.maxEventTime - this.bound;
      if (wm > maxAll) maxAll = wm;
      if (this.idle(p, nowMs)) {
        p.aligned = false;
        continue;
      }
      anyActive = true;
      if (!p.aligned && wm >= this.current) p.aligned = true;
      if (p.aligned && wm < minAligned) minAligned = wm;
    }
    const candidate = anyActive ? minAligned : maxAll;
    if (candidate === Infinity || candidate <= this.current) return false;
    this.current = candidate;
    return true;
  }

  status(nowMs: number): PartitionStatus[] {
    return [...this.partitions.entries()]
      .sort(([a], [b]) => a - b)
      .map(([partition, p]) => {
        const wm = p.maxEventTime - this.bound;
        return {
          partition,
          max_event_time: finite(p.maxEventTime),
          watermark: finite(wm),
          last_seen_ms: p.lastSeenMs,
          idle: this.idle(p, nowMs),
          aligned: p.aligned,
        };
      });
  }

  toJson(): WatermarkJson {
    return {
      watermark: finite(this.current),
      started: this.started,
      partitions: [...this.partitions.entries()].map(([id, p]) => [id, finite(p.maxEventTime), p.lastSeenMs, p.aligned]),
    };
  }

  loadJson(json: WatermarkJson): void {
    this.current = json.watermark ?? -Infinity;
    this.started = json.started;
    this.partitions.clear();
    this.list.length = 0;
    for (const [id, max, lastSeenMs, aligned] of json.partitions) this.add(id, { maxEventTime: max ?? -Infinity, lastSeenMs, aligned });
  }

  private add(id: number, p: Partition): void {
    this.partitions.set(id, p);
    this.list.push(p);
  }

  private idle(p: Partition, nowMs: number): boolean {
    return nowMs - p.lastSeenMs > this.idleTimeoutMs;
  }

  // Expected partitions start holding the watermark at the engine's first processing time, so one
  // that never delivers is released by the idle timeout like any other.
  private start(nowMs: number): void {
    if (this.started) return;
    this.started = true;
    for (let id = 0; id < this.expected; id++) {
      if (!this.partitions.has(id)) this.add(id, { maxEventTime: -Infinity, lastSeenMs: nowMs, aligned: true });
    }
  }
}

function finite(n: number): number | null {
  return Number.isFinite(n) ? n : null;
}
