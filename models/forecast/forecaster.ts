import { fitFamily, forecastFrom, initialState, step, type ModelKind, type ModelParams, type ModelState } from "./models.ts";

/**
 * A forecast from the last observed point: `mean[k]` is k+1 steps ahead, with a central
 * prediction interval at `level` taken from the model's own multi-step errors on recent history.
 *
 * @example
 * const f = forecaster.forecast(12);
 * console.log(f.model.kind, f.model.period, f.mean[0], f.lower[0], f.upper[0]);
 */
export interface Forecast {
  /** Expected timestamps (ms) of the forecast points: the last one plus k sampling intervals. */
  timestamps: number[];
  mean: number[];
  lower: number[];
  upper: number[];
  /** Nominal coverage of [lower, upper], e.g. 0.8. */
  level: number;
  model: ModelParams;
}

/**
 * @example
 * const f = createForecaster({ horizon: 12, level: 0.9 });
 */
export interface ForecasterOptions {
  /** Steps ahead the model is chosen for (and the default of `forecast()`). Default 12. */
  horizon?: number;
  /** Nominal coverage of the prediction intervals. Default 0.8. */
  level?: number;
  /** Points of history kept (bounds memory and fitting time). Default 4032. */
  maxHistory?: number;
  /** Longest seasonal period considered, in points. Default 1008. */
  maxPeriod?: number;
  /** A calendar period to try besides the detected one, e.g. points per day. */
  period?: number;
  /** Refit (model choice, weights, intervals) after this many new points; in between the state is updated point by point. Default 288. */
  refitEvery?: number;
}

/** A streaming per-series forecaster; state is plain JSON of bounded size. */
export interface Forecaster {
  /** Adds one observation; timestamps non-decreasing. Non-finite values are skipped. */
  update(timestampMs: number, value: number): void;
  /** Forecast `h` steps (default: the horizon) from the last point; null until 2 points were seen. */
  forecast(h?: number): Forecast | null;
  snapshot(): ForecasterSnapshot;
  restore(snapshot: ForecasterSnapshot): void;
}

export type ForecasterSnapshot = { version: 1 } & Record<string, unknown>;

export class ForecastSnapshotError extends Error {
  override name = "ForecastSnapshotError";
}

/** A fitted model with its state at the end of the history and its empirical error quantiles per horizon. */
export interface FittedModel {
  params: ModelParams;
  state: ModelState;
  /** errorLow[k], errorHigh[k]: quantiles of (actual - forecast) k+1 steps ahead. */
  errorLow: number[];
  errorHigh: number[];
}

/**
 * Seasonal period by autocorrelation: the lag (2..maxPeriod) of the highest local peak of the
 * sample autocorrelation after its first dip below zero, if that peak is above 0.2; else 1.
 */
