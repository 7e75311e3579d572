import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { readNabCsv } from "../anomaly/nab.ts";
import { backtest } from "./backtest.ts";

/** One series to backtest: epoch-ms timestamps, evenly spaced, and their values (from NAB files, {@link nabSeries}, or the generator, actors/generate/series.ts). */
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

/** The report as text: one line per series, then the means. */
export function formatReport(report: ForecastEvalReport): string {
  const width = Math.max(10, ...report.series.map((s) => s.name.length));
  const lines = report.series.map((s) =>
    `${s.name.padEnd(width)}  MASE ${s.mase.toFixed(3)}  snaive ${s.maseSeasonalNaive.toFixed(3)}  relMAE ${s.relativeMae.toFixed(3)}  coverage ${s.coverage.toFixed(3)}  ${s.models}`);
  const m = report.mean;
  lines.push(`mean over ${m.series} series: MASE ${m.mase.toFixed(3)}  seasonal naive ${m.maseSeasonalNaive.toFixed(3)}  relMAE ${m.relativeMae.toFixed(3)}  coverage ${m.coverage.toFixed(3)}  (horizon ${report.horizon}, ${report.origins} origins, ${Math.round(report.level * 100)}% intervals, period = points per day)`);
  return lines.join("\n");
}
