import { judgeThenObserve, newCalibrator, type CalibratorConfig, type CalibratorState } from "./calibrate.ts";
import { SnapshotError } from "./univariate.ts";

/**
 * Why a feature vector got its score: the feature furthest from its running mean, and where the
 * vector fell in the forest.
 *
 * @example
 * const { score, explanation } = detector.update(t, [cpu, mem, latency]);
 * if (score > 0.8) console.log(`feature ${explanation.feature}: ${explanation.observed} not in ${explanation.expected.low}..${explanation.expected.high}`);
 */
export interface MultivariateExplanation {
  /** "neighbour-distance", or "warmup" while the reservoir fills, or "invalid". */
  signal: string;
  /** Index (or name, when `featureNames` was given) of the feature that differs most from the vector's nearest neighbours. */
  feature: number | string;
  /** That feature's value. */
  observed: number;
  /** Range of that feature among the nearest neighbours, widened by 4 standard deviations of their spread (at least 1/4 of the feature's overall deviation). */
  expected: { low: number; high: number };
  /** Distance to the k-th nearest past vector, in units of its long-run average (1 = typical). */
  isolation: number;
  /** Tail probability of the isolation under the detector's own score history. */
  pValue: number;
  surprise: number;
}

export interface MultivariateResult {
  /** In [0, 1]; higher is more anomalous. */
  score: number;
  explanation: MultivariateExplanation;
}

/**
 * @example
 * const d = createMultivariateDetector({ featureNames: ["cpu", "mem"], trees: 25 });
 */
export interface MultivariateOptions {
  /** Past vectors kept and compared against. Default 500. */
  reservoir?: number;
  /** Which nearest neighbour's distance is the score (k = 1 is fooled by a repeated outlier). Default 5. */
  k?: number;
  /** Vectors scored 0 while the reservoir and the statistics fill. Default 100. */
  warmup?: number;
  /** Names used in explanations instead of indexes. */
  featureNames?: string[];
}

/** Streaming detector for fixed-length feature vectors; state is plain JSON of bounded size. */
export interface MultivariateDetector {
  /** Scores one vector. Its length must match the first vector's. */
  update(timestampMs: number, features: number[]): MultivariateResult;
  snapshot(): MultivariateSnapshot;
  restore(snapshot: MultivariateSnapshot): void;
}

export type MultivariateSnapshot = { version: 2 } & Record<string, unknown>;

export class FeatureVectorError extends Error {
  override name = "FeatureVectorError";
}

interface State {
  version: 2;
  n: number;
  dims: number;
  /** Ring of past vectors (raw units); `head` is the next slot. */
  ring: number[][];
  head: number;
  mean: number[];
  variance: number[];
  /** Long-run mean k-NN distance, the unit isolation is measured in. */
  unit: number;
  calibrator: CalibratorState;
}

const A_STATS = 1 / 500;
const A_UNIT = 1 / 1000;

/**
 * Creates a streaming multivariate detector: distance from each vector, standardised by running
 * means and deviations, to its k-th nearest neighbour among the last `reservoir` vectors,
 * calibrated against its own history into a tail probability as the univariate detector does.
 * Cost O(reservoir × features) per vector; memory fixed.
 *
 * A half-space-tree forest (a streaming isolation forest) was tried first: it scored a
 * 6-sigma vector that broke the features' correlation at p ≈ 0.02, because random axis-aligned
 * half-spaces are coarse where the data is thin. The nearest-neighbour distance sees it at once,
 * and its neighbours give the explanation: the feature that differs most from vectors that are
 * otherwise alike.
 *
 * @example
 * const d = createMultivariateDetector({ featureNames: ["cpu", "mem", "rps"] });
 * for (const { t, cpu, mem, rps } of rows) {
 *   const { score, explanation } = d.update(t, [cpu, mem, rps]);
 *   if (score > 0.8) console.log(explanation.feature, explanation.observed, explanation.expected);
 * }
 */
