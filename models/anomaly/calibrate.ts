// Turns a non-negative statistic into a tail probability against that statistic's own recent
// history, so that signals with very different distributions (a spike z-score, a windowed mean,
// a variance ratio) become comparable "surprise" values. A decayed histogram on a log scale gives
// the empirical tail; beyond the largest value in memory a power-law tail extrapolates, which stays
// conservative on the heavy-tailed data operations metrics usually are (an exponential tail fitted
// to a few rare spikes calls every later spike impossible).

/** Serializable state of one calibrator. Plain JSON: numbers and arrays only. */
export interface CalibratorState {
  /**
   * Histogram weights; bin k covers ln(1 + x) in [k*width, (k+1)*width); the config's last bin
   * is open-ended. Held up to the highest bin given weight: bins past the array are empty (older
   * snapshots hold every bin).
   */
  bins: number[];
  /** Sum of the bins. */
  total: number;
  /** Weight the next observation gets; grows by 1/decay per observation instead of decaying every bin. */
  weight: number;
  /** Observations seen. */
  count: number;
  /**
   * Highest bin ever given weight (-1: none): bins above it are empty, so the tail is summed
   * from there down instead of from the last bin. Absent in older snapshots (then found on use).
   */
  top?: number;
}

/** Shared, fixed settings of a family of calibrators. */
export interface CalibratorConfig {
  bins: number;
  /** Bin width on the ln(1 + x) scale. */
  width: number;
  /** Per-observation forgetting factor, e.g. 1 - 1/2000. */
  decay: number;
  /** Observations needed before p-values are given; 1 until then. */
  minCount: number;
  /** Share of the history treated as the tail, e.g. 0.02. */
  tailMass: number;
  /** Cap on the fitted tail index (lighter tails than this are treated as this). */
  maxTailIndex: number;
}

export function newCalibrator(cfg: CalibratorConfig): CalibratorState {
  return { bins: [], total: 0, weight: 1, count: 0, top: -1 };
}

/** {@link CalibratorState.top}, found by a scan in a state that lacks it. */
function topOf(s: CalibratorState): number {
  if (s.top === undefined) {
    let k = s.bins.length - 1;
    while (k >= 0 && s.bins[k] === 0) k--;
    s.top = k;
  }
  return s.top;
}

function binOf(cfg: CalibratorConfig, x: number): number {
  const k = Math.floor(Math.log1p(Math.max(0, x)) / cfg.width);
  return k >= cfg.bins ? cfg.bins - 1 : k;
}

export function observe(cfg: CalibratorConfig, s: CalibratorState, x: number): void {
  if (Number.isFinite(x)) observeBin(cfg, s, binOf(cfg, x));
}

/**
 * {@link tailProbability} of `x`, then {@link observe} of it: what every signal does per point,
 * with the bin worked out once.
 */
export function judgeThenObserve(cfg: CalibratorConfig, s: CalibratorState, x: number): number {
  if (!Number.isFinite(x)) return tailProbability(cfg, s, x);
  const k = binOf(cfg, x);
  const p = tailInBin(cfg, s, x, k);
  observeBin(cfg, s, k);
  return p;
}

function observeBin(cfg: CalibratorConfig, s: CalibratorState, k: number): void {
  if (k > topOf(s)) s.top = k;
  while (s.bins.length <= k) s.bins.push(0);
  s.bins[k] += s.weight;
  s.total += s.weight;
  s.count++;
  s.weight /= cfg.decay;
  if (s.weight > 1e150) {
    // Renormalise before the weights overflow; probabilities are ratios, so nothing changes.
    const f = 1 / s.weight;
    for (let k = 0; k < s.bins.length; k++) s.bins[k] *= f;
    s.total *= f;
    s.weight = 1;
  }
}

/**
 * Upper-tail probability P(X >= x) under the decayed history, in (0, 1]; small is surprising.
 * Below the history's (1 - tailMass) quantile u it is empirical; above u it is a Pareto tail in
 * (1 + x) whose index is the Hill estimate from the history's own exceedances, so light-tailed
 * statistics call a modest excess extreme and heavy-tailed ones do not.
 */
export function tailProbability(cfg: CalibratorConfig, s: CalibratorState, x: number): number {
  return tailInBin(cfg, s, x, binOf(cfg, x));
}

/** {@link tailProbability} of `x`, which falls in bin `kx`. */
function tailInBin(cfg: CalibratorConfig, s: CalibratorState, x: number, kx: number): number {
  if (s.count < cfg.minCount || s.total <= 0 || !(x > 0)) return 1;
  const unit = s.weight * cfg.decay;
  let above = 0;
  let logSum = 0;
  let ku = -1;
  let aboveX = 0;
  // Empty bins add nothing to any sum: start at the highest one with weight.
  for (let k = topOf(s); k >= 0; k--) {
    const w = s.bins[k];
    if (ku < 0) {
      above += w;
      logSum += w * (k + 0.5) * cfg.width;
      if (above >= cfg.tailMass * s.total) ku = k;
    }
    if (k >= kx) aboveX += w;
    else if (ku >= 0) break;
  }
  const empirical = (aboveX - 0.5 * (s.bins[kx] ?? 0) + 0.5 * unit) / (s.total + unit);
  if (ku < 0 || kx <= ku) return Math.min(1, Math.max(empirical, 1e-300));
  const yu = ku * cfg.width;
  const meanLog = Math.max(logSum / above - yu, cfg.width);
  const index = Math.min(cfg.maxTailIndex, Math.max(1, 1 / meanLog));
  const y = Math.log1p(x);
  return Math.max((above / s.total) * Math.exp(-index * (y - yu)), 1e-300);
}
