// The M4 Competition's file layout (one row a series: id, then its values) and the interval
// scores its organisers used (coverage, MSIS); sMAPE, MASE and OWA are left to their scorer.

import { seasonalNaiveScale } from "./ensemble.ts";
import { createForecaster } from "./forecaster.ts";

const HOUR_MS = 3_600_000;

/** One series of an M4-layout file. */
export interface M4Series {
  id: string;
  values: number[];
}

export class M4FormatError extends Error {
  override name = "M4FormatError";
}

const unquote = (s: string) => s.trim().replace(/^"(.*)"$/, "$1");

/**
 * Parses an M4-layout CSV: a header row is optional, blank and `NA` cells end a series.
 *
 * @example
 * const series = readM4(readFileSync("Hourly-train.csv", "utf8"));
 * console.log(series[0].id, series[0].values.length);
 */
export function readM4(text: string): M4Series[] {
  const out: M4Series[] = [];
  text.split(/\r?\n/).forEach((line, row) => {
    if (line.trim() === "") return;
    const [first, ...cells] = line.split(",").map(unquote);
    const kept = cells.filter((c) => c !== "" && c !== "NA");
    const values = kept.map(Number);
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      if (out.length === 0 && /^(v1|id|series)$/i.test(first)) return;
      throw new M4FormatError(`row ${row + 1} (series ${first.slice(0, 20)}): value ${bad + 1} is not a number`);
    }
    out.push({ id: first, values });
  });
  return out;
}

/** Rows `id,F1,…,Fh` with a header, the layout the M4 scorer reads. */
export function formatM4(rows: ReadonlyArray<{ id: string; values: readonly number[] }>): string {
  const h = Math.max(0, ...rows.map((r) => r.values.length));
  const header = ["id", ...Array.from({ length: h }, (_, k) => `F${k + 1}`)].join(",");
  return [header, ...rows.map((r) => [r.id, ...r.values.map((v) => String(v))].join(","))].join("\n") + "\n";
}

/** Coverage and MSIS of central intervals at `level` over all series (the M4 definitions). */
export interface IntervalScore {
  /** Share of actual values inside [lower, upper]. */
  coverage: number;
  /**
   * Mean scaled interval score: per series, the mean over the horizon of
   * (upper − lower) + 2/α·(lower − y)·[y < lower] + 2/α·(y − upper)·[y > upper], divided by the
   * in-sample seasonal naive error (period `m`); then averaged over series.
   */
  msis: number;
  /** Mean of (upper − lower) / scale: how wide the intervals are, whatever they cover. */
  width: number;
  /** The factor by which every interval's distance from `mean` would have to be multiplied for exactly `level` of the points to fall inside (1 = calibrated). */
  neededScale: number;
}

/**
 * @example
 * const s = intervalScore(history, actuals, mean, lower, upper, { level: 0.95, period: 24 });
 * console.log(s.coverage, s.msis, s.neededScale);
 */
export function intervalScore(
  history: ReadonlyMap<string, number[]>,
  actuals: ReadonlyMap<string, number[]>,
  mean: ReadonlyMap<string, number[]>,
  lower: ReadonlyMap<string, number[]>,
  upper: ReadonlyMap<string, number[]>,
  opts: { level: number; period: number },
): IntervalScore {
  const alpha = 1 - opts.level;
  let inside = 0;
  let points = 0;
  let msis = 0;
  let width = 0;
  const ratios: number[] = [];
  for (const [id, actual] of actuals) {
    const past = history.get(id);
    const mid = mean.get(id);
    const lo = lower.get(id);
    const hi = upper.get(id);
    if (!past || !mid || !lo || !hi || [mid, lo, hi].some((xs) => xs.length < actual.length)) {
      throw new M4FormatError(`series ${id}: history or ${actual.length} mean/lower/upper values missing`);
    }
    const scale = seasonalNaiveScale(past, opts.period);
    let score = 0;
    let w = 0;
    actual.forEach((y, k) => {
      const l = lo[k];
      const u = hi[k];
      if (y >= l && y <= u) inside++;
      score += u - l + (2 / alpha) * (Math.max(0, l - y) + Math.max(0, y - u));
      w += u - l;
      const reach = y >= mid[k] ? u - mid[k] : mid[k] - l;
      ratios.push(Math.abs(y - mid[k]) / Math.max(Number.MIN_VALUE, reach));
    });
    points += actual.length;
    msis += score / actual.length / scale;
    width += w / actual.length / scale;
  }
  ratios.sort((a, b) => a - b);
  const neededScale = ratios[Math.max(0, Math.ceil(opts.level * ratios.length) - 1)];
  return { coverage: inside / points, msis: msis / actuals.size, width: width / actuals.size, neededScale };
}

/** Forecasts of one series: the point forecast and the central interval at the run's level. */
export interface M4Forecast {
  id: string;
  mean: number[];
  lower: number[];
  upper: number[];
  model: string;
}

/**
 * Forecasts every series `horizon` steps ahead with the streaming forecaster's models, the
 * seasonal period 24 given as the calendar hint (hourly data).
 *
 * @example
 * const out = forecastM4(readM4(text), { horizon: 48, level: 0.95 });
 */
export function forecastM4(series: readonly M4Series[], opts: { horizon: number; level: number }): M4Forecast[] {
  return series.map(({ id, values }) => {
    const f = createForecaster({ horizon: opts.horizon, level: opts.level, period: 24 });
    values.forEach((v, i) => f.update(i * HOUR_MS, v));
    const out = f.forecast(opts.horizon);
    if (!out) throw new M4FormatError(`series ${id}: ${values.length} values, too few to forecast`);
    return { id, mean: out.mean, lower: out.lower, upper: out.upper, model: `${out.model.kind}/${out.model.period}` };
  });
}
