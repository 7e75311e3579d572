import { createGenerator, type AnomalyLabel, type GeneratedEvent } from "../generate/index.ts";
import { parseEventTime } from "../validate/event-time.ts";
import { DEFAULT_PARTITIONS } from "../../config/index.ts";
import { partitionOf } from "../../subjects/catalog.ts";
import type { Envelope } from "../../subjects/envelope.ts";
import type { Source } from "../../subjects/sources.ts";
import type { Alert, DetectionOptions } from "./detection.ts";
import { createTaskFor, detectTaskSpecs, specFor } from "./tasks.ts";

/**
 * @example
 * const report = evalSynthetic({ seed: 1, events: 60_000, anomalyRate: 0.01, sources: ["iot", "txn"] });
 * report.sources.iot.f1 // 0.9…
 */
export interface SyntheticEvalOptions {
  seed: number;
  /** Events generated, burn-in included. */
  events: number;
  /** Share of events inside an injected anomaly. */
  anomalyRate: number;
  sources: readonly Source[];
  /** Events at the start that only teach the detectors; their anomalies and alerts are not scored. Default 20% of `events`. */
  burnIn?: number;
  /** Simulated time between events. Default 100 ms (10 events/s, a live rate). */
  intervalMs?: number;
  /** EVENTS partitions, each with its own detect task as in production. Default {@link DEFAULT_PARTITIONS}. */
  partitions?: number;
  detection?: Omit<DetectionOptions, "now">;
  /** The generator's payment anomaly kinds (`GeneratorOptions.paymentAnomalies`). Default "default". */
  paymentAnomalies?: "default" | "joint";
}

/** Scores of one source. Episode-based: an episode is found when at least one alert falls in its window. */
export interface SourceScore {
  events: number;
  episodes: number;
  found: number;
  alerts: number;
  /** Alerts outside every episode window. */
  falseAlerts: number;
  /** found / (found + falseAlerts): several alerts on one episode count once. */
  precision: number;
  /** found / episodes. */
  recall: number;
  f1: number;
  /** Episodes and found episodes per anomaly kind. */
  kinds: Record<string, { episodes: number; found: number }>;
  /** False alerts per signal, to see which one cries wolf. */
  falseBySignal: Record<string, number>;
}

export interface SyntheticEvalReport {
  options: Required<Omit<SyntheticEvalOptions, "detection">>;
  sources: Partial<Record<Source, SourceScore>>;
  elapsedMs: number;
}

interface Episode {
  source: Source;
  kind: AnomalyLabel["kind"];
  entity: string;
  start: number;
  last: number;
  end: number;
  after: number;
  scored: boolean;
  found: boolean;
}

/** Events of the same entity after an episode during which an alert still counts (a detector may need the next reading). */
const AFTER_EVENTS = 3;
const MINUTE_MS = 60_000;

/** Who an episode happens to: the sensor or customer, or for a flood the topic (volume is scored per topic). */
function entityOf(event: GeneratedEvent): string {
  if (event.label?.kind === "volume_burst") return event.label.topic;
  if (event.source === "social") return String(event.payload.topic);
  return event.key;
}

export function toEnvelope(event: GeneratedEvent, seq: number): Envelope {
  const time = parseEventTime(event.payload.ts) ?? event.time;
  return {
    event_id: event.payload.event_id,
    source: event.source,
    key: event.key,
    schema_version: 1,
    event_time: time,
    ingest_time: time,
    payload: event.payload as unknown as Record<string, unknown>,
    raw_subject: event.subject,
    raw_seq: seq,
  };
}

/**
 * Live synthetic evaluation without a broker: the generator with injected, labelled anomalies
 * feeds the detect tasks of production (per partition, reorder buffers included; stream time is
 * event time) in stream order; alerts are matched to the labelled episodes.
 * An alert counts for an episode when it names the episode's sensor, customer or topic and its
 * event time falls from the episode's first event to {@link AFTER_EVENTS} events of that entity
 * after its last (for topics: the end of the minute after the last flooded post).
 */
