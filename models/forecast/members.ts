// The candidate forecasting methods ("members") the ensemble chooses from. Each is a pure
// function of the history: `fit` learns its parameters (plain JSON), `forecast` applies them to
// the end of a history, which may be longer than the one it was fitted on — so a member fitted
// once before the validation origins can be judged at every origin without refitting.

import { filter, fitFamily, forecastFrom, type ModelKind, type ModelParams } from "./models.ts";

/** Which method a member is. */
export type MemberKind =
  | "naive"
  | "ses"
  | "damped-trend"
  | "seasonal-naive"
  | "seasonal-average"
  | "seasonal-ses"
  | "theta"
  | "lag-regression";

/**
 * A member's identity and fixed options; `period` 1 means no seasonal component.
 *
 * @example
 * const spec: MemberSpec = { kind: "lag-regression", period: 24, cycles: 2, weeks: 0 };
 */
export interface MemberSpec {
  kind: MemberKind;
  period: number;
  /** seasonal-average, seasonal-ses, theta: cycles the seasonal profile is taken over; lag-regression: same-phase lags one period apart. */
  cycles?: number;
  /** seasonal-average: the median of the cycles instead of their mean. */
  median?: boolean;
  /** seasonal-ses, theta: a multiplicative profile (ratios) instead of an additive one. */
  multiplicative?: boolean;
  /** lag-regression: same-phase lags a week (7 periods) apart. */
  weeks?: number;
}

/** What `fit` learned; plain JSON. */
export type MemberFit = null | { ets: ModelParams } | { coefficients: number[][] };

export interface Member {
  spec: MemberSpec;
  /** Minimum history for the member to be meaningful. */
  minPoints: number;
  fit(values: readonly number[], horizon: number): MemberFit;
  forecast(values: readonly number[], fit: MemberFit, h: number): number[];
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const q = (s.length - 1) / 2;
  return (s[Math.floor(q)] + s[Math.ceil(q)]) / 2;
}

function seasonalNaive(values: readonly number[], m: number, h: number): number[] {
  const n = values.length;
  return Array.from({ length: h }, (_, k) => values[n - m + (k % m)]);
}

/**
 * Seasonal profile of period m over the last `cycles` cycles: the median, per phase, of each
 * point's deviation from (or ratio to) the centred moving average — a median so that one odd
 * day does not shape every forecast. Indexed by absolute position mod m. Null when the history
 * is too short, or a ratio profile meets a non-positive average.
 */
function profile(values: readonly number[], m: number, cycles: number, multiplicative: boolean): number[] | null {
  const n = values.length;
  if (n < m * (cycles + 1)) return null;
  const half = Math.floor(m / 2);
  const byPhase: number[][] = Array.from({ length: m }, () => []);
  const start = Math.max(half, n - half - m * cycles);
  // Running sum of the m points centred on t (2×m with half weights at the ends for even m).
  let window = 0;
  for (let i = start - half; i <= start + half; i++) window += values[i];
  for (let t = start; t < n - half; t++) {
    if (t > start) window += values[t + half] - values[t - half - 1];
    const trend = (m % 2 === 0 ? window - 0.5 * (values[t - half] + values[t + half]) : window) / m;
    if (multiplicative) {
      if (!(trend > 0)) return null;
      byPhase[t % m].push(values[t] / trend);
    } else byPhase[t % m].push(values[t] - trend);
  }
  const figure = byPhase.map(median);
  const centre = mean(figure);
  return figure.map((v) => (multiplicative ? v / centre : v - centre));
}

/** Simple exponential smoothing by least squares on a grid: the final level. */
function sesLevel(x: readonly number[]): number {
  let best = { sse: Infinity, level: x[x.length - 1] };
  for (const alpha of [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1]) {
    let level = x[0];
    let sse = 0;
    for (let t = 1; t < x.length; t++) {
      const e = x[t] - level;
      sse += e * e;
      level += alpha * e;
    }
    if (sse < best.sse) best = { sse, level };
  }
  return best.level;
}

