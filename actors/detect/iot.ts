import { createUnivariateDetector, type UnivariateDetector, type UnivariateOptions, type UnivariateSnapshot } from "../../models/anomaly/index.ts";
import { DetectSnapshotError, type Finding, type Scorer } from "./finding.ts";
import { Lru } from "./lru.ts";
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

interface Sensor {
  detectors: Map<string, UnivariateDetector>;
  last: Record<string, number> | null;
  seen: number;
  /** Share of readings identical to the one before, in every metric. */
  repeatRate: number;
  run: number;
  reported: boolean;
}

interface SensorSnapshot {
  detectors: Record<string, UnivariateSnapshot>;
  last: Record<string, number> | null;
  seen: number;
  repeatRate: number;
  run: number;
  reported: boolean;
}

function readings(payload: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  let n = 0;
  for (const [field, value] of Object.entries(payload)) {
    if (NOT_METRICS.has(field) || typeof value !== "number" || !Number.isFinite(value)) continue;
    out[field] = value;
    if (++n >= MAX_METRICS) break;
  }
  return out;
}

function sameReading(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = Object.keys(a);
  return keys.length > 0 && keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/**
 * IoT: one univariate detector (models/anomaly) per sensor and metric, plus a stuck-sensor
 * signal: a run of readings identical in every metric, scored against how often this sensor
 * repeats itself (rounding makes single repeats normal; a run of them is not).
 */
export function createIotScorer(opts: { maxKeys: number; threshold: number; univariate?: UnivariateOptions }): Scorer {
  const sensors = new Lru<Sensor>(opts.maxKeys);
  const fresh = (): Sensor => ({ detectors: new Map(), last: null, seen: 0, repeatRate: 0.1, run: 0, reported: false });

  function stuck(key: string, s: Sensor, values: Record<string, number>): Finding | undefined {
    const repeat = s.last !== null && sameReading(values, s.last);
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

  return {
    observe(key, eventTime, payload) {
      const s = sensors.upsert(key, fresh);
      const values = readings(payload);
      const findings: Finding[] = [];
      for (const [metric, value] of Object.entries(values)) {
        let d = s.detectors.get(metric);
        if (!d) {
          if (s.detectors.size >= MAX_METRICS) continue;
          d = createUnivariateDetector(opts.univariate);
          s.detectors.set(metric, d);
        }
        const { score, explanation } = d.update(eventTime, value);
        if (score <= 0) continue;
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
        out.push([key, { detectors, last: s.last, seen: s.seen, repeatRate: s.repeatRate, run: s.run, reported: s.reported }]);
      }
      return out;
    },
    restore(snapshot) {
      if (!Array.isArray(snapshot)) throw new DetectSnapshotError("iot: expected an array of [sensor, state] pairs");
      sensors.clear();
      for (const [key, snap] of snapshot as Array<[string, SensorSnapshot]>) {
        const detectors = new Map<string, UnivariateDetector>();
        for (const [metric, ds] of Object.entries(snap.detectors ?? {})) {
          const d = createUnivariateDetector(opts.univariate);
          d.restore(ds);
          detectors.set(metric, d);
        }
        sensors.set(key, { detectors, last: snap.last, seen: snap.seen, repeatRate: snap.repeatRate, run: snap.run, reported: snap.reported });
      }
    },
  };
}