export function evalSynthetic(opts: SyntheticEvalOptions): SyntheticEvalReport {
  const started = performance.now();
  const intervalMs = opts.intervalMs ?? 100;
  const burnIn = opts.burnIn ?? Math.floor(opts.events * 0.2);
  const partitions = opts.partitions ?? DEFAULT_PARTITIONS;
  const paymentAnomalies = opts.paymentAnomalies ?? "default";
  const generator = createGenerator({ seed: opts.seed, sources: opts.sources, anomalyRate: opts.anomalyRate, intervalMs, paymentAnomalies });
  const specs = detectTaskSpecs(partitions);
  const tasks = new Map(specs.map((spec) => [spec, createTaskFor(spec, { detection: opts.detection })]));
  const episodes = new Map<string, Episode>();
  const open = new Map<string, Episode[]>();
  const alerts: Array<{ alert: Alert; scored: boolean }> = [];
  /** Event time of the first scored event: alerts about earlier events belong to the burn-in. */
  let burnStart = Infinity;
  const eventCounts: Partial<Record<Source, number>> = {};

  for (let i = 0; i < opts.events; i++) {
    const event = generator.next();
    const envelope = toEnvelope(event, i + 1);
    const scored = i >= burnIn;
    if (i === burnIn) burnStart = envelope.event_time;
    if (scored) eventCounts[event.source] = (eventCounts[event.source] ?? 0) + 1;
    const entity = `${event.source}/${entityOf(event)}`;
    for (const ep of open.get(entity) ?? []) {
      if (event.label && episodes.get(event.label.anomaly_id) === ep) continue;
      ep.after++;
      if (ep.source !== "social" && ep.after >= AFTER_EVENTS) ep.end = envelope.event_time;
    }
    open.set(entity, (open.get(entity) ?? []).filter((ep) => ep.source === "social" ? envelope.event_time <= ep.end : ep.after < AFTER_EVENTS));
    if (event.label) {
      let ep = episodes.get(event.label.anomaly_id);
      if (!ep) {
        ep = { source: event.source, kind: event.label.kind, entity, start: envelope.event_time, last: envelope.event_time, end: Infinity, after: 0, scored, found: false };
        episodes.set(event.label.anomaly_id, ep);
        open.set(entity, [...(open.get(entity) ?? []), ep]);
      }
      ep.last = envelope.event_time;
      if (ep.source === "social") ep.end = (Math.floor(ep.last / MINUTE_MS) + 2) * MINUTE_MS;
    }
    const partition = partitionOf(envelope.key, partitions);
    const spec = specFor(specs, envelope.source, partition)!;
    const out = tasks.get(spec)!.observe(envelope, { partition: spec.taskPartition(partition), streamMs: envelope.event_time, seq: i + 1, traceId: "" });
    // An alert released late is scored as the events were when it was raised.
    for (const alert of out) alerts.push({ alert, scored: alert.event_time >= burnStart });
  }
  // The end of the run: every task's last held events, as a long quiet spell would release them.
  for (const task of tasks.values()) for (const alert of task.tick(Number.MAX_SAFE_INTEGER)) alerts.push({ alert, scored: alert.event_time >= burnStart });

  const byEntity = new Map<string, Episode[]>();
  for (const ep of episodes.values()) byEntity.set(ep.entity, [...(byEntity.get(ep.entity) ?? []), ep]);
  const sources: Partial<Record<Source, SourceScore>> = {};
  const scoreOf = (s: Source): SourceScore =>
    (sources[s] ??= { events: eventCounts[s] ?? 0, episodes: 0, found: 0, alerts: 0, falseAlerts: 0, precision: 0, recall: 0, f1: 0, kinds: {}, falseBySignal: {} });
  for (const s of opts.sources) scoreOf(s);
  for (const { alert, scored } of alerts) {
    const matches = (byEntity.get(`${alert.source}/${alert.key}`) ?? []).filter((ep) => alert.event_time >= ep.start && alert.event_time <= ep.end);
    for (const ep of matches) ep.found = true;
    if (!scored || matches.some((ep) => !ep.scored)) continue;
    const score = scoreOf(alert.source);
    score.alerts++;
    if (matches.length === 0) {
      score.falseAlerts++;
      score.falseBySignal[alert.signal] = (score.falseBySignal[alert.signal] ?? 0) + 1;
    }
  }
  for (const ep of episodes.values()) {
    if (!ep.scored) continue;
    const score = scoreOf(ep.source);
    const kind = (score.kinds[ep.kind] ??= { episodes: 0, found: 0 });
    score.episodes++;
    kind.episodes++;
    if (ep.found) {
      score.found++;
      kind.found++;
    }
  }
  for (const score of Object.values(sources)) {
    score.precision = score.found + score.falseAlerts === 0 ? 0 : score.found / (score.found + score.falseAlerts);
    score.recall = score.episodes === 0 ? 0 : score.found / score.episodes;
    score.f1 = score.precision + score.recall === 0 ? 0 : (2 * score.precision * score.recall) / (score.precision + score.recall);
  }
  return {
    options: { seed: opts.seed, events: opts.events, anomalyRate: opts.anomalyRate, sources: opts.sources, burnIn, intervalMs, partitions, paymentAnomalies },
    sources,
    elapsedMs: performance.now() - started,
  };
}