/** Least-squares slope of x against time. */
function slope(x: readonly number[]): number {
  const n = x.length;
  const tm = (n - 1) / 2;
  const xm = mean(x);
  let num = 0;
  let den = 0;
  x.forEach((v, t) => {
    num += (t - tm) * (v - xm);
    den += (t - tm) ** 2;
  });
  return den > 0 ? num / den : 0;
}

/**
 * Seasonally adjusted by the recent profile, then simple exponential smoothing (seasonal-ses)
 * or the Theta method's line — the smoothed level plus half the linear trend (theta) — and
 * the profile put back.
 */
function adjusted(spec: MemberSpec, theta: boolean): Member {
  const m = spec.period;
  const cycles = spec.cycles ?? 7;
  const mult = spec.multiplicative ?? false;
  return {
    spec,
    minPoints: m * (cycles + 1),
    fit: () => null,
    forecast(values, _fit, h) {
      const n = values.length;
      const s = profile(values, m, cycles, mult);
      if (!s) return seasonalNaive(values, m, h);
      const x = values.map((v, t) => (mult ? v / s[t % m] : v - s[t % m]));
      const level = sesLevel(x);
      const b = theta ? slope(x) / 2 : 0;
      return Array.from({ length: h }, (_, k) => {
        const base = level + b * (k + 1);
        return mult ? base * s[(n + k) % m] : base + s[(n + k) % m];
      });
    },
  };
}

/** Gaussian elimination with partial pivoting; a singular direction gets coefficient 0. */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const M = a.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    [M[c], M[p]] = [M[p], M[c]];
    if (Math.abs(M[c][c]) < 1e-12) continue;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = M[r][c] / M[c][c];
      if (f !== 0) for (let k = c; k <= n; k++) M[r][k] -= f * M[c][k];
    }
  }
  return M.map((row, i) => (Math.abs(row[i]) < 1e-12 ? 0 : row[n] / row[i]));
}

const RIDGE = 0.01;
/** Most recent targets a lag regression is fitted on per step (bounds its cost on long histories). */
const MAX_ROWS = 2000;

/**
 * A direct linear regression per step ahead k on same-phase lags: the values one, two, …
 * periods (and weeks) before the target that are already observed, and the last value — each
 * relative to the mean of the last period, which is also the target's reference, so a level
 * shift moves the forecast at once. Lightly ridge-regularised.
 */
function lagRegression(spec: MemberSpec): Member {
  const m = spec.period;
  const days = spec.cycles ?? 2;
  const weeks = spec.weeks ?? 0;
  const week = 7 * m;
  // Features for target t + k given values before t; the reference level last. `sums` are the
  // prefix sums of y, so the mean of the last period costs nothing per row.
  const prefixSums = (y: readonly number[]) => y.reduce<number[]>((acc, v) => (acc.push(acc[acc.length - 1] + v), acc), [0]);
  const features = (y: readonly number[], sums: readonly number[], t: number, k: number): number[] | null => {
    if (t < m) return null;
    const level = (sums[t] - sums[t - m]) / m;
    const f = [1, y[t - 1] - level];
    const first = Math.ceil((k + 1) / m);
    for (let j = first; j < first + days; j++) {
      const i = t + k - m * j;
      if (i < 0) return null;
      f.push(y[i] - level);
    }
    for (let w = Math.ceil((k + 1) / week); w < Math.ceil((k + 1) / week) + weeks; w++) {
      const i = t + k - week * w;
      if (i < 0) return null;
      f.push(y[i] - level);
    }
    f.push(level);
    return f;
  };
  return {
    spec,
    minPoints: m * (days + 2) + week * weeks,
    fit(values, horizon) {
      const sums = prefixSums(values);
      const coefficients: number[][] = [];
      for (let k = 0; k < horizon; k++) {
        let a: number[][] | null = null;
        let b: number[] = [];
        for (let t = Math.max(m, values.length - k - MAX_ROWS); t + k < values.length; t++) {
          const f = features(values, sums, t, k);
          if (!f) continue;
          const target = values[t + k] - f.pop()!;
          if (!a) {
            a = f.map(() => f.map(() => 0));
            b = f.map(() => 0);
          }
          for (let i = 0; i < f.length; i++) {
            b[i] += f[i] * target;
            for (let j = 0; j < f.length; j++) a[i][j] += f[i] * f[j];
          }
        }
        if (!a) return null;
        const ridge = (RIDGE * a.reduce((s, row, i) => s + row[i], 0)) / a.length;
        for (let i = 1; i < a.length; i++) a[i][i] += ridge;
        coefficients.push(solve(a, b));
      }
      return { coefficients };
    },
    forecast(values, fit, h) {
      const n = values.length;
      const coefficients = fit && "coefficients" in fit ? fit.coefficients : null;
      const fallback = seasonalNaive(values, m, h);
      const sums = prefixSums(values);
      return fallback.map((sn, k) => {
        const f = coefficients && k < coefficients.length ? features(values, sums, n, k) : null;
        if (!coefficients || !f) return sn;
        const level = f.pop()!;
        return level + f.reduce((s, v, i) => s + v * coefficients[k][i], 0);
      });
    },
  };
}

