import { judgeThenObserve, newCalibrator, type CalibratorConfig, type CalibratorState } from "./calibrate.ts";
import { FeatureVectorError, type MultivariateResult } from "./multivariate.ts";
import { SnapshotError } from "./univariate.ts";

/**
 * Options of {@link createRelationDetector}; every field has a default.
 *
 * @example
 * const d = createRelationDetector({ featureNames: ["temperature", "humidity"], warmup: 200 });
 */
export interface RelationOptions {
  /** Vectors that only teach while the means and covariances settle. Default 100. */
  warmup?: number;
  /** Memory of the means and covariances, in vectors. Default 500. */
  memory?: number;
  /** Names used in explanations instead of indexes. */
  featureNames?: string[];
}

/** Streaming detector of vectors that break the linear relations among their features; plain JSON state. */
export interface RelationDetector {
  /** Scores one vector. Its length must match the first vector's. */
  update(timestampMs: number, features: number[]): MultivariateResult;
  snapshot(): RelationSnapshot;
  restore(snapshot: RelationSnapshot): void;
}

export type RelationSnapshot = { version: 1 } & Record<string, unknown>;

/**
 * Live state. The snapshot holds the same fields with plain arrays; here the vectors are typed
 * arrays from construction (empty until the first vector sizes them), so the per-vector code
 * meets one array type and V8 compiles it once.
 */
interface State {
  version: 1;
  n: number;
  dims: number;
  mean: Float64Array;
  /** Covariance, row-major dims × dims. */
  cov: Float64Array;
  /** Long-run mean of the largest |z|: the unit the calibrated statistic is measured in. */
  unit: number;
  calibrator: CalibratorState;
}

const A_UNIT = 1 / 1000;
/** Added to each variance, relative to it (and absolutely, for a constant feature), so the covariance always inverts. */
const RIDGE = 1e-6;

/** Inverse of a symmetric positive definite matrix by Gauss-Jordan elimination, in place into `out`; false if singular. */
function invert(a: Float64Array, d: number, out: Float64Array, work: Float64Array): boolean {
  for (let i = 0; i < d * d; i++) work[i] = a[i];
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) out[i * d + j] = i === j ? 1 : 0;
  for (let c = 0; c < d; c++) {
    const pivot = work[c * d + c];
    if (!(Math.abs(pivot) > 0)) return false;
    for (let j = 0; j < d; j++) {
      work[c * d + j] /= pivot;
      out[c * d + j] /= pivot;
    }
    for (let r = 0; r < d; r++) {
      if (r === c) continue;
      const f = work[r * d + c];
      if (f === 0) continue;
      for (let j = 0; j < d; j++) {
        work[r * d + j] -= f * work[c * d + j];
        out[r * d + j] -= f * out[c * d + j];
      }
    }
  }
  return true;
}

/**
 * Creates a streaming detector of readings that break how their features usually move together:
 * running means and covariance (exponentially weighted), and for each feature its residual from
 * the linear regression on all the others, in units of that regression's own error
 * (z_i = (Σ⁻¹(x − μ))_i / √(Σ⁻¹)_ii). The largest |z| is calibrated against its own history into
 * a tail probability, as the univariate detector does, and the feature it belongs to is the one
 * named: it is the feature the others predict worst, so the explanation needs no neighbours.
 * Cost O(features³) per vector (a few hundred operations for four features); memory O(features²).
 *
 * It replaces, in the detect actor, the nearest-neighbour vector detector (`createMultivariateDetector`),
 * which cost ~22% of detection's CPU, saw nothing the per-metric signals did not, and could not
 * tell which of two related features broke their relation.
 *
 * @example
 * const d = createRelationDetector({ featureNames: ["temperature", "humidity"] });
 * const { score, explanation } = d.update(t, [21.4, 77.1]);
 * if (score > 0.8) console.log(explanation.feature, explanation.observed, explanation.expected);
 */
