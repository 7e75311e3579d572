import type { UnivariateOptions } from "../../models/anomaly/index.ts";
import type { AnomalyRecord } from "../../clickhouse/rows-detect.ts";
import type { Envelope } from "../../subjects/envelope.ts";
import { SOURCES, type Source } from "../../subjects/sources.ts";
import { DetectSnapshotError, type Finding, type Scorer } from "./finding.ts";
import { createIotScorer } from "./iot.ts";
import { createSocialScorer } from "./social.ts";
import { createTxnScorer } from "./txn.ts";

/** Alert severities, lowest first; the last token of `alerts.<source>.<severity>`. */
export const SEVERITIES = ["low", "medium", "high"] as const;
export type Severity = (typeof SEVERITIES)[number];

/** An anomaly the detect actor publishes and stores: the finding, its event and its trace. */
export interface Alert extends AnomalyRecord {
  source: Source;
  severity: Severity;
  trace_id: string;
}

/**
 * Options of {@link createDetection}; every field has a default.
 *
 * @example
 * const detection = createDetection({ threshold: { iot: 0.6 }, maxKeys: { iot: 500 }, now: () => clock.now() });
 */
export interface DetectionOptions {
  /** Score an alert needs, per source. Defaults: {@link DEFAULT_THRESHOLDS}. */
  threshold?: Partial<Record<Source, number>>;
  /** Keys (sensors, customers and merchants, topics) kept per source; the least recently seen go first. */
  maxKeys?: Partial<Record<Source, number>>;
  /** Options of the univariate detectors (IoT metrics, topic volumes). */
  univariate?: UnivariateOptions;
  /**
   * Payments' joint signal (amount, pace and place each calibrated against recent payments, several
   * moderately off together; `txn.ts`): the number of payments its p-value is corrected for, 0 off.
   * Below 1 it trades false alerts for takeovers found (0.1: about one more false alert per
   * takeover found on the generator's joint stream). Default {@link DEFAULT_PAYMENTS_JOINT_TESTS}: off.
   */
  paymentsJointTests?: number;
  /** Clock for `detected_at`, epoch ms. Default `Date.now`. */
  now?: () => number;
}

/**
 * Thresholds chosen on `sluice eval synthetic --seed 1` (README: "Anomalies and the HTTP API"); the
 * score scale is the univariate detector's, 0.5 ≈ 7 nats of surprise (p ≈ 0.001).
 */
export const DEFAULT_THRESHOLDS: Record<Source, number> = { iot: 0.5, txn: 0.55, social: 0.6 };
/** Off: at no correction did it raise payments F1 on the tuning seeds (models/anomaly/RESULTS.md, round eight). */
export const DEFAULT_PAYMENTS_JOINT_TESTS = 0;
export const DEFAULT_MAX_KEYS: Record<Source, number> = { iot: 1_000, txn: 50_000, social: 1_000 };

/** Severity of a score that passed `threshold`: the top of the remaining range is high, the middle medium. */
export function severityOf(score: number, threshold: number): Severity {
  const span = 1 - threshold;
  if (score >= threshold + (2 * span) / 3) return "high";
  if (score >= threshold + span / 3) return "medium";
  return "low";
}

export interface DetectionSnapshot {
  version: 1;
  sources: Partial<Record<Source, unknown>>;
}

/** Per-source scoring state of the detect actor, with no broker: feed envelopes, get alerts. */
export interface Detection {
  /**
   * Scores one validated event; returns the alerts it raised (possibly about an earlier event of
   * the same topic). `learn: false` judges it against the state without changing it (an event past
   * the allowed lateness).
   */
  observe(envelope: Envelope, traceId?: string, learn?: boolean): Alert[];
  /** Keys held and evicted per source. */
  keys(): Record<Source, { held: number; evicted: number }>;
  /** Plain JSON of the whole state. */
  snapshot(): DetectionSnapshot;
  restore(snapshot: DetectionSnapshot): void;
}

/**
 * One finding per (event, metric): the highest score, the other signals that fired on it listed
 * in its explanation as `also`. An alert's identity is its event and metric ({@link alertMessage},
 * and the key of sluice.anomalies), so two signals on one reading (a spike is a jump and a novel
 * pattern) must be one alert, not two that overwrite each other.
 */
