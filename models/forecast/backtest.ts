import { seasonalNaiveScale } from "./ensemble.ts";
import { fitBest, predict } from "./forecaster.ts";
import type { MemberKind } from "./members.ts";

/**
 * Rolling-origin backtest result for one series.
 *
 * `mase` is the mean absolute error of the forecasts divided by the in-sample mean absolute
 * error of the one-step seasonal naive forecast on the training window (Hyndman & Koehler 2006),
 * averaged over origins. The period m is `period` when given (the data's calendar frequency,
 * e.g. points per day, as M4 does), else the one detected on each training window (1 = naive).
 * `maseSeasonalNaive` is the same figure for the seasonal naive forecast itself (period m) over
 * the same horizons, and `relativeMae` the ratio of the two total errors: below 1 beats it.
 *
 * @example
 * const r = backtest(values, { horizon: 12, origins: 10 });
 * console.log(r.mase, r.maseSeasonalNaive, r.coverage);
 */
export interface BacktestResult {
  mase: number;
  maseSeasonalNaive: number;
  relativeMae: number;
  /** Share of actual values inside the prediction intervals. */
  coverage: number;
  /** Nominal coverage of the intervals. */
  level: number;
  origins: { at: number; kind: MemberKind; period: number; mae: number; scale: number; maeSeasonalNaive: number }[];
}

export class BacktestError extends Error {
  override name = "BacktestError";
}

/**
 * Rolling-origin evaluation: `origins` forecast origins evenly spaced over the second half of
 * the series; at each, a model is chosen and fitted on at most `maxHistory` points before the
 * origin only, and judged on the next `horizon` points.
 */
export function backtest(
  values: number[],
  opts: { horizon: number; origins: number; level?: number; maxHistory?: number; maxPeriod?: number; period?: number },
): BacktestResult {
  const { horizon, origins } = opts;
  const level = opts.level ?? 0.8;
  const maxHistory = opts.maxHistory ?? 4032;
  const maxPeriod = opts.maxPeriod ?? 1008;
  const n = values.length;
  const first = Math.floor(n / 2);
  const last = n - horizon;
  if (last <= first || origins < 1) {
    throw new BacktestError(`series of ${n} points is too short for ${origins} origins with horizon ${horizon}`);
  }
  const out: BacktestResult["origins"] = [];
  let inside = 0;
  let total = 0;
  for (let k = 0; k < origins; k++) {
    const at = origins === 1 ? last : Math.round(first + ((last - first) * k) / (origins - 1));
    const train = values.slice(Math.max(0, at - maxHistory), at);
    const model = fitBest(train, { horizon, level, maxPeriod, period: opts.period });
    const m = opts.period ?? model.members[0].spec.period;
    const f = predict(model, train, horizon);
    const actual = values.slice(at, at + horizon);
    const scale = seasonalNaiveScale(train, m);
    let mae = 0;
    let maeSn = 0;
    actual.forEach((y, j) => {
      mae += Math.abs(y - f.mean[j]);
      maeSn += Math.abs(y - train[train.length - m + (j % m)]);
      if (y >= f.lower[j] && y <= f.upper[j]) inside++;
      total++;
    });
    out.push({ at, kind: model.members[0].spec.kind, period: model.members[0].spec.period, mae: mae / horizon, scale, maeSeasonalNaive: maeSn / horizon });
  }
  // A flat training window has no scale; such origins are left out of the MASE averages.
  const scored = out.filter((o) => o.scale > 0);
  const avg = (f: (o: (typeof out)[number]) => number) => scored.reduce((a, o) => a + f(o), 0) / Math.max(1, scored.length);
  return {
    mase: avg((o) => o.mae / o.scale),
    maseSeasonalNaive: avg((o) => o.maeSeasonalNaive / o.scale),
    relativeMae: scored.reduce((a, o) => a + o.mae, 0) / Math.max(1e-300, scored.reduce((a, o) => a + o.maeSeasonalNaive, 0)),
    coverage: inside / Math.max(1, total),
    level,
    origins: out,
  };
}