export function createRelationDetector(options: RelationOptions = {}): RelationDetector {
  const warmup = options.warmup ?? 100;
  const alpha = 1 / (options.memory ?? 500);
  const names = options.featureNames;
  const cal: CalibratorConfig = { bins: 400, width: 0.025, decay: 1 - 1 / 3000, minCount: 50, tailMass: 0.02, maxTailIndex: 10 };
  const none = new Float64Array(0);
  const fresh = (): State => ({ version: 1, n: 0, dims: 0, mean: none, cov: none, unit: 0, calibrator: newCalibrator(cal) });
  let st = fresh();
  // Scratch, sized on the first vector: nothing is allocated per vector but the result.
  let ridged = none;
  let precision = none;
  let work = none;
  let centred = none;

  function size(d: number): void {
    if (ridged.length === d * d) return;
    ridged = new Float64Array(d * d);
    precision = new Float64Array(d * d);
    work = new Float64Array(d * d);
    centred = new Float64Array(d);
  }

  function quiet(signal: string, features: number[]): MultivariateResult {
    return {
      score: 0,
      explanation: { signal, feature: names?.[0] ?? 0, observed: features[0], expected: { low: features[0], high: features[0] }, isolation: 0, pValue: 1, surprise: 0 },
    };
  }

  function learn(v: number[]): void {
    const d = st.dims;
    if (st.n === 0) {
      st.mean = Float64Array.from(v);
      st.cov = new Float64Array(d * d);
    } else {
      const a = Math.max(alpha, 1 / (st.n + 1));
      for (let i = 0; i < d; i++) centred[i] = v[i] - st.mean[i];
      for (let i = 0; i < d; i++) {
        st.mean[i] += a * centred[i];
        for (let j = 0; j < d; j++) st.cov[i * d + j] = (1 - a) * (st.cov[i * d + j] + a * centred[i] * centred[j]);
      }
    }
    st.n++;
  }

  function update(timestampMs: number, features: number[]): MultivariateResult {
    if (st.n === 0) st.dims = features.length;
    if (features.length !== st.dims) {
      throw new FeatureVectorError(`feature vector at ${timestampMs} has ${features.length} features, expected ${st.dims}`);
    }
    for (let i = 0; i < features.length; i++) if (!Number.isFinite(features[i])) return quiet("invalid", features);
    const d = st.dims;
    size(d);
    if (st.n < warmup || d < 2) {
      learn(features);
      return quiet("warmup", features);
    }
    for (let i = 0; i < d * d; i++) ridged[i] = st.cov[i];
    for (let i = 0; i < d; i++) ridged[i * d + i] += RIDGE * st.cov[i * d + i] + 1e-12 * (1 + st.mean[i] * st.mean[i]);
    if (!invert(ridged, d, precision, work)) {
      learn(features);
      return quiet("warmup", features);
    }
    for (let i = 0; i < d; i++) centred[i] = features[i] - st.mean[i];
    let worst = 0;
    let worstZ = -1;
    let worstResidual = 0;
    for (let i = 0; i < d; i++) {
      let r = 0;
      for (let j = 0; j < d; j++) r += precision[i * d + j] * centred[j];
      const z = Math.abs(r) / Math.sqrt(precision[i * d + i]);
      if (z > worstZ) {
        worstZ = z;
        worst = i;
        worstResidual = r / precision[i * d + i];
      }
    }
    const unit = st.unit;
    st.unit = unit === 0 ? worstZ : unit + (worstZ - unit) * A_UNIT;
    const isolation = unit > 0 ? worstZ / unit : 0;
    const p = judgeThenObserve(cal, st.calibrator, isolation);
    learn(features);
    const surprise = -Math.log(p);
    // What the other features predict for the named one, ± 4 of that prediction's usual errors.
    const predicted = features[worst] - worstResidual;
    const spread = 4 / Math.sqrt(precision[worst * d + worst]);
    return {
      score: 1 - Math.exp(-surprise / 5),
      explanation: {
        signal: "relation-residual", feature: names?.[worst] ?? worst, observed: features[worst],
        expected: { low: predicted - spread, high: predicted + spread }, isolation, pValue: p, surprise,
      },
    };
  }

  return {
    update,
    snapshot: () => ({
      version: 1, n: st.n, dims: st.dims, mean: Array.from(st.mean), cov: Array.from(st.cov), unit: st.unit, calibrator: structuredClone(st.calibrator),
    }) as RelationSnapshot,
    restore(snapshot) {
      if (snapshot?.version !== 1 || !Array.isArray(snapshot.cov) || !Array.isArray(snapshot.mean)) {
        throw new SnapshotError(`unsupported relation detector snapshot: expected version 1 with mean and cov arrays, got ${String(snapshot?.version)}`);
      }
      const s = snapshot as unknown as { n: number; dims: number; mean: number[]; cov: number[]; unit: number; calibrator: CalibratorState };
      st = { version: 1, n: s.n, dims: s.dims, mean: Float64Array.from(s.mean), cov: Float64Array.from(s.cov), unit: s.unit, calibrator: structuredClone(s.calibrator) };
    },
  };
}