export function detectPeriod(values: number[], maxPeriod: number): number {
  const n = values.length;
  const maxLag = Math.min(maxPeriod, Math.floor(n / 3));
  if (maxLag < 2) return 1;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const d = values.map((v) => v - mean);
  const var0 = d.reduce((a, b) => a + b * b, 0);
  if (var0 === 0) return 1;
  const acf = [1];
  for (let lag = 1; lag <= maxLag + 1; lag++) {
    let s = 0;
    for (let t = lag; t < n; t++) s += d[t] * d[t - lag];
    acf.push(s / var0);
  }
  let crossed = false;
  let best = 1;
  let bestAcf = 0.2;
  for (let lag = 2; lag <= maxLag; lag++) {
    if (acf[lag] < 0) crossed = true;
    if (!crossed) continue;
    if (acf[lag] > acf[lag - 1] && acf[lag] >= acf[lag + 1] && acf[lag] > bestAcf) {
      best = lag;
      bestAcf = acf[lag];
    }
  }
  return best;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * Multi-step errors of a model over the last `span` origins of the history: actual minus the
 * forecast made k+1 steps earlier, for k < horizon. Also returns the final state.
 */
function multiStepErrors(values: number[], params: ModelParams, horizon: number, span: number): { errors: number[][]; state: ModelState } {
  const s = initialState(values, params);
  const start = params.kind === "holt-winters" ? params.period : 0;
  const firstOrigin = Math.max(start + 1, values.length - span - horizon);
  const errors: number[][] = Array.from({ length: horizon }, () => []);
  for (let t = start; t < values.length; t++) {
    if (t >= firstOrigin) {
      const f = forecastFrom(s, params, Math.min(horizon, values.length - t));
      f.forEach((y, k) => errors[k].push(values[t + k] - y));
    }
    step(s, params, values[t]);
  }
  return { errors, state: s };
}

/**
 * Chooses and fits a model for one history: the period by autocorrelation (and `period`, a
 * calendar hint such as points per day, when given), the weights of each
 * family by one-step error, the family by its mean absolute 1..horizon-step error over the
 * most recent stretch of the history (a rolling holdout inside the history, so nothing is
 * fitted on data the forecast will be judged on).
 */
export function fitBest(values: number[], opts: { horizon: number; level: number; maxPeriod: number; period?: number }): FittedModel {
  const n = values.length;
  const detected = detectPeriod(values, opts.maxPeriod);
  const periods = [...new Set([detected, opts.period ?? 1])].filter((m) => m > 1 && n >= 3 * m);
  const families: { kind: ModelKind; period: number }[] = [
    { kind: "naive", period: 1 },
    { kind: "ses", period: 1 },
    { kind: "damped-trend", period: 1 },
    ...periods.flatMap((period) => [{ kind: "seasonal-naive" as const, period }, { kind: "holt-winters" as const, period }]),
  ];
  // Holdout: the last stretch (at least 5 horizons, at most a quarter of the history) is
  // scored with weights fitted on what precedes it; the winner is refitted on everything.
  const holdout = Math.max(5 * opts.horizon, Math.min(Math.floor(n / 4), 20 * opts.horizon));
  const train = values.slice(0, Math.max(2, n - holdout));
  let best: { kind: ModelKind; period: number; mae: number } | null = null;
  for (const { kind, period } of families) {
    if (kind === "holt-winters" && train.length < 2 * period) continue;
    const { params } = fitFamily(train, kind, period, Math.min(period, Math.floor(train.length / 4)));
    const { errors } = multiStepErrors(values, params, opts.horizon, holdout);
    const all = errors.flat();
    const mae = all.reduce((a, e) => a + Math.abs(e), 0) / Math.max(1, all.length);
    if (Number.isFinite(mae) && (!best || mae < best.mae)) best = { kind, period, mae };
  }
  const chosen = best ?? { kind: "naive" as const, period: 1 };
  const { params } = fitFamily(values, chosen.kind, chosen.period, Math.min(chosen.period, Math.floor(n / 4)));
  const { errors, state } = multiStepErrors(values, params, opts.horizon, Math.max(holdout, 10 * opts.horizon));
  const tail = (1 - opts.level) / 2;
  const sorted = errors.map((e) => [...e].sort((a, b) => a - b));
  return {
    params,
    state,
    errorLow: sorted.map((e) => quantile(e, tail)),
    errorHigh: sorted.map((e) => quantile(e, 1 - tail)),
  };
}

/** Forecast `h` steps from a fitted model, intervals from its error quantiles (the last horizon's beyond its range). */
export function predict(model: FittedModel, h: number): { mean: number[]; lower: number[]; upper: number[] } {
  const mean = forecastFrom(model.state, model.params, h);
  const at = (xs: number[], k: number) => xs[Math.min(k, xs.length - 1)] ?? 0;
  return {
    mean,
    lower: mean.map((y, k) => y + Math.min(0, at(model.errorLow, k))),
    upper: mean.map((y, k) => y + Math.max(0, at(model.errorHigh, k))),
  };
}

interface State {
  version: 1;
  values: number[];
  times: number[];
  /** Points added since the model was last fitted. */
  sinceFit: number;
  model: FittedModel | null;
}

/**
 * Creates a streaming forecaster for one series. It keeps the last `maxHistory` points, picks a
 * model automatically (naive, seasonal naive, simple exponential smoothing, damped trend, damped
 * Holt-Winters with the period found by autocorrelation), refits every `refitEvery` points and
 * otherwise advances the fitted model point by point.
 *
 * @example
 * const f = createForecaster({ horizon: 12 });
 * for (const [t, v] of points) f.update(t, v);
 * const next = f.forecast();
 * if (next) console.log(next.model.kind, next.mean, next.lower, next.upper);
 */
export function createForecaster(options: ForecasterOptions = {}): Forecaster {
  const horizon = options.horizon ?? 12;
  const level = options.level ?? 0.8;
  const maxHistory = options.maxHistory ?? 4032;
  const maxPeriod = options.maxPeriod ?? 1008;
  const refitEvery = options.refitEvery ?? 288;
  let st: State = { version: 1, values: [], times: [], sinceFit: 0, model: null };

  function sampling(): number {
    const gaps: number[] = [];
    for (let i = Math.max(1, st.times.length - 16); i < st.times.length; i++) gaps.push(st.times[i] - st.times[i - 1]);
    gaps.sort((a, b) => a - b);
    return gaps[Math.floor(gaps.length / 2)] ?? 0;
  }

  return {
    update(timestampMs, value) {
      if (!Number.isFinite(value) || !Number.isFinite(timestampMs)) return;
      st.values.push(value);
      st.times.push(timestampMs);
      if (st.values.length > maxHistory) {
        st.values.shift();
        st.times.shift();
      }
      st.sinceFit++;
      if (st.model) step(st.model.state, st.model.params, value);
    },
    forecast(h = horizon) {
      if (st.values.length < 2) return null;
      if (!st.model || st.sinceFit >= refitEvery) {
        st.model = fitBest(st.values, { horizon, level, maxPeriod, period: options.period });
        st.sinceFit = 0;
      }
      const p = predict(st.model, h);
      const dt = sampling();
      const last = st.times[st.times.length - 1];
      return { timestamps: p.mean.map((_, k) => last + (k + 1) * dt), ...p, level, model: { ...st.model.params } };
    },
    snapshot: () => structuredClone(st) as unknown as ForecasterSnapshot,
    restore(snapshot) {
      if (snapshot?.version !== 1 || !Array.isArray(snapshot.values)) {
        throw new ForecastSnapshotError(`unsupported forecaster snapshot: expected version 1, got ${String(snapshot?.version)}`);
      }
      st = structuredClone(snapshot) as unknown as State;
    },
  };
}
