import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { createGenerator } from "../../actors/generate/index.ts";
import { readNabCsv } from "../anomaly/nab.ts";
import { backtest } from "./backtest.ts";

/** One series to backtest: epoch-ms timestamps, evenly spaced, and their values. */
export interface EvalSeries {
  name: string;
  times: number[];
  values: number[];
}

/** Backtest figures of one series (see {@link backtest}); `models` lists the families chosen over the origins. */
export interface SeriesScore {
  name: string;
  points: number;
  /** Points per day: the seasonal naive period and the MASE scale. */
  period: number;
  mase: number;
  maseSeasonalNaive: number;
  relativeMae: number;
  coverage: number;
  models: string;
}

export interface ForecastEvalReport {
  horizon: number;
  origins: number;
  level: number;
  series: SeriesScore[];
  /** Means over the series with a non-zero MASE scale (a flat series has none). */
  mean: { series: number; mase: number; maseSeasonalNaive: number; relativeMae: number; coverage: number };
}

const DAY_MS = 86_400_000;

/**
 * Rolling-origin backtest of every series with the calendar period (points per day, from the
 * median sampling interval) as the seasonal naive benchmark and MASE scale.
 *
 * @example
 * const report = evalForecast(nabSeries("../shared/nab/data"), { horizon: 12, origins: 10 });
 * console.log(report.mean.mase, report.mean.coverage);
 */
export function evalForecast(list: readonly EvalSeries[], opts: { horizon: number; origins: number; level?: number }): ForecastEvalReport {
  const level = opts.level ?? 0.8;
  const series = list.map((s): SeriesScore => {
    const gaps = s.times.slice(1, 17).map((t, i) => t - s.times[i]).sort((a, b) => a - b);
    const period = Math.round(DAY_MS / gaps[Math.floor(gaps.length / 2)]);
    const r = backtest(s.values, { horizon: opts.horizon, origins: opts.origins, level, period });
    const models = [...new Set(r.origins.map((o) => `${o.kind}${o.period > 1 ? `/${o.period}` : ""}`))].join(" ");
    return { name: s.name, points: s.values.length, period, mase: r.mase, maseSeasonalNaive: r.maseSeasonalNaive, relativeMae: r.relativeMae, coverage: r.coverage, models };
  });
  const scored = series.filter((s) => Number.isFinite(s.mase) && s.mase > 0);
  const mean = (f: (s: SeriesScore) => number) => scored.reduce((a, s) => a + f(s), 0) / Math.max(1, scored.length);
  return {
    horizon: opts.horizon,
    origins: opts.origins,
    level,
    series,
    mean: { series: scored.length, mase: mean((s) => s.mase), maseSeasonalNaive: mean((s) => s.maseSeasonalNaive), relativeMae: mean((s) => s.relativeMae), coverage: mean((s) => s.coverage) },
  };
}

/** Every `<category>/<name>.csv` under a NAB `data/` directory, in name order. */
export function nabSeries(dataDir: string): EvalSeries[] {
  const out: EvalSeries[] = [];
  for (const category of readdirSync(dataDir).sort()) {
    const dir = join(dataDir, category);
    if (!statSync(dir).isDirectory()) continue;
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".csv")).sort()) {
      const { times, values } = readNabCsv(join(dir, file));
      out.push({ name: `${category}/${file}`, times, values });
    }
  }
  return out;
}

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

/** The report as text: one line per series, then the means. */
export function formatReport(report: ForecastEvalReport): string {
  const width = Math.max(10, ...report.series.map((s) => s.name.length));
  const lines = report.series.map((s) =>
    `${s.name.padEnd(width)}  MASE ${s.mase.toFixed(3)}  snaive ${s.maseSeasonalNaive.toFixed(3)}  relMAE ${s.relativeMae.toFixed(3)}  coverage ${s.coverage.toFixed(3)}  ${s.models}`);
  const m = report.mean;
  lines.push(`mean over ${m.series} series: MASE ${m.mase.toFixed(3)}  seasonal naive ${m.maseSeasonalNaive.toFixed(3)}  relMAE ${m.relativeMae.toFixed(3)}  coverage ${m.coverage.toFixed(3)}  (horizon ${report.horizon}, ${report.origins} origins, ${Math.round(report.level * 100)}% intervals, period = points per day)`);
  return lines.join("\n");
}
