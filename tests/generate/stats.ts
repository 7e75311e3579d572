export const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

export const variance = (xs: readonly number[]): number => {
  const m = mean(xs);
  return xs.reduce((a, x) => a + (x - m) ** 2, 0) / xs.length;
};

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function correlation(xs: readonly number[], ys: readonly number[]): number {
  const mx = mean(xs);
  const my = mean(ys);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < xs.length; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
    syy += (ys[i] - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

const ranks = (xs: readonly number[]): number[] => {
  const order = xs.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0]);
  const r = new Array<number>(xs.length);
  order.forEach(([, i], rank) => (r[i] = rank));
  return r;
};

export const spearman = (xs: readonly number[], ys: readonly number[]): number => correlation(ranks(xs), ranks(ys));

/**
 * Fits value ≈ a + b·t + c·sin(ωt) + d·cos(ωt) with ω one cycle per `periodMs`, blind to how the
 * data was made: first the linear trend, then the harmonic on its residuals (over whole periods the
 * two are nearly orthogonal). Returns the share of the detrended variance the cycle explains and
 * the time of day (ms after 00:00 UTC) the cycle peaks.
 */
export function harmonicFit(times: readonly number[], values: readonly number[], periodMs: number): { r2: number; peakMs: number } {
  const mt = mean(times);
  const mv = mean(values);
  let stv = 0;
  let stt = 0;
  for (let i = 0; i < times.length; i++) {
    stv += (times[i] - mt) * (values[i] - mv);
    stt += (times[i] - mt) ** 2;
  }
  const slope = stv / stt;
  const residuals = values.map((v, i) => v - mv - slope * (times[i] - mt));
  const w = (2 * Math.PI) / periodMs;
  let c = 0;
  let d = 0;
  for (let i = 0; i < times.length; i++) {
    c += residuals[i] * Math.sin(w * times[i]);
    d += residuals[i] * Math.cos(w * times[i]);
  }
  c = (2 * c) / times.length;
  d = (2 * d) / times.length;
  const fitted = times.map((t) => c * Math.sin(w * t) + d * Math.cos(w * t));
  const r2 = 1 - variance(residuals.map((r, i) => r - fitted[i])) / variance(residuals);
  // c·sin(wt) + d·cos(wt) = R·sin(wt + φ), φ = atan2(d, c); it peaks where wt + φ = π/2.
  const peak = (Math.PI / 2 - Math.atan2(d, c)) / w;
  return { r2, peakMs: ((peak % periodMs) + periodMs) % periodMs };
}

/** Smallest distance between two times of a cycle. */
export function cyclicDistance(a: number, b: number, periodMs: number): number {
  const d = Math.abs(a - b) % periodMs;
  return Math.min(d, periodMs - d);
}

export function groupBy<T, K>(items: readonly T[], key: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}
