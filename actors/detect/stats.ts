/**
 * Small robust statistics shared by the per-source scorers. Every scorer turns its evidence into
 * a surprise in nats (-ln of a tail probability) and the surprise into a score the way the
 * univariate detector does, so one threshold means the same across signals.
 */

/** Surprise (nats) → score in [0, 1), on the univariate detector's scale (10 nats ≈ 0.63). */
export function scoreOf(surprise: number): number {
  return surprise > 0 ? 1 - Math.exp(-surprise / 10) : 0;
}

/** The inverse of {@link scoreOf}: the surprise a score stands for. */
export function surpriseOf(score: number): number {
  return score <= 0 ? 0 : score >= 1 ? Infinity : -10 * Math.log(1 - score);
}

/** Exponentially weighted mean and mean absolute deviation; plain JSON. */
export interface Robust {
  n: number;
  mean: number;
  dev: number;
}

export const newRobust = (): Robust => ({ n: 0, mean: 0, dev: 0 });

/** Learns `x`; the first `1/minAlpha` points weigh equally, then older ones fade. */
export function learn(r: Robust, x: number, minAlpha = 1 / 50): void {
  if (!Number.isFinite(x)) return;
  const a = Math.max(minAlpha, 1 / (r.n + 1));
  if (r.n === 0) {
    r.mean = x;
    r.dev = 0;
  } else {
    r.dev += (Math.abs(x - r.mean) - r.dev) * a;
    r.mean += (x - r.mean) * a;
  }
  r.n++;
}

/**
 * {@link learn} with `x` first clipped to `clip` standard deviations ({@link spread}) of the mean:
 * an outlier moves the estimate a little instead of either a lot or not at all, so a reference
 * learnt from a few odd values (a card tester's small charges at a merchant) still recovers.
 */
export function learnClipped(r: Robust, x: number, clip: number, floor: number, minAlpha = 1 / 50): void {
  if (r.n < 2 || !Number.isFinite(x)) return learn(r, x, minAlpha);
  const sd = spread(r, floor);
  learn(r, Math.min(Math.max(x, r.mean - clip * sd), r.mean + clip * sd), minAlpha);
}

/** Standard deviation estimated from the mean absolute deviation (normal: σ ≈ 1.25 MAD), at least `floor`. */
export const spread = (r: Robust, floor: number): number => Math.max(1.25 * r.dev, floor);

/** P(X ≤ x) for a sum of `k` unit exponential gaps (Erlang k), exact. */
export function erlangCdf(k: number, x: number): number {
  if (x <= 0) return 0;
  let term = 1;
  let sum = 1;
  for (let i = 1; i < k; i++) {
    term *= x / i;
    sum += term;
  }
  return Math.max(0, 1 - Math.exp(-x) * sum);
}

const EARTH_KM = 6371;

/**
 * Great-circle distance between two [lat, lon, ...] points, km (anything after lon is ignored).
 * `cosLatA` is cos of a's latitude in radians, for a caller measuring one point against many.
 */
export function haversineKm(a: readonly [number, number, ...number[]], b: readonly [number, number, ...number[]], cosLatA = Math.cos(a[0] * (Math.PI / 180))): number {
  const rad = Math.PI / 180;
  const dLat = (b[0] - a[0]) * rad;
  const dLon = (b[1] - a[1]) * rad;
  const h = Math.sin(dLat / 2) ** 2 + cosLatA * Math.cos(b[0] * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}
