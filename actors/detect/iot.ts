import {
  createRelationDetector, createUnivariateDetector,
  type RelationDetector, type RelationSnapshot, type UnivariateDetector, type UnivariateOptions, type UnivariateSnapshot,
} from "../../models/anomaly/index.ts";
import { DetectSnapshotError, type Finding, type Scorer } from "./finding.ts";
import { Lru } from "../../models/lru.ts";
import { scoreOf } from "./stats.ts";

/** Payload fields that are not readings. */
const NOT_METRICS = new Set(["ts", "event_id", "seq"]);
/** Metrics tracked per sensor at most; further fields are ignored (bounds state per key). */
const MAX_METRICS = 16;
/** Readings before the repeat rate is trusted. */
const STUCK_WARMUP = 50;
/** Slowest learning rate of the repeat rate; runs of repeats do not teach it. */
const REPEAT_ALPHA = 1 / 300;
/** A repeat is never treated as rarer than this: rounding makes exact repeats happen. */
const REPEAT_FLOOR = 0.1;
/** Steps learnt before a metric's step size is trusted. */
const JUMP_WARMUP = 30;
/** Slowest learning rate of the usual step size. */
const JUMP_ALPHA = 1 / 200;
/** Steps above this many usual deviations are not learnt: an anomaly does not teach what is usual. */
const JUMP_LEARN_Z = 6;
/**
 * Readings a jump is corrected for (Bonferroni, ln 10⁴ ≈ 9.2 nats): noise alone should not raise
 * one in that many steps; at threshold 0.5 that is a step of about 5.7 usual deviations.
 */
const JUMP_TESTS = 1e4;
/**
 * The joint signal is corrected the same way: its p-value is a per-reading tail probability
 * against the sensor's own history, so one reading in a thousand would otherwise be a 0.5 alert.
 */
const JOINT_TESTS = JUMP_TESTS;

/** Per sensor: the metrics read together (sorted names, fixed by the first reading with two or more) and their detector. */
interface Joint {
  metrics: string[];
  detector: RelationDetector;
}

/**
 * Per metric: the last reading and the usual size of a step between readings. NaN where the
 * snapshot has null (no reading yet, no jump to step back from): readings are finite, and one
 * type per field from construction lets V8 compile the per-reading code once.
 */
interface Steps {
  prev: number;
  /** Mean absolute step, learnt from unremarkable steps. */
  dev: number;
  n: number;
  /** The reading before the last alerted jump, for one reading: a step straight back to it ends that jump. */
  jumpedFrom: number;
}

interface StepsSnapshot {
  prev: number | null;
  dev: number;
  n: number;
  jumpedFrom: number | null;
}

/** A sensor whose readings never had two metrics: no joint model (a shared placeholder, never updated). */
const NO_JOINT: Joint = { metrics: [], detector: createRelationDetector() };
/** No reading yet: compares unequal to every reading, as a reading has at least one metric. */
const NO_READING: Record<string, number> = Object.freeze({}) as Record<string, number>;
const orNull = (x: number): number | null => (x === x ? x : null);

interface Sensor {
  detectors: Map<string, UnivariateDetector>;
  joint: Joint;
  steps: Record<string, Steps>;
  /** Newest event time scored in order (NaN: none yet); an older reading cannot go through the order-dependent signals. */
  newest: number;
  last: Record<string, number>;
  seen: number;
  /** Share of readings identical to the one before, in every metric. */
  repeatRate: number;
  run: number;
  reported: boolean;
}

interface SensorSnapshot {
  detectors: Record<string, UnivariateSnapshot>;
  joint?: { metrics: string[]; detector: RelationSnapshot } | null;
  steps?: Record<string, StepsSnapshot>;
  newest?: number | null;
  last: Record<string, number> | null;
  seen: number;
  repeatRate: number;
  run: number;
  reported: boolean;
}

