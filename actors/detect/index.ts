import type { ClickHouseClient } from "@clickhouse/client";
import type { Capabilities } from "../../clickhouse/capabilities.ts";
import { anomalyRow } from "../../clickhouse/rows-detect.ts";
import { subject } from "../../subjects/catalog.ts";
import { CONSUMERS } from "../../subjects/consumers.ts";
import type { Envelope } from "../../subjects/envelope.ts";
import { isSource } from "../../subjects/sources.ts";
import { defineActor, type ActorDefinition, type Inbound } from "../runtime/actor.ts";
import { PoisonError } from "../runtime/errors.ts";
import { sinkActor } from "../sink/sink.ts";
import { createDetection, type Alert, type Detection, type DetectionOptions } from "./detection.ts";

const utf8 = new TextDecoder();

function envelopeOf(input: Inbound): Envelope {
  const where = `${input.subject} (stream ${input.stream} seq ${input.seq})`;
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(input.data));
  } catch (err) {
    throw new PoisonError("json", `${where}: not a JSON envelope`, { cause: err });
  }
  const e = value as Partial<Envelope> | null;
  if (!e || typeof e !== "object") throw new PoisonError("envelope", `${where}: expected an envelope object`);
  if (typeof e.source !== "string" || !isSource(e.source)) throw new PoisonError("envelope", `${where}: /source ${JSON.stringify(e.source)} is not a known source`, { field: "/source" });
  if (typeof e.key !== "string" || typeof e.event_id !== "string") throw new PoisonError("envelope", `${where}: /key and /event_id must be strings`, { field: "/key" });
  if (typeof e.event_time !== "number" || !Number.isFinite(e.event_time)) throw new PoisonError("envelope", `${where}: /event_time must be epoch ms`, { field: "/event_time" });
  if (!e.payload || typeof e.payload !== "object") throw new PoisonError("envelope", `${where}: /payload must be an object`, { field: "/payload" });
  return e as Envelope;
}

export interface DetectActorOptions {
  readonly detection?: DetectionOptions;
  /** Called with the detection state when the actor starts, e.g. to restore a snapshot. */
  readonly onStart?: (detection: Detection) => void | Promise<void>;
}

/**
 * `detect`: EVENTS → ALERTS. Scores every validated event (IoT per sensor and metric,
 * transactions per customer and merchant, social volume per topic) and publishes each alert on
 * `alerts.<source>.<severity>`, bound to the event it came from: that event is acked only once its
 * alerts are stored. The alert's `Nats-Msg-Id` is its identity, so a redelivered event's alerts are
 * stored once. State lives in memory, bounded per source; `Detection.snapshot()` checkpoints it.
 */
export function detectActor(opts: DetectActorOptions = {}): ActorDefinition {
  let detection = createDetection(opts.detection);
  return defineActor({
    name: "detect",
    consumes: CONSUMERS.detect,
    emits: ["ALERTS"],
    batch: { max_messages: 1_000, max_wait_ms: 5 },
    async start() {
      // A restart begins from a clean state (or the caller's snapshot): unacked events are redelivered.
      detection = createDetection(opts.detection);
      await opts.onStart?.(detection);
    },
    handle(batch, ctx) {
      for (const input of batch) {
        let envelope: Envelope;
        try {
          envelope = envelopeOf(input);
        } catch (err) {
          ctx.reject(input, err as PoisonError);
          continue;
        }
        for (const alert of detection.observe(envelope, input.traceId)) ctx.emit(input, alertMessage(alert));
      }
    },
  });
}

/** The message an alert travels as; its id is the alert's identity. */
export function alertMessage(alert: Alert): { subject: string; data: string; msgId: string } {
  return {
    subject: subject.alerts(alert.source, alert.severity),
    data: JSON.stringify(alert),
    msgId: `${alert.event_id}:${alert.metric}:${alert.signal}`,
  };
}

/** `clickhouse-sink-anomalies`: ALERTS → sluice.anomalies, each row with its event's trace id. */
export function anomaliesSinkActor(deps: { client: () => ClickHouseClient; caps: () => Capabilities; maxRows: number; maxWaitMs: number }): ActorDefinition {
  return sinkActor({
    name: "clickhouse-sink-anomalies",
    consumes: CONSUMERS.sinkAnomalies,
    table: "anomalies",
    client: deps.client,
    maxRows: deps.maxRows,
    maxWaitMs: deps.maxWaitMs,
    toRow: (input) => {
      let alert: Alert;
      try {
        alert = JSON.parse(utf8.decode(input.data)) as Alert;
      } catch (err) {
        throw new PoisonError("json", `${input.subject} (seq ${input.seq}): not a JSON alert`, { cause: err });
      }
      return anomalyRow(alert, alert.trace_id || input.traceId, deps.caps());
    },
  });
}

export { createDetection, severityOf, DEFAULT_THRESHOLDS, DEFAULT_MAX_KEYS, SEVERITIES, type Alert, type Detection, type DetectionOptions, type DetectionSnapshot, type Severity } from "./detection.ts";
export { evalSynthetic, toEnvelope, type SyntheticEvalOptions, type SyntheticEvalReport, type SourceScore } from "./eval.ts";
export { createDetectTask, DetectInputError, type DetectInput, type DetectTask, type DetectTaskOptions, type DetectTaskSnapshot, type DetectTaskStatus, type LaneStatus } from "./task.ts";
export { createTaskFor, detectTaskSpecs, specFor, type DetectTaskSpec } from "./tasks.ts";
export { Lru } from "./lru.ts";
export { DetectSnapshotError, type Finding } from "./finding.ts";
