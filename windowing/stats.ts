import { decodeSketch, encodeSketch, mergeSketch, newSketch, quantile, type QuantileSketch } from "./sketch.ts";
import type { WindowResult } from "./types.ts";

/**
 * Running statistics of one metric in one window: count/sum/min/max, Welford's mean and M2 (merged
 * with Chan et al.'s parallel formula) and a DDSketch (sketch.ts) for the quantiles.
 */
export interface MetricStats {
  n: number;
  sum: number;
  min: number;
  max: number;
  mean: number;
  m2: number;
  sketch: QuantileSketch;
}

export type MetricStatsJson = Omit<MetricStats, "sketch"> & { sketch: string };

export type MetricSummary = Pick<WindowResult, "count" | "sum" | "min" | "max" | "mean" | "stddev" | "p50" | "p95" | "p99">;

export function newStats(relativeAccuracy: number): MetricStats {
  return { n: 0, sum: 0, min: Infinity, max: -Infinity, mean: 0, m2: 0, sketch: newSketch(relativeAccuracy) };
}

export function addValue(s: MetricStats, x: number): void {
  addMoments(s, x);
  s.sketch.accept(x);
}

/** Count, sum, min, max, mean and M2 only: for a window whose quantiles come from shared panes. */
export function addMoments(s: MetricStats, x: number): void {
  s.n += 1;
  s.sum += x;
  if (x < s.min) s.min = x;
  if (x > s.max) s.max = x;
  const delta = x - s.mean;
  s.mean += delta / s.n;
  s.m2 += delta * (x - s.mean);
}

export function mergeStats(into: MetricStats, from: MetricStats): void {
  if (from.n === 0) return;
  const n = into.n + from.n;
  const delta = from.mean - into.mean;
  into.mean += (delta * from.n) / n;
  into.m2 += from.m2 + (delta * delta * into.n * from.n) / n;
  into.n = n;
  into.sum += from.sum;
  if (from.min < into.min) into.min = from.min;
  if (from.max > into.max) into.max = from.max;
  mergeSketch(into.sketch, from.sketch);
}

/** `sketch` replaces the stats' own (a hopping window's is assembled from its panes). */
export function summarize(s: MetricStats, sketch: QuantileSketch = s.sketch): MetricSummary {
  return {
    count: s.n,
    sum: s.sum,
    min: s.min,
    max: s.max,
    mean: s.mean,
    stddev: Math.sqrt(Math.max(0, s.m2) / s.n),
    p50: quantile(sketch, 0.5, s.min, s.max),
    p95: quantile(sketch, 0.95, s.min, s.max),
    p99: quantile(sketch, 0.99, s.min, s.max),
  };
}

export function statsToJson(s: MetricStats, sketch: QuantileSketch = s.sketch): MetricStatsJson {
  return { n: s.n, sum: s.sum, min: s.min, max: s.max, mean: s.mean, m2: s.m2, sketch: encodeSketch(sketch) };
}

export function statsFromJson(j: MetricStatsJson, relativeAccuracy: number): MetricStats {
  return { n: j.n, sum: j.sum, min: j.min, max: j.max, mean: j.mean, m2: j.m2, sketch: decodeSketch(j.sketch, relativeAccuracy) };
}
