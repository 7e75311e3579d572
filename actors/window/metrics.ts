/**
 * Watermark gauges of the window tasks this process runs, next to the runtime's per-actor
 * counters (otel/metrics.ts). A person asking "why has this window not closed?" reads
 * the source's watermark, its lag behind the wall clock, and what each task buffers.
 */
export interface WindowGauge {
  task: string;
  source: string;
  /** Event time (epoch ms) up to which this task's windows are complete; null before any event. */
  watermark: number | null;
  /** Wall clock minus watermark when last measured. */
  lag_ms: number | null;
  buffered: number;
  open_windows: number;
  events: number;
  late_events: number;
  /** Last EVENTS sequence folded into the task's state. */
  seq: number;
  updated_at: number;
}

export interface SourceWatermark {
  source: string;
  /** The lowest watermark over this process's tasks of the source. */
  watermark: number | null;
  lag_ms: number | null;
  late_events: number;
}

const gauges = new Map<string, WindowGauge>();
let lateEmitted = 0;

export function setGauge(g: WindowGauge): void {
  gauges.set(`${g.task}/${g.source}`, g);
}

export function dropTaskGauges(task: string): void {
  for (const key of [...gauges.keys()]) if (key.startsWith(`${task}/`)) gauges.delete(key);
}

export function countLate(n: number): void {
  lateEmitted += n;
}

/** Late messages this process published to `late.<source>` (a replay's repeats included). */
export function lateEventsEmitted(): number {
  return lateEmitted;
}

export function windowGauges(): WindowGauge[] {
  return [...gauges.values()];
}

export function sourceWatermarks(nowMs = Date.now()): SourceWatermark[] {
  const by = new Map<string, SourceWatermark>();
  for (const g of gauges.values()) {
    const s = by.get(g.source) ?? { source: g.source, watermark: null, lag_ms: null, late_events: 0 };
    if (g.watermark !== null) s.watermark = s.watermark === null ? g.watermark : Math.min(s.watermark, g.watermark);
    s.late_events += g.late_events;
    by.set(g.source, s);
  }
  for (const s of by.values()) s.lag_ms = s.watermark === null ? null : nowMs - s.watermark;
  return [...by.values()].sort((a, b) => a.source.localeCompare(b.source));
}
