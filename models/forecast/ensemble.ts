// Model choice by an inner rolling origin, and intervals from the chosen combination's own
// errors at those origins. Everything is judged on the history only: the last blocks of
// `horizon` points are forecast by members fitted on what precedes the earliest block.

import { candidates, member, type MemberFit, type MemberSpec } from "./members.ts";

/** One member of a fitted combination: what it is, what it learned, its weight (weights sum to 1). */
export interface WeightedMember {
  spec: MemberSpec;
  fit: MemberFit;
  weight: number;
}

/**
 * A weighted combination of members chosen and fitted on a history, with the quantiles of the
 * combination's k-step errors.
 *
 * @example
 * const model = fitEnsemble(values, { horizon: 48, level: 0.95, period: 24 });
 * const { mean, lower, upper } = predictEnsemble(model, values, 48);
 */
export interface FittedModel {
  /** Heaviest first. */
  members: WeightedMember[];
  /** errorLow[k], errorHigh[k]: quantiles of (actual − forecast) k+1 steps ahead at the inner origins. */
  errorLow: number[];
  errorHigh: number[];
  /** Smallest half-width of the interval at step k+1 is floor·√(k+1): 0 unless the history is short or flat. */
  floor: number;
  /** Inner origins the choice and the intervals rest on. */
  origins: number;
}

/** Inner origins: up to this many blocks of `horizon` points at the end of the history. */
const ORIGINS = 10;

/**
 * How sharply the weights fall with a member's inner error: weight ∝ exp(−(score − best)/τ),
 * scores being errors relative to the seasonal naive's (1 = as good as it). Members below 1%
 * of the best's weight are left out. Chosen on the training part only (RESULTS.md).
 */
const TEMPERATURE = 0.1;

/** Standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/** Student t quantile by its Cornish-Fisher expansion in the normal one (close from 5 degrees of freedom; below, it still widens fast). */
function tQuantile(p: number, df: number): number {
  const z = normalQuantile(p);
  const z3 = z ** 3;
  const z5 = z ** 5;
  return z + (z3 + z) / (4 * df) + (5 * z5 + 16 * z3 + 3 * z) / (96 * df * df) + (3 * z ** 7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * df ** 3);
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * How much wider than the combination's own errors at the inner origins its intervals are:
 * the members were chosen and weighted for being good on exactly those origins, so their
 * errors there understate what comes next. Measured on the training part only — each series
 * of the M4 Hourly validation split's history forecast from 48 points before its end — as the
 * factor that puts the nominal share of those points inside: 1.16 at 80%, 1.32 at 95%
 * (RESULTS.md); linear in the level between and beyond, never below 1.
 */
export function widening(level: number): number {
  return Math.max(1, 1.16 + ((level - 0.8) / 0.15) * (1.32 - 1.16));
}

/** Errors per step below which the empirical quantiles are not trusted alone. */
const FEW_ERRORS = 30;

/**
 * The width no history can argue away. When the history leaves fewer than {@link FEW_ERRORS}
 * errors per step: the spread of its one-step changes (at least 10% of the series' magnitude,
 * one unit when it is all zeros) times the t quantile for as many degrees of freedom as there
 * are changes — wide for a few points. With enough errors, all of them zero (a flat line):
 * 0.1% of the magnitude times the normal quantile, so the interval is never of zero width.
 * Otherwise none: the errors speak.
 */
function intervalFloor(values: readonly number[], level: number, errorsPerStep: number, flat: boolean): number {
  const n = values.length;
  const p = 1 - (1 - level) / 2;
  const magnitude = values.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
  if (errorsPerStep >= FEW_ERRORS) return flat ? (0.001 * magnitude || 1) * normalQuantile(p) : 0;
  let ss = 0;
  for (let t = 1; t < n; t++) ss += (values[t] - values[t - 1]) ** 2;
  const sd = n > 1 ? Math.sqrt(ss / (n - 1)) : 0;
  return Math.max(sd, 0.1 * magnitude || 1) * tQuantile(p, Math.max(1, n - 1));
}

/** A member's errors at the inner origins: total sMAPE and scaled error, and each error per step. */
interface Judged {
  spec: MemberSpec;
  smape: number;
  scaled: number;
  /** errors[k]: actual − forecast k+1 steps after each origin. */
  errors: number[][];
}

/**
 * Chooses and weights members for one history: each candidate (members.ts) is fitted on the
 * history before the earliest of up to 10 inner origins (the last blocks of `horizon` points)
 * and forecasts from every origin. Its score is the mean of its sMAPE and scaled error there,
 * each relative to the seasonal naive forecast's (or the naive one's); the best and those
 * close to it are combined, weighted by {@link TEMPERATURE}, each refitted on the whole
 * history. The combination's errors at those origins give the intervals: per step, the
 * empirical quantiles over the origins and the neighbouring steps, widened for the optimism
 * of the choice ({@link widening}), never narrower than {@link intervalFloor}.
 */
export function fitEnsemble(values: readonly number[], opts: { horizon: number; level: number; period: number }): FittedModel {
  const n = values.length;
  // Short histories get a shorter inner horizon so there are still a few origins to learn from.
  const inner = Math.max(1, Math.min(opts.horizon, Math.floor(n / 4)));
  const origins: number[] = [];
  for (let j = 1; j <= ORIGINS && n - j * inner >= Math.max(2, Math.ceil(n / 3)); j++) origins.push(n - j * inner);
  const first = Math.min(...origins);
  const specs = origins.length === 0 ? [] : candidates(opts.period, first);
  const judged: Judged[] = specs.map((spec) => {
    const m = member(spec);
    const fit = m.fit(values.slice(0, first), inner);
    const errors: number[][] = Array.from({ length: inner }, () => []);
    let smape = 0;
    let scaled = 0;
    for (const o of origins) {
      const past = values.slice(0, o);
      const f = m.forecast(past, fit, inner);
      const scale = seasonalNaiveScale(past, opts.period);
      for (let k = 0; k < inner; k++) {
        const y = values[o + k];
        const e = y - f[k];
        errors[k].push(e);
        const d = Math.abs(y) + Math.abs(f[k]);
        smape += d === 0 ? 0 : (200 * Math.abs(e)) / d;
        scaled += scale > 0 ? Math.abs(e) / scale : Math.abs(e);
      }
    }
    return { spec, smape, scaled, errors };
  });
  const ok = judged.filter((j) => Number.isFinite(j.smape) && Number.isFinite(j.scaled));
  const ref = ok.find((j) => j.spec.kind === "seasonal-naive" && j.spec.period === opts.period) ?? ok.find((j) => j.spec.kind === "naive");
  const score = (j: Judged) => 0.5 * (j.smape / Math.max(1e-9, ref?.smape ?? 1) + j.scaled / Math.max(1e-9, ref?.scaled ?? 1));
  const best = Math.min(...ok.map(score));
  const chosen = ok
    .map((j) => ({ j, weight: Math.exp(-(score(j) - best) / TEMPERATURE) }))
    .filter((c) => c.weight >= 0.01)
    .sort((a, b) => b.weight - a.weight);
  const total = chosen.reduce((a, c) => a + c.weight, 0);
  const members: WeightedMember[] = chosen.length
    ? chosen.map(({ j, weight }) => ({ spec: j.spec, fit: member(j.spec).fit(values, opts.horizon), weight: weight / total }))
    : [{ spec: { kind: "naive", period: 1 }, fit: member({ kind: "naive", period: 1 }).fit(values, opts.horizon), weight: 1 }];
  const tail = (1 - opts.level) / 2;
  const w = Math.max(1, Math.round(inner / 8));
  const errorLow: number[] = [];
  const errorHigh: number[] = [];
  if (chosen.length) {
    // The combination's error at an origin is the weighted sum of its members' errors there.
    const combined = Array.from({ length: inner }, (_, k) => origins.map((_, o) => chosen.reduce((a, c) => a + (c.weight / total) * c.j.errors[k][o], 0)));
    const widen = widening(opts.level);
    for (let k = 0; k < inner; k++) {
      // Pool neighbouring steps: 10 origins alone give too few errors for a 95% quantile.
      const pool = combined.slice(Math.max(0, k - w), k + w + 1).flat().sort((a, b) => a - b);
      errorLow.push(widen * quantile(pool, tail));
      errorHigh.push(widen * quantile(pool, 1 - tail));
    }
  }
  const flat = errorLow.every((lo, k) => errorHigh[k] - lo <= 0);
  const floor = intervalFloor(values, opts.level, origins.length * Math.min(inner, 2 * w + 1), flat);
  return { members, errorLow, errorHigh, floor, origins: origins.length };
}

/** In-sample mean absolute error of the seasonal naive forecast with period m (naive when m is 1): the MASE denominator. */
export function seasonalNaiveScale(values: readonly number[], m: number): number {
  let s = 0;
  for (let t = m; t < values.length; t++) s += Math.abs(values[t] - values[t - m]);
  return s / Math.max(1, values.length - m);
}

/**
 * Forecasts `h` steps from the end of `values` (the history the model was fitted on, possibly
 * with points added since). Beyond the inner horizon the last step's error quantiles grow with
 * √k, as a random walk's would.
 */
export function predictEnsemble(model: FittedModel, values: readonly number[], h: number): { mean: number[]; lower: number[]; upper: number[] } {
  const forecasts = model.members.map((m) => ({ weight: m.weight, f: member(m.spec).forecast(values, m.fit, h) }));
  const mean = Array.from({ length: h }, (_, k) => forecasts.reduce((a, m) => a + m.weight * m.f[k], 0));
  const inner = model.errorLow.length;
  const bound = (xs: number[], k: number) => (inner === 0 ? 0 : k < inner ? xs[k] : xs[inner - 1] * Math.sqrt((k + 1) / inner));
  const lower: number[] = [];
  const upper: number[] = [];
  mean.forEach((y, k) => {
    const least = model.floor * Math.sqrt(k + 1);
    lower.push(y + Math.min(-least, bound(model.errorLow, k)));
    upper.push(y + Math.max(least, bound(model.errorHigh, k)));
  });
  return { mean, lower, upper };
}
