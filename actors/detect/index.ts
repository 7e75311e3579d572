import { anomalyRow } from "../../clickhouse/rows-detect.ts";
import { parseEventsSubject, subject } from "../../subjects/catalog.ts";
import { CONSUMERS } from "../../subjects/consumers.ts";
import type { Envelope } from "../../subjects/envelope.ts";
import { isSource, SOURCES } from "../../subjects/sources.ts";
import { defaultWindowConfig, type WindowConfig } from "../../windowing/index.ts";
import type { ActorDefinition, Inbound } from "../runtime/actor.ts";
import { describeError, PoisonError } from "../runtime/errors.ts";
import { defineKeyedActor, fingerprintOf, type KeyedActorDefinition } from "../runtime/keyed/actor.ts";
import { durableAckFloor } from "../runtime/keyed/upgrade.ts";
import { keyedActor, type KeyedRunOptions } from "../runtime/keyed/run.ts";
import type { LoopActor } from "../runtime/supervisor.ts";
import { sinkActor, type SinkSettings } from "../sink/sink.ts";
import { DEFAULT_PARTITIONS } from "../../config/index.ts";
import type { Alert, DetectionOptions } from "./detection.ts";
import type { DetectTask, DetectTaskSnapshot } from "./task.ts";
import { createTaskFor, detectTaskSpecs, type DetectTaskSpec } from "./tasks.ts";

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

export interface DetectActorOptions extends KeyedRunOptions {
  /** EVENTS partitions validate writes (`SLUICE_PARTITIONS`). Default {@link DEFAULT_PARTITIONS}. */
  readonly partitions?: number;
  readonly detection?: Omit<DetectionOptions, "now">;
  /** Where each source's out-of-orderness bound, lateness and idle timeout come from. Default {@link defaultWindowConfig}. */
  readonly windows?: WindowConfig;
}

/** The EVENTS partition of `events.<source>.<partition>`, or a poison error naming the subject. */
function partitionOf(input: Inbound, partitions: number): number {
  const p = parseEventsSubject(input.subject)?.partition;
  if (p === undefined || p >= partitions) {
    throw new PoisonError("partition", `${input.subject} (stream ${input.stream} seq ${input.seq}): expected events.<source>.<partition> with a partition from 0 to ${partitions - 1} (SLUICE_PARTITIONS ${partitions})`, { field: "subject" });
  }
  return p;
}

interface DetectState {
  readonly spec: DetectTaskSpec;
  readonly task: DetectTask;
}

/** Bumped when scoring changes what a snapshot means or which alerts a stream gives. */
const DETECT_STATE_VERSION = 1;

/**
 * `detect` as a keyed actor (actors/runtime/keyed/): EVENTS → ALERTS through the tasks of
 * {@link detectTaskSpecs} — iot per EVENTS partition, txn and social one task each over every
 * partition — each task a {@link DetectTask}: per source a reorder buffer on the windows'
 * out-of-orderness bound, then the scorers in event-time order. The keyed runner owns leases,
 * checkpoints (the task's snapshot with its stream position) and replay; every alert is a
 * function of the task's messages and their stream timestamps, so a replay after a crash or a
 * hand-over publishes the same messages again and JetStream stores them once. Each alert goes to
 * `alerts.<source>.<severity>`, bound to its event's message when that is in the batch.
 */