function strongestPerMetric(findings: Finding[]): Finding[] {
  const by = new Map<string, Finding[]>();
  for (const f of findings) {
    const id = `${f.event?.event_id ?? ""}\u0000${f.metric}`;
    by.set(id, [...(by.get(id) ?? []), f]);
  }
  return [...by.values()].map((group) => {
    if (group.length === 1) return group[0];
    const best = group.reduce((a, b) => (b.score > a.score ? b : a));
    const also = group.filter((f) => f !== best).map((f) => ({ signal: f.signal, score: f.score }));
    return { ...best, explanation: { ...best.explanation, also } };
  });
}

/**
 * Creates the detect stage's state: IoT per sensor and metric, transactions per customer and
 * merchant, social volume per topic. Pure apart from the clock: the same envelopes in the same
 * order give the same alerts.
 *
 * @example
 * const detection = createDetection();
 * for (const envelope of envelopes) for (const alert of detection.observe(envelope, traceId)) publish(alert);
 */
export function createDetection(opts: DetectionOptions = {}): Detection {
  const thresholds = { ...DEFAULT_THRESHOLDS, ...opts.threshold };
  const maxKeys = { ...DEFAULT_MAX_KEYS, ...opts.maxKeys };
  for (const s of SOURCES) {
    if (!(thresholds[s] > 0 && thresholds[s] < 1)) throw new RangeError(`detect threshold for ${s} must be between 0 and 1 (exclusive), got ${thresholds[s]}`);
  }
  const now = opts.now ?? Date.now;
  const scorers: Record<Source, Scorer> = {
    iot: createIotScorer({ maxKeys: maxKeys.iot, threshold: thresholds.iot, univariate: opts.univariate }),
    txn: createTxnScorer({ maxKeys: maxKeys.txn, threshold: thresholds.txn, jointTests: opts.paymentsJointTests ?? DEFAULT_PAYMENTS_JOINT_TESTS, }),
    social: createSocialScorer({ maxKeys: maxKeys.social, threshold: thresholds.social, univariate: opts.univariate }),
  };

  function toAlert(source: Source, envelope: Envelope, traceId: string, f: Finding): Alert {
    const event = f.event ?? { event_id: envelope.event_id, event_time: envelope.event_time, trace_id: traceId };
    return {
      event_id: event.event_id,
      trace_id: event.trace_id,
      source,
      key: f.key,
      metric: f.metric,
      score: f.score,
      severity: severityOf(f.score, thresholds[source]),
      signal: f.signal,
      explanation: f.explanation,
      expected_low: f.expected.low,
      expected_high: f.expected.high,
      observed: f.observed,
      event_time: event.event_time,
      detected_at: now(),
    };
  }

  return {
    observe(envelope, traceId = "", learn = true) {
      const scorer = scorers[envelope.source];
      if (!scorer) return [];
      const findings = scorer.observe(envelope.key, envelope.event_time, envelope.payload, { event_id: envelope.event_id, trace_id: traceId }, learn);
      // Most events raise nothing: no grouping, no alerts to build.
      if (findings.length === 0) return [];
      const threshold = thresholds[envelope.source];
      const passed: Finding[] = [];
      for (const f of findings) if (f.score >= threshold) passed.push(f);
      if (passed.length === 0) return [];
      return strongestPerMetric(passed).map((f) => toAlert(envelope.source, envelope, traceId, f));
    },
    keys: () => ({ iot: scorers.iot.keys(), txn: scorers.txn.keys(), social: scorers.social.keys() }),
    snapshot: () => ({ version: 1, sources: { iot: scorers.iot.snapshot(), txn: scorers.txn.snapshot(), social: scorers.social.snapshot() } }),
    restore(snapshot) {
      if (snapshot?.version !== 1 || typeof snapshot.sources !== "object") {
        throw new DetectSnapshotError(`unsupported detect snapshot: expected version 1, got ${String(snapshot?.version)}`);
      }
      for (const s of SOURCES) if (snapshot.sources[s] !== undefined) scorers[s].restore(snapshot.sources[s]);
    },
  };
}
