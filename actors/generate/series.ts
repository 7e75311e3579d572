import type { EvalSeries } from "../../models/forecast/eval.ts";
import { createGenerator } from "./index.ts";
import { DAY_MS } from "./model.ts";

/** Buckets of `bucketMs` from `start` to `end`: each entity's values folded by `fold` (mean or sum). */
function bucketed(events: Iterable<{ entity: string; time: number; value: number }>, start: number, end: number, bucketMs: number, fold: "mean" | "sum"): Map<string, { times: number[]; values: number[] }> {
  const buckets = Math.floor((end - start) / bucketMs);
  const acc = new Map<string, { sum: Float64Array; count: Uint32Array }>();
  for (const e of events) {
    const b = Math.floor((e.time - start) / bucketMs);
    if (b < 0 || b >= buckets) continue;
    let a = acc.get(e.entity);
    if (!a) acc.set(e.entity, (a = { sum: new Float64Array(buckets), count: new Uint32Array(buckets) }));
    a.sum[b] += e.value;
    a.count[b]++;
  }
  const out = new Map<string, { times: number[]; values: number[] }>();
  for (const [entity, a] of acc) {
    const times: number[] = [];
    const values: number[] = [];
    for (let b = 0; b < buckets; b++) {
      // A minute without readings has no window (mean); a volume without events is a real zero (sum).
      if (fold === "mean" && a.count[b] === 0) continue;
      times.push(start + b * bucketMs);
      values.push(fold === "mean" ? a.sum[b] / a.count[b] : a.sum[b]);
    }
    out.set(entity, { times, values });
  }
  return out;
}

export interface SyntheticForecastOptions {
  seed: number;
  /** Simulated days per source. Default 4 (the MASE scale needs more than one day of training). */
  days?: number;
  /** Sensors generated (each one a temperature series). Default 12. */
  sensors?: number;
  /** Busiest merchants and topics kept. Default 6 each. */
  top?: number;
}

/**
 * Series the generator produces without injected anomalies, as the windows would see them:
 * per-sensor temperature 1-minute means (one reading every 2 s over all sensors), per-merchant
 * amount totals per 5 minutes and per-topic post counts per 5 minutes for the busiest merchants
 * and topics (one payment and one post a second).
 *
 * @example
 * const report = evalForecast(syntheticSeries({ seed: 1 }), { horizon: 12, origins: 10 });
 */
export function syntheticSeries(opts: SyntheticForecastOptions): EvalSeries[] {
  const days = opts.days ?? 4;
  const top = opts.top ?? 6;
  const start = Date.UTC(2026, 0, 1);
  const end = start + days * DAY_MS;
  function* events(source: "iot" | "txn" | "social", intervalMs: number, entities: number | undefined, pick: (e: ReturnType<ReturnType<typeof createGenerator>["next"]>) => { entity: string; value: number }) {
    const gen = createGenerator({ seed: opts.seed, sources: [source], startTime: start, intervalMs, ...(entities ? { entities: { [source]: entities } } : {}) });
    for (let t = start; t < end; t += intervalMs) {
      const e = gen.next(t);
      yield { time: e.time, ...pick(e) };
    }
  }
  const series: EvalSeries[] = [];
  const add = (prefix: string, byEntity: Map<string, { times: number[]; values: number[] }>, keep: number) => {
    const ranked = [...byEntity].sort(([a, x], [b, y]) => y.values.reduce((s, v) => s + (v !== 0 ? 1 : 0), 0) - x.values.reduce((s, v) => s + (v !== 0 ? 1 : 0), 0) || a.localeCompare(b));
    for (const [entity, s] of ranked.slice(0, keep).sort(([a], [b]) => a.localeCompare(b))) series.push({ name: `${prefix}:${entity}`, ...s });
  };
  const sensors = opts.sensors ?? 12;
  add("iot:temperature", bucketed(events("iot", 2_000, sensors, (e) => ({ entity: e.key, value: Number((e.payload as { temperature?: number }).temperature) })), start, end, 60_000, "mean"), sensors);
  add("txn:amount/5min", bucketed(events("txn", 1_000, undefined, (e) => ({ entity: String((e.payload as { merchant_id?: string }).merchant_id), value: Number((e.payload as { amount?: number }).amount) })), start, end, 300_000, "sum"), top);
  add("social:posts/5min", bucketed(events("social", 1_000, undefined, (e) => ({ entity: String((e.payload as { topic?: string }).topic), value: 1 })), start, end, 300_000, "sum"), top);
  return series;
}