export function createMultivariateDetector(options: MultivariateOptions = {}): MultivariateDetector {
  const capacity = options.reservoir ?? 500;
  const k = options.k ?? 5;
  const warmup = Math.max(options.warmup ?? 100, 2 * k);
  const names = options.featureNames;
  const cal: CalibratorConfig = { bins: 400, width: 0.025, decay: 1 - 1 / 3000, minCount: 50, tailMass: 0.02, maxTailIndex: 10 };

  const fresh = (): State => ({ version: 2, n: 0, dims: 0, ring: [], head: 0, mean: [], variance: [], unit: 0, calibrator: newCalibrator(cal) });
  let st = fresh();

  function sd(d: number): number {
    return Math.sqrt(st.variance[d]) || 1e-9 * (1 + Math.abs(st.mean[d]));
  }

  /** The k nearest stored vectors (standardised squared distance), nearest first. */
  function neighbours(v: number[]): { d2: number; i: number }[] {
    const best: { d2: number; i: number }[] = [];
    const inv = st.variance.map((_, d) => 1 / sd(d));
    const { ring, dims } = st;
    let bound = Infinity;
    for (let i = 0; i < ring.length; i++) {
      const u = ring[i];
      let d2 = 0;
      for (let d = 0; d < dims && d2 < bound; d++) {
        const e = (v[d] - u[d]) * inv[d];
        d2 += e * e;
      }
      if (d2 >= bound) continue;
      let at = best.length;
      while (at > 0 && best[at - 1].d2 > d2) at--;
      best.splice(at, 0, { d2, i });
      if (best.length > k) best.pop();
      if (best.length === k) bound = best[k - 1].d2;
    }
    return best;
  }

  function explain(v: number[], near: { i: number }[]): { feature: number | string; observed: number; low: number; high: number } {
    let bestD = 0;
    let bestZ = -1;
    let range = { low: v[0], high: v[0] };
    for (let d = 0; d < st.dims; d++) {
      const xs = near.map(({ i }) => st.ring[i][d]);
      const m = xs.reduce((a, b) => a + b, 0) / xs.length;
      const spread = Math.max(Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length), sd(d) / 4);
      const z = Math.abs(v[d] - m) / spread;
      if (z > bestZ) {
        bestZ = z;
        bestD = d;
        range = { low: Math.min(...xs) - 4 * spread, high: Math.max(...xs) + 4 * spread };
      }
    }
    return { feature: names?.[bestD] ?? bestD, observed: v[bestD], ...range };
  }

  function learn(v: number[]): void {
    for (let d = 0; d < st.dims; d++) {
      if (st.n === 0) {
        st.mean[d] = v[d];
        st.variance[d] = 0;
        continue;
      }
      const a = Math.max(A_STATS, 1 / (st.n + 1));
      const delta = v[d] - st.mean[d];
      st.mean[d] += a * delta;
      st.variance[d] = (1 - a) * (st.variance[d] + a * delta * delta);
    }
    if (st.ring.length < capacity) st.ring.push(v);
    else st.ring[st.head] = v;
    st.head = (st.head + 1) % capacity;
    st.n++;
  }

  function update(timestampMs: number, features: number[]): MultivariateResult {
    if (st.n === 0) st.dims = features.length;
    if (features.length !== st.dims) {
      throw new FeatureVectorError(`feature vector at ${timestampMs} has ${features.length} features, expected ${st.dims}`);
    }
    const quiet = (signal: string): MultivariateResult => ({
      score: 0,
      explanation: { signal, feature: names?.[0] ?? 0, observed: features[0], expected: { low: features[0], high: features[0] }, isolation: 0, pValue: 1, surprise: 0 },
    });
    if (!features.every(Number.isFinite)) return quiet("invalid");
    const v = [...features];
    if (st.n < warmup) {
      learn(v);
      return quiet("warmup");
    }
    const near = neighbours(v);
    const dist = Math.sqrt(near[near.length - 1].d2);
    const unit = st.unit;
    st.unit = unit === 0 ? dist : unit + (dist - unit) * A_UNIT;
    const isolation = unit > 0 ? dist / unit : 0;
    const p = judgeThenObserve(cal, st.calibrator, isolation);
    const f = explain(v, near);
    learn(v);
    const surprise = -Math.log(p);
    return {
      score: 1 - Math.exp(-surprise / 5),
      explanation: { signal: "neighbour-distance", feature: f.feature, observed: f.observed, expected: { low: f.low, high: f.high }, isolation, pValue: p, surprise },
    };
  }

  return {
    update,
    snapshot: () => structuredClone(st) as unknown as MultivariateSnapshot,
    restore(snapshot) {
      if (snapshot?.version !== 2 || !Array.isArray(snapshot.ring)) {
        throw new SnapshotError(`unsupported multivariate detector snapshot: expected version 2, got ${String(snapshot?.version)}`);
      }
      st = structuredClone(snapshot) as unknown as State;
    },
  };
}