function readings(payload: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  let n = 0;
  // for...in over a plain (parsed) object visits its own keys in Object.entries' order, without
  // an array of pairs per reading.
  for (const field in payload) {
    const value = payload[field];
    if (NOT_METRICS.has(field) || typeof value !== "number" || !Number.isFinite(value) || !Object.hasOwn(payload, field)) continue;
    out[field] = value;
    if (++n >= MAX_METRICS) break;
  }
  return out;
}

/** The same metrics with the same values (plain objects: for...in visits exactly their own keys; no arrays per reading). */
function sameReading(a: Record<string, number>, b: Record<string, number>): boolean {
  let inA = 0;
  for (const k in a) {
    if (a[k] !== b[k]) return false;
    inA++;
  }
  let inB = 0;
  for (const _ in b) inB++;
  return inA > 0 && inA === inB;
}

/** A step from `prev` to `value` against the usual step `sd`, Bonferroni-corrected; undefined when unremarkable. */
function jumpFinding(key: string, metric: string, prev: number, value: number, sd: number): Finding | undefined {
  if (!(sd > 0)) return undefined;
  const z = Math.abs(value - prev) / sd;
  const surprise = (z * z) / 2 - Math.log(JUMP_TESTS);
  if (surprise <= 0) return undefined;
  return {
    key,
    metric,
    score: scoreOf(surprise),
    signal: "jump",
    expected: { low: prev - 4 * sd, high: prev + 4 * sd },
    observed: value,
    explanation: { previous: prev, step: value - prev, usualStep: sd, z, surprise },
  };
}

/**
 * IoT: one univariate detector (models/anomaly) per sensor and metric, one multivariate detector
 * per sensor over all its metrics ("joint"), plus a stuck-sensor signal: a run of readings
 * identical in every metric, scored against how often this sensor repeats itself (rounding makes
 * single repeats normal; a run of them is not).
 */
