// The candidate models and their fitting. Every model is the same additive error-correction
// recursion (exponential smoothing, ETS(A,Ad,A) and its special cases), so one filter serves
// them all: naive, seasonal naive, simple exponential smoothing, damped-trend Holt and damped
// Holt-Winters differ only in which smoothing weights are free.

/** Which family a fitted model belongs to. */
export type ModelKind = "naive" | "seasonal-naive" | "ses" | "damped-trend" | "holt-winters";

/** Smoothing weights; `period` 1 means no seasonal component. */
export interface ModelParams {
  kind: ModelKind;
  period: number;
  alpha: number;
  beta: number;
  gamma: number;
  phi: number;
}

/** The recursion's state after the last observation; plain JSON. */
export interface ModelState {
  level: number;
  trend: number;
  /** Seasonal offsets as a ring; season[phase] belongs to the next point. */
  season: number[];
  /** Last `period` observations as a ring; lastCycle[phase] is the one a period before the next point. */
  lastCycle: number[];
  phase: number;
  /** Observations seen (saturates at the period). */
  filled: number;
  last: number;
}

export function initialState(values: number[], p: ModelParams): ModelState {
  const m = p.period;
  const season = new Array<number>(m).fill(0);
  let level = values[0];
  if (p.kind === "holt-winters" && values.length >= 2 * m) {
    // Classical start: first-cycle mean as level, deviations from it as the seasonal offsets.
    let mean = 0;
    for (let k = 0; k < m; k++) mean += values[k];
    mean /= m;
    for (let k = 0; k < m; k++) season[k] = values[k] - mean;
    level = mean;
  }
  return { level, trend: 0, season, lastCycle: new Array<number>(m).fill(0), phase: 0, filled: 0, last: values[0] };
}

/** One step of the recursion; returns the one-step forecast error. */
export function step(s: ModelState, p: ModelParams, y: number): number {
  const m = p.period;
  let pred: number;
  if (p.kind === "naive") pred = s.last;
  else if (p.kind === "seasonal-naive") pred = s.filled < m ? s.last : s.lastCycle[s.phase];
  else {
    const seasonal = p.kind === "holt-winters" ? s.season[s.phase] : 0;
    pred = s.level + p.phi * s.trend + seasonal;
    const e = y - pred;
    s.level = s.level + p.phi * s.trend + p.alpha * e;
    s.trend = p.phi * s.trend + p.beta * e;
    if (p.kind === "holt-winters") s.season[s.phase] = seasonal + p.gamma * e;
  }
  s.lastCycle[s.phase] = y;
  s.phase = (s.phase + 1) % m;
  if (s.filled < m) s.filled++;
  s.last = y;
  if (p.kind === "naive" || p.kind === "seasonal-naive") s.level = y;
  return y - pred;
}

/** Point forecasts 1..h steps ahead of the state. */
export function forecastFrom(s: ModelState, p: ModelParams, h: number): number[] {
  const m = p.period;
  const out: number[] = [];
  let damp = 0;
  let phiK = 1;
  for (let k = 1; k <= h; k++) {
    const slot = (s.phase + k - 1) % m;
    if (p.kind === "naive") out.push(s.last);
    else if (p.kind === "seasonal-naive") out.push(s.filled < m ? s.last : s.lastCycle[slot]);
    else {
      phiK *= p.phi;
      damp += phiK;
      out.push(s.level + damp * s.trend + (p.kind === "holt-winters" ? s.season[slot] : 0));
    }
  }
  return out;
}

const ALPHAS = [0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9, 1];
const BETA_FRACTIONS = [0, 0.02, 0.1];
const GAMMAS = [0.01, 0.05, 0.15, 0.3];
const PHIS = [0.8, 0.9, 0.98];

/** Every parameter set tried for a family (weights on a coarse grid, β as a fraction of α). */
export function candidates(kind: ModelKind, period: number): ModelParams[] {
  const base = { kind, period: 1, alpha: 0, beta: 0, gamma: 0, phi: 1 };
  switch (kind) {
    case "naive":
      return [{ ...base }];
    case "seasonal-naive":
      return [{ ...base, period }];
    case "ses":
      return ALPHAS.map((alpha) => ({ ...base, alpha }));
    case "damped-trend":
      return ALPHAS.flatMap((alpha) => BETA_FRACTIONS.filter((f) => f > 0).flatMap((f) => PHIS.map((phi) => ({ ...base, alpha, beta: alpha * f, phi }))));
    case "holt-winters":
      return ALPHAS.flatMap((alpha) => BETA_FRACTIONS.flatMap((f) => GAMMAS.flatMap((gamma) => PHIS.map((phi) => ({ ...base, period, alpha, beta: alpha * f, gamma: gamma * (1 - alpha), phi })))));
  }
}

/**
 * Runs the recursion over the values; returns the final state and the one-step sum of absolute
 * errors after a burn-in (absolute, not squared: operations series are spiky, and squared error
 * lets a few spikes pull every weight towards chasing them).
 */
export function filter(values: number[], p: ModelParams, burnIn: number): { state: ModelState; sae: number } {
  const s = initialState(values, p);
  let sae = 0;
  const start = p.kind === "holt-winters" ? p.period : 0;
  for (let t = start; t < values.length; t++) {
    const e = step(s, p, values[t]);
    if (t >= burnIn) sae += Math.abs(e);
  }
  return { state: s, sae };
}

/** Best weights of one family by one-step absolute error. */
export function fitFamily(values: number[], kind: ModelKind, period: number, burnIn: number): { params: ModelParams; state: ModelState } {
  let best: { params: ModelParams; state: ModelState; sae: number } | null = null;
  for (const params of candidates(kind, period)) {
    const { state, sae } = filter(values, params, burnIn);
    if (Number.isFinite(sae) && (!best || sae < best.sae)) best = { params, state, sae };
  }
  if (!best) throw new Error(`no ${kind} model could be fitted to ${values.length} values`);
  return { params: best.params, state: best.state };
}
