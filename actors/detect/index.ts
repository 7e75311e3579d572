import type { ClickHouseClient } from "@clickhouse/client";
import type { Capabilities } from "../../clickhouse/capabilities.ts";
import { anomalyRow } from "../../clickhouse/rows-detect.ts";
import { subject } from "../../subjects/catalog.ts";
import { CONSUMERS } from "../../subjects/consumers.ts";
import type { Envelope } from "../../subjects/envelope.ts";
import { isSource } from "../../subjects/sources.ts";
import { defineActor, type ActorContext, type ActorDefinition, type Inbound } from "../runtime/actor.ts";
import { PoisonError } from "../runtime/errors.ts";
import { sinkActor } from "../sink/sink.ts";
import { DEFAULT_PARTITIONS } from "../../config/index.ts";
import type { Alert, DetectionOptions } from "./detection.ts";
import { createTaskFor, detectTaskSpecs, specFor } from "./tasks.ts";

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
  /** EVENTS partitions validate writes (`SLUICE_PARTITIONS`). Default {@link DEFAULT_PARTITIONS}. */
  readonly partitions?: number;
  readonly detection?: Omit<DetectionOptions, "now">;
  /** How often quiet sources are checked for release, ms of wall time. Default 1000. */
  readonly tickMs?: number;
}

/** The EVENTS partition of `events.<source>.<partition>`, or a poison error naming the subject. */
function partitionOf(input: Inbound, partitions: number): number {
  const token = input.subject.split(".")[2];
  const p = Number(token);
  if (!/^\d+$/.test(token ?? "") || p >= partitions) {
    throw new PoisonError("partition", `${input.subject} (stream ${input.stream} seq ${input.seq}): expected a partition from 0 to ${partitions - 1} (SLUICE_PARTITIONS ${partitions}), got ${JSON.stringify(token)}`, { field: "subject" });
  }
  return p;
}

/**
 * `detect`: EVENTS → ALERTS. Scores every validated event (IoT per sensor and metric,
 * transactions per customer and merchant, social volume per topic) through the detect tasks of
 * {@link detectTaskSpecs}: per source a reorder buffer on the windows' out-of-orderness bound, so
 * events reach the scorers in event-time order. Each alert goes to `alerts.<source>.<severity>`
 * under its identity as `Nats-Msg-Id` (a redelivered event's alerts are stored once). An event
 * waiting in a buffer is held unacked until it is scored and its alerts are stored, so a crash
 * loses none: they are redelivered. State lives in memory, bounded per source, and starts clean
 * on every start: this actor shares a durable consumer, and two instances split each key's history.
 */
export function detectActor(opts: DetectActorOptions = {}): ActorDefinition {
  const partitions = opts.partitions ?? DEFAULT_PARTITIONS;
  const specs = detectTaskSpecs(partitions);
  const fresh = () => new Map(specs.map((spec) => [spec, createTaskFor(spec, { detection: opts.detection })]));
  let tasks = fresh();

  /** Publishes released alerts, each bound to its event's message when that is in hand; acks what no buffer holds. */
  function settle(alerts: Alert[], inHand: ReadonlyMap<string, Inbound>, ctx: ActorContext): void {
    for (const alert of alerts) {
      const input = inHand.get(alert.event_id);
      if (input) ctx.emit(input, alertMessage(alert));
      else ctx.emitUnbound(alertMessage(alert));
    }
    const oldest = Math.min(...[...tasks.values()].map((t) => t.oldestHeldSeq() ?? Infinity));
    ctx.release(oldest - 1);
  }

  return defineActor({
    name: "detect",
    consumes: CONSUMERS.detect,
    emits: ["ALERTS"],
    batch: { max_messages: 1_000, max_wait_ms: 5 },
    start() {
      // A restart begins from a clean state: unacked (and held) events are redelivered.
      tasks = fresh();
    },
    handle(batch, ctx) {
      const alerts: Alert[] = [];
      const inHand = new Map<string, Inbound>();
      for (const input of batch) {
        try {
          const envelope = envelopeOf(input);
          const p = partitionOf(input, partitions);
          const spec = specFor(specs, envelope.source, p)!;
          inHand.set(envelope.event_id, input);
          alerts.push(...tasks.get(spec)!.observe(envelope, { partition: spec.taskPartition(p), streamMs: input.timestampMs, seq: input.seq, traceId: input.traceId }));
        } catch (err) {
          // Never thrown on: a re-run of this batch would find its events already seen and drop their alerts.
          ctx.reject(input, err instanceof PoisonError ? err : new PoisonError("detect_input", `${input.subject} (stream ${input.stream} seq ${input.seq}): ${(err as Error).message}`));
          continue;
        }
        // Acked once no buffer holds an event at or before it (see settle).
        ctx.hold(input, input.seq);
      }
      settle(alerts, inHand, ctx);
    },
    tick: {
      every_ms: opts.tickMs ?? 1_000,
      handle(nowMs, ctx) {
        // The wall clock here (stream time while messages flow): a quiet source's last events wait at most its idle timeout.
        settle([...tasks.values()].flatMap((t) => t.tick(nowMs)), new Map(), ctx);
      },
    },
  });
}

/**
 * The message an alert travels as. Its id is the alert's identity, the event and the metric
 * scored — what a sluice.anomalies row is keyed by — so a redelivered event's alert is stored once.
 */
export function alertMessage(alert: Alert): { subject: string; data: string; msgId: string } {
  return {
    subject: subject.alerts(alert.source, alert.severity),
    data: JSON.stringify(alert),
    msgId: `${alert.event_id}:${alert.metric}`,
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