export function createIotScorer(opts: { maxKeys: number; threshold: number; univariate?: UnivariateOptions }): Scorer {
  // An evicted sensor's detectors free their WebAssembly memory at once (the collector does not see it).
  const release = (s: Sensor) => {
    for (const d of s.detectors.values()) d.release();
  };
  const sensors = new Lru<Sensor>(opts.maxKeys, (_key, s) => release(s));
  const fresh = (): Sensor => ({ detectors: new Map(), joint: NO_JOINT, steps: {}, newest: NaN, last: NO_READING, seen: 0, repeatRate: 0.1, run: 0, reported: false });

  /**
   * The reading as one vector against how the sensor's metrics usually move together
   * (models/anomaly relation: each metric's residual from its regression on the others, the
   * largest calibrated): a combination the relation does not allow though each metric is within
   * its own habits — humidity up while temperature rises. Off a relation between two metrics,
   * either could be the one that broke it, so the finding names the metric whose step from its
   * previous reading is largest in its usual steps, the one that moved unlike itself (the
   * relation's own choice is kept in the explanation as `nearest`).
   * Readings without every metric of the sensor's first full reading are not judged jointly.
   * Call before the readings' steps are learnt.
   */
  function joint(key: string, s: Sensor, values: Record<string, number>, eventTime: number): Finding | undefined {
    if (s.joint === NO_JOINT) {
      const names = Object.keys(values).sort();
      if (names.length < 2) return undefined;
      s.joint = { metrics: names, detector: createRelationDetector({ featureNames: names }) };
    }
    const { metrics, detector } = s.joint;
    const vector = new Array<number>(metrics.length);
    for (let i = 0; i < metrics.length; i++) {
      const value = values[metrics[i]];
      if (value === undefined) return undefined;
      vector[i] = value;
    }
    const { explanation: e } = detector.update(eventTime, vector);
    const surprise = e.surprise - Math.log(JOINT_TESTS);
    if (surprise <= 0) return undefined;
    const nearest = { feature: e.feature, low: e.expected.low, high: e.expected.high };
    let named: { metric: string; z: number; expected: { low: number; high: number } } = { metric: String(e.feature), z: -1, expected: e.expected };
    for (const m of metrics) {
      const st = s.steps[m];
      const sd = st ? 1.25 * st.dev : 0;
      if (!st || st.prev !== st.prev || !(sd > 0)) continue;
      const z = Math.abs(values[m] - st.prev) / sd;
      if (z > named.z) named = { metric: m, z, expected: { low: st.prev - 4 * sd, high: st.prev + 4 * sd } };
    }
    return {
      key,
      metric: named.metric,
      score: scoreOf(surprise),
      signal: "joint",
      expected: named.expected,
      observed: values[named.metric],
      explanation: { isolation: e.isolation, pValue: e.pValue, surprise, reading: values, stepZ: named.z, nearest },
    };
  }

  function stuck(key: string, s: Sensor, values: Record<string, number>): Finding | undefined {
    const repeat = sameReading(values, s.last);
    s.run = repeat ? s.run + 1 : 0;
    if (s.run <= 1) s.repeatRate += ((repeat ? 1 : 0) - s.repeatRate) * Math.max(REPEAT_ALPHA, 1 / (s.seen + 1));
    s.last = values;
    s.seen++;
    if (s.run === 0) s.reported = false;
    if (s.run === 0 || s.reported || s.seen < STUCK_WARMUP) return undefined;
    const p = Math.max(s.repeatRate, REPEAT_FLOOR);
    const surprise = -s.run * Math.log(p);
    const [metric, observed] = Object.entries(values)[0];
    return {
      key,
      metric,
      score: scoreOf(surprise),
      signal: "stuck",
      expected: { low: observed, high: observed },
      observed,
      explanation: { repeats: s.run, repeatRate: p, surprise, reading: values },
    };
  }

  /**
   * A step between consecutive readings far larger than this metric's usual step: spikes and
   * level shifts start with one, whatever the univariate detector's memory of earlier alerts.
   */
  function jump(key: string, s: Sensor, metric: string, value: number): Finding | undefined {
    const st = (s.steps[metric] ??= { prev: NaN, dev: 0, n: 0, jumpedFrom: NaN });
    const prev = st.prev;
    const jumpedFrom = st.jumpedFrom;
    st.prev = value;
    st.jumpedFrom = NaN;
    if (prev !== prev) return undefined;
    const step = Math.abs(value - prev);
    const sd = 1.25 * st.dev;
    const z = sd > 0 ? step / sd : 0;
    if (st.n < JUMP_WARMUP || z <= JUMP_LEARN_Z) {
      st.dev += (step - st.dev) * Math.max(JUMP_ALPHA, 1 / (st.n + 1));
      st.n++;
    }
    if (st.n < JUMP_WARMUP) return undefined;
    // The reading after a spike steps back: the same incident, not a new one.
    if (jumpedFrom === jumpedFrom && Math.abs(value - jumpedFrom) <= JUMP_LEARN_Z * sd) return undefined;
    const finding = jumpFinding(key, metric, prev, value, sd);
    if (finding && finding.score >= opts.threshold) st.jumpedFrom = prev;
    return finding;
  }

  /**
   * A reading older than the sensor's newest (or past the allowed lateness): the univariate
   * detector needs non-decreasing time and the stuck run needs the sequence, so it is judged only
   * by its step from the newest reading, and changes nothing.
   */
  function judgeOutOfOrder(key: string, s: Sensor, values: Record<string, number>): Finding[] {
    const findings: Finding[] = [];
    for (const [metric, value] of Object.entries(values)) {
      const st = s.steps[metric];
      if (!st || st.prev !== st.prev || st.n < JUMP_WARMUP) continue;
      const finding = jumpFinding(key, metric, st.prev, value, 1.25 * st.dev);
      if (finding) findings.push({ ...finding, explanation: { ...finding.explanation, out_of_order: true } });
    }
    return findings;
  }

  return {
    observe(key, eventTime, payload, _ref, learn) {
      const values = readings(payload);
      if (!learn) {
        const known = sensors.peek(key);
        return known ? judgeOutOfOrder(key, known, values) : [];
      }
      const s = sensors.upsert(key, fresh);
      // Against NaN (no reading yet) the comparison is false.
      if (eventTime < s.newest) return judgeOutOfOrder(key, s, values);
      s.newest = eventTime;
      const findings: Finding[] = [];
      const jointFinding = joint(key, s, values, eventTime);
      if (jointFinding) findings.push(jointFinding);
      for (const metric in values) {
        const value = values[metric];
        let d = s.detectors.get(metric);
        if (!d) {
          if (s.detectors.size >= MAX_METRICS) continue;
          d = createUnivariateDetector(opts.univariate);
          s.detectors.set(metric, d);
        }
        const jumped = jump(key, s, metric, value);
        if (jumped) findings.push(jumped);
        const score = d.updateScore(eventTime, value);
        if (score <= 0) continue;
        const explanation = d.lastExplanation();
        findings.push({
          key,
          metric,
          score,
          signal: explanation.signal,
          expected: explanation.expected,
          observed: value,
          explanation: { context: explanation.context, novelty: explanation.novelty, pValue: explanation.pValue, surprise: explanation.surprise },
        });
      }
      const stuckFinding = stuck(key, s, values);
      if (stuckFinding) {
        findings.push(stuckFinding);
        // One alert per run: the first reading whose run is long enough.
        s.reported = stuckFinding.score >= opts.threshold;
      }
      return findings;
    },
    keys: () => ({ held: sensors.size, evicted: sensors.evicted }),
    snapshot() {
      const out: Array<[string, SensorSnapshot]> = [];
      for (const [key, s] of sensors.entries()) {
        const detectors: Record<string, UnivariateSnapshot> = {};
        for (const [metric, d] of s.detectors) detectors[metric] = d.snapshot();
        const jointState = s.joint !== NO_JOINT ? { metrics: [...s.joint.metrics], detector: s.joint.detector.snapshot() } : null;
        const steps: Record<string, StepsSnapshot> = {};
        for (const m in s.steps) {
          const st = s.steps[m];
          steps[m] = { prev: orNull(st.prev), dev: st.dev, n: st.n, jumpedFrom: orNull(st.jumpedFrom) };
        }
        const last = s.last === NO_READING ? null : s.last;
        out.push([key, { detectors, joint: jointState, steps, newest: orNull(s.newest), last, seen: s.seen, repeatRate: s.repeatRate, run: s.run, reported: s.reported }]);
      }
      return out;
    },
    restore(snapshot) {
      if (!Array.isArray(snapshot)) throw new DetectSnapshotError("iot: expected an array of [sensor, state] pairs");
      for (const [, s] of sensors.entries()) release(s);
      sensors.clear();
      for (const [key, snap] of snapshot as Array<[string, SensorSnapshot]>) {
        const detectors = new Map<string, UnivariateDetector>();
        for (const [metric, ds] of Object.entries(snap.detectors ?? {})) {
          const d = createUnivariateDetector(opts.univariate);
          d.restore(ds);
          detectors.set(metric, d);
        }
        // Snapshots from before the joint signal have none, and those from before its relation
        // model hold a nearest-neighbour detector's state: it starts learning from the next reading.
        let jointState = NO_JOINT;
        if (snap.joint && snap.joint.detector?.version === 1) {
          jointState = { metrics: [...snap.joint.metrics], detector: createRelationDetector({ featureNames: snap.joint.metrics }) };
          jointState.detector.restore(snap.joint.detector);
        }
        const steps: Record<string, Steps> = {};
        for (const [m, st] of Object.entries(snap.steps ?? {})) steps[m] = { prev: st.prev ?? NaN, dev: st.dev, n: st.n, jumpedFrom: st.jumpedFrom ?? NaN };
        sensors.set(key, { detectors, joint: jointState, steps, newest: snap.newest ?? NaN, last: snap.last ?? NO_READING, seen: snap.seen, repeatRate: snap.repeatRate, run: snap.run, reported: snap.reported });
      }
    },
  };
}
