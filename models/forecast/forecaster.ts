import { fitEnsemble, predictEnsemble, type FittedModel } from "./ensemble.ts";
import type { MemberKind, MemberSpec } from "./members.ts";

/**
 * A forecast from the last observed point: `mean[k]` is k+1 steps ahead, with a central
 * prediction interval at `level` taken from the chosen combination's own errors at the inner origins.
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
  /** The combination chosen (models/forecast/members.ts): the heaviest member's kind and period, and every member with its weight. */
  model: ForecastModel;
}

/**
 * @example
 * const { kind, period, members } = forecast.model; // members: [{ kind: "lag-regression", period: 24, cycles: 2, weight: 0.7 }, …]
 */
export interface ForecastModel {
  kind: MemberKind;
  period: number;
  members: Array<MemberSpec & { weight: number }>;
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
  /** The calendar period, e.g. points per day (24 for hourly data): used instead of the one found by autocorrelation. */
  period?: number;
  /** Refit (model choice, parameters, intervals) after this many new points; in between the fitted model forecasts from the latest history. Default 288. */
  refitEvery?: number;
}

/** A streaming per-series forecaster; state is plain JSON of bounded size. */
export interface Forecaster {
  /** Adds one observation; timestamps non-decreasing. Non-finite values are skipped. */
  update(timestampMs: number, value: number): void;
  /** Forecast `h` steps (default: the horizon) from the last point; null until {@link MIN_HISTORY} points were seen. */
  forecast(h?: number): Forecast | null;
  snapshot(): ForecasterSnapshot;
  restore(snapshot: ForecasterSnapshot): void;
}

export type ForecasterSnapshot = { version: 2 } & Record<string, unknown>;

/** Points a forecast needs: with fewer there is no change to learn a spread from. */
export const MIN_HISTORY = 2;

export class ForecastSnapshotError extends Error {
  override name = "ForecastSnapshotError";
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

/**
 * Chooses and fits a model for one history (ensemble.ts): the seasonal period is the calendar
 * hint `period` (e.g. points per day) when given, else the one found by autocorrelation.
 */
export function fitBest(values: readonly number[], opts: { horizon: number; level: number; maxPeriod: number; period?: number }): FittedModel {
  const period = opts.period ?? detectPeriod([...values], opts.maxPeriod);
  return fitEnsemble(values, { horizon: opts.horizon, level: opts.level, period });
}

/** Forecast `h` steps from the end of `values` with a fitted model. */
export function predict(model: FittedModel, values: readonly number[], h: number): { mean: number[]; lower: number[]; upper: number[] } {
  return predictEnsemble(model, values, h);
}

function describe(model: FittedModel): ForecastModel {
  const [top] = model.members;
  return { kind: top.spec.kind, period: top.spec.period, members: model.members.map((m) => ({ ...m.spec, weight: m.weight })) };
}

interface State {
  version: 2;
  values: number[];
  times: number[];
  /** Points added since the model was last fitted. */
  sinceFit: number;
  model: FittedModel | null;
}

/**
 * Creates a streaming forecaster for one series. It keeps the last `maxHistory` points, picks a
 * model automatically (the members of members.ts, chosen by an inner rolling origin: see
 * {@link fitBest}), refits every `refitEvery` points and in between forecasts with the fitted
 * model from the latest history.
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
  let st: State = { version: 2, values: [], times: [], sinceFit: 0, model: null };

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
    },
    forecast(h = horizon) {
      if (st.values.length < MIN_HISTORY) return null;
      if (!st.model || st.sinceFit >= refitEvery) {
        st.model = fitBest(st.values, { horizon, level, maxPeriod, period: options.period });
        st.sinceFit = 0;
      }
      const p = predict(st.model, st.values, h);
      const dt = sampling();
      const last = st.times[st.times.length - 1];
      return { timestamps: p.mean.map((_, k) => last + (k + 1) * dt), ...p, level, model: describe(st.model) };
    },
    snapshot: () => structuredClone(st) as unknown as ForecasterSnapshot,
    restore(snapshot) {
      if (snapshot?.version !== 2 || !Array.isArray(snapshot.values)) {
        throw new ForecastSnapshotError(`unsupported forecaster snapshot: expected version 2, got ${String(snapshot?.version)}`);
      }
      st = structuredClone(snapshot) as unknown as State;
    },
  };
}