export function detectDefinition(opts: DetectActorOptions = {}): KeyedActorDefinition<DetectState, DetectTaskSpec> {
  const partitions = opts.partitions ?? DEFAULT_PARTITIONS;
  const windows = opts.windows ?? defaultWindowConfig;
  const specs = detectTaskSpecs(partitions);
  const timing = SOURCES.map((s) => {
    const sc = windows.sources[s];
    return sc ? [s, sc.outOfOrdernessMs, sc.allowedLatenessMs, sc.idleTimeoutMs] : [s];
  });
  const fingerprint = fingerprintOf([DETECT_STATE_VERSION, partitions, specs.map((t) => [t.id, t.filter, t.sources]), timing, opts.detection ?? {}]);
  const make = (spec: DetectTaskSpec) => createTaskFor(spec, { windows, detection: opts.detection });
  return defineKeyedActor<DetectState, DetectTaskSpec>({
    name: "detect",
    reads: { mode: "keyed", stream: "EVENTS", tasks: specs },
    emits: ["ALERTS"],
    batch: { max_messages: 1_000, max_wait_ms: 20 },
    fingerprint,
    // Before it was keyed, detect read the durable EVENTS/detect: what that acknowledged is not published again.
    outputsDoneThrough: durableAckFloor("EVENTS", "detect"),
    createState: (spec) => ({ spec, task: make(spec) }),
    snapshot: (state) => state.task.snapshot(),
    restore(spec, snapshot) {
      const task = make(spec);
      task.restore(snapshot as DetectTaskSnapshot);
      return { spec, task };
    },
    handle({ spec, task }, batch, ctx) {
      const inHand = new Map<string, Inbound>();
      for (const input of batch) {
        let alerts: Alert[];
        try {
          const envelope = envelopeOf(input);
          const p = partitionOf(input, partitions);
          inHand.set(envelope.event_id, input);
          alerts = task.observe(envelope, { partition: spec.taskPartition(p), streamMs: input.timestampMs, seq: input.seq, traceId: input.traceId });
        } catch (err) {
          ctx.reject(input, err instanceof PoisonError ? err : new PoisonError("detect_input", `${input.subject} (stream ${input.stream} seq ${input.seq}): ${describeError(err)}`, { cause: err }));
          continue;
        }
        for (const alert of alerts) {
          const from = inHand.get(alert.event_id);
          if (from) ctx.emit(from, alertMessage(alert, ctx.scope));
          else ctx.emitUnbound(alertMessage(alert, ctx.scope));
        }
      }
    },
    report({ task }, _spec, { span }) {
      for (const [source, s] of Object.entries(task.status().sources)) {
        if (!s) continue;
        span.setAttribute(`sluice.detect.buffered.${source}`, s.buffered);
        if (s.watermark !== null) span.setAttribute(`sluice.detect.watermark.${source}`, s.watermark);
      }
    },
  });
}

export function detectActor(opts: DetectActorOptions = {}): LoopActor {
  return keyedActor(detectDefinition(opts), opts);
}

/** An alert's identity: its event and the metric scored — what a sluice.anomalies row is keyed by. */
export function alertId(alert: Alert): string {
  return `${alert.event_id}:${alert.metric}`;
}

/** The message an alert travels as; its id is the task scope and {@link alertId}, so a replayed alert is stored once. */
export function alertMessage(alert: Alert, scope: string): { subject: string; data: string; msgId: string } {
  return {
    subject: subject.alerts(alert.source, alert.severity),
    data: JSON.stringify(alert),
    msgId: `${scope}:${alertId(alert)}`,
  };
}

/** `clickhouse-sink-anomalies`: ALERTS → sluice.anomalies, each row with its event's trace id. */
export function anomaliesSinkActor(settings: SinkSettings): ActorDefinition {
  return sinkActor({
    name: "clickhouse-sink-anomalies",
    consumes: CONSUMERS.sinkAnomalies,
    table: "anomalies",
    maxRows: settings.maxRows,
    maxWaitMs: settings.maxWaitMs,
    toRow: (input, caps) => {
      let alert: Alert;
      try {
        alert = JSON.parse(utf8.decode(input.data)) as Alert;
      } catch (err) {
        throw new PoisonError("json", `${input.subject} (seq ${input.seq}): not a JSON alert`, { cause: err });
      }
      return anomalyRow(alert, alert.trace_id || input.traceId, caps);
    },
  });
}

export { createDetection, severityOf, DEFAULT_THRESHOLDS, DEFAULT_MAX_KEYS, SEVERITIES, type Alert, type Detection, type DetectionOptions, type DetectionSnapshot, type Severity } from "./detection.ts";
export { evalSynthetic, toEnvelope, type SyntheticEvalOptions, type SyntheticEvalReport, type SourceScore } from "./eval.ts";
export { createDetectTask, DetectInputError, type DetectInput, type DetectTask, type DetectTaskOptions, type DetectTaskSnapshot, type DetectTaskStatus, type LaneStatus } from "./task.ts";
export { createTaskFor, detectTaskSpecs, specFor, type DetectTaskSpec } from "./tasks.ts";
export { Lru } from "../../models/lru.ts";
export { DetectSnapshotError, type Finding } from "./finding.ts";
