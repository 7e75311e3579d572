// Non-seasonal exponential smoothing, the members' smoothing family. Every model is the same
// additive error-correction recursion (ETS(A,Ad,N) and its special cases), so one filter
// serves them all: naive, simple exponential smoothing and damped-trend Holt differ only in
// which smoothing weights are free. Seasonal structure lives in members.ts.

/** Which smoothing model. */
export type ModelKind = "naive" | "ses" | "damped-trend";

/** Smoothing weights. */
export interface ModelParams {
  kind: ModelKind;
  alpha: number;
  beta: number;
  phi: number;
}

/** The recursion's state after the last observation; plain JSON. */
export interface ModelState {
  level: number;
  trend: number;
}

/** One step of the recursion; returns the one-step forecast error. */
function step(s: ModelState, p: ModelParams, y: number): number {
  if (p.kind === "naive") {
    const e = y - s.level;
    s.level = y;
    return e;
  }
  const pred = s.level + p.phi * s.trend;
  const e = y - pred;
  s.level = pred + p.alpha * e;
  s.trend = p.phi * s.trend + p.beta * e;
  return e;
}

/** Point forecasts 1..h steps ahead of the state. */
export function forecastFrom(s: ModelState, p: ModelParams, h: number): number[] {
  const out: number[] = [];
  let damp = 0;
  let phiK = 1;
  for (let k = 1; k <= h; k++) {
    if (p.kind === "naive") {
      out.push(s.level);
      continue;
    }
    phiK *= p.phi;
    damp += phiK;
    out.push(s.level + damp * s.trend);
  }
  return out;
}

const ALPHAS = [0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9, 1];
const BETA_FRACTIONS = [0.02, 0.1];
const PHIS = [0.8, 0.9, 0.98];

/** Every parameter set tried for a model (weights on a coarse grid, β as a fraction of α). */
function candidates(kind: ModelKind): ModelParams[] {
  const base = { kind, alpha: 0, beta: 0, phi: 1 };
  switch (kind) {
    case "naive":
      return [{ ...base }];
    case "ses":
      return ALPHAS.map((alpha) => ({ ...base, alpha }));
    case "damped-trend":
      return ALPHAS.flatMap((alpha) => BETA_FRACTIONS.flatMap((f) => PHIS.map((phi) => ({ ...base, alpha, beta: alpha * f, phi }))));
  }
}

/**
 * Runs the recursion over the values; returns the final state and the one-step sum of absolute
 * errors (absolute, not squared: operations series are spiky, and squared error lets a few
 * spikes pull every weight towards chasing them).
 */
export function filter(values: readonly number[], p: ModelParams): { state: ModelState; sae: number } {
  const s: ModelState = { level: values[0], trend: 0 };
  let sae = 0;
  for (let t = 1; t < values.length; t++) sae += Math.abs(step(s, p, values[t]));
  return { state: s, sae };
}

/** Best weights of one model by one-step absolute error. */
export function fitFamily(values: readonly number[], kind: ModelKind): ModelParams {
  let best: { params: ModelParams; sae: number } | null = null;
  for (const params of candidates(kind)) {
    const { sae } = filter(values, params);
    if (Number.isFinite(sae) && (!best || sae < best.sae)) best = { params, sae };
  }
  if (!best) throw new Error(`no ${kind} model could be fitted to ${values.length} values`);
  return best.params;
}