/** Exponential smoothing (models.ts): weights by one-step error at fit time, the recursion rerun over the history to forecast. */
function ets(spec: MemberSpec): Member {
  const kind = spec.kind as ModelKind;
  return {
    spec,
    minPoints: 2,
    fit: (values) => ({ ets: fitFamily(values, kind) }),
    forecast(values, fit, h) {
      const params = fit && "ets" in fit ? fit.ets : fitFamily(values, kind);
      return forecastFrom(filter(values, params).state, params, h);
    },
  };
}

/** The implementation of a member from its spec. */
export function member(spec: MemberSpec): Member {
  const m = spec.period;
  switch (spec.kind) {
    case "naive":
    case "ses":
    case "damped-trend":
      return ets(spec);
    case "seasonal-naive":
      return { spec, minPoints: m + 1, fit: () => null, forecast: (values, _fit, h) => seasonalNaive(values, m, h) };
    case "seasonal-average": {
      const cycles = spec.cycles ?? 3;
      return {
        spec,
        minPoints: m * cycles,
        fit: () => null,
        forecast(values, _fit, h) {
          const n = values.length;
          return Array.from({ length: h }, (_, k) => {
            const same: number[] = [];
            for (let j = 1; j <= cycles; j++) if (n - m * j + (k % m) >= 0) same.push(values[n - m * j + (k % m)]);
            return spec.median ? median(same) : mean(same);
          });
        },
      };
    }
    case "seasonal-ses":
      return adjusted(spec, false);
    case "theta":
      return adjusted(spec, true);
    case "lag-regression":
      return lagRegression(spec);
  }
}

/**
 * The candidates for a history with seasonal period `period` (points per day for the calendar
 * one; 1 for none): non-seasonal smoothing always; with a period, the seasonal naive, recent
 * seasonal averages, seasonally adjusted smoothing and Theta, and lag regressions; the weekly
 * ones (7 periods) when two weeks of history allow. Members whose history is too short are left out.
 */
export function candidates(period: number, points: number): MemberSpec[] {
  const out: MemberSpec[] = [{ kind: "naive", period: 1 }, { kind: "ses", period: 1 }, { kind: "damped-trend", period: 1 }];
  if (period > 1) {
    const m = period;
    const w = 7 * m;
    out.push(
      { kind: "seasonal-naive", period: m },
      { kind: "seasonal-average", period: m, cycles: 3 },
      { kind: "seasonal-average", period: m, cycles: 7, median: true },
      { kind: "seasonal-ses", period: m, cycles: 7 },
      { kind: "seasonal-ses", period: m, cycles: 7, multiplicative: true },
      { kind: "theta", period: m, cycles: 7 },
      { kind: "lag-regression", period: m, cycles: 2 },
      { kind: "lag-regression", period: m, cycles: 7 },
      { kind: "lag-regression", period: m, cycles: 3, weeks: 1 },
      { kind: "seasonal-naive", period: w },
      { kind: "seasonal-ses", period: w, cycles: 2 },
      { kind: "seasonal-ses", period: w, cycles: 2, multiplicative: true },
    );
  }
  return out.filter((spec) => member(spec).minPoints <= points);
}
