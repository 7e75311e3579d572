import type { ClickHouseClient } from "@clickhouse/client";
import type { Capabilities } from "../../clickhouse/index.ts";
import { deadLetterRow, eventRow, windowRow, type WindowRow } from "../../clickhouse/index.ts";
import { CONSUMERS } from "../../subjects/consumers.ts";
import { HEADERS } from "../../subjects/catalog.ts";
import type { Envelope } from "../../subjects/envelope.ts";
import type { ActorDefinition, Inbound } from "../runtime/actor.ts";
import { PoisonError } from "../runtime/errors.ts";
import { sinkActor } from "./sink.ts";
import type { EventColumns } from "../../clickhouse/columns.ts";
import type { TypedColumnSync } from "./typed-columns.ts";

const lenient = new TextDecoder();

function json<T>(input: Inbound): T {
  try {
    return JSON.parse(lenient.decode(input.data)) as T;
  } catch (err) {
    throw new PoisonError("json", `${input.subject} (seq ${input.seq}): not the JSON this sink expects`, { cause: err });
  }
}

/** The original headers of a dead letter, without the `Sluice-*` ones the runtime added. */
function originalHeaders(input: Inbound): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of input.headers) if (!k.startsWith("Sluice-") && k !== HEADERS.msgId) out[k] = v;
  return out;
}

export interface SinkDeps {
  readonly client: () => ClickHouseClient;
  readonly caps: () => Capabilities;
  readonly maxRows: number;
  readonly maxWaitMs: number;
  /** Typed payload columns of sluice.events, kept in step with the schema registry; without it only `payload` is written. */
  readonly typedColumns?: () => { sync: TypedColumnSync; columns: EventColumns } | undefined;
}

/** The three ClickHouse sinks: EVENTS → sluice.events, DLQ → sluice.dead_letters, AGG → sluice.window_aggregates. */
export function sinkActors(deps: SinkDeps): Record<"clickhouse-sink-events" | "clickhouse-sink-dlq" | "clickhouse-sink-agg", () => ActorDefinition> {
  return {
    "clickhouse-sink-events": () => sinkActor({
      name: "clickhouse-sink-events",
      consumes: CONSUMERS.sinkEvents,
      table: "events",
      client: deps.client,
      maxRows: deps.maxRows,
      maxWaitMs: deps.maxWaitMs,
      extraColumns: () => deps.typedColumns?.()?.columns.names() ?? [],
      prepare: async (batch) => deps.typedColumns?.()?.sync.prepare(batch),
      toRow: (input) => {
        const typed = deps.typedColumns?.();
        if (!typed) return eventRow(json<Envelope>(input), input.traceId, deps.caps());
        let envelope: Envelope;
        try {
          envelope = typed.sync.envelope(input);
        } catch {
          envelope = json<Envelope>(input);
        }
        return { ...eventRow(envelope, input.traceId, deps.caps()), ...typed.columns.values(envelope) };
      },
    }),
    "clickhouse-sink-dlq": () => sinkActor({
      name: "clickhouse-sink-dlq",
      consumes: CONSUMERS.sinkDeadLetters,
      table: "dead_letters",
      client: deps.client,
      maxRows: deps.maxRows,
      maxWaitMs: deps.maxWaitMs,
      toRow: (input) => {
        const h = (name: string) => input.headers.get(name) ?? "";
        const actor = h(HEADERS.actor) || input.subject.split(".")[1] || "unknown";
        const stream = h(HEADERS.originalStream);
        const seq = Number(h(HEADERS.streamSequence) || 0);
        return deadLetterRow({
          dlq_id: `${actor}:${stream}:${seq}`,
          received_at: Date.parse(h(HEADERS.failedAt)) || input.timestampMs,
          actor,
          source: input.subject.split(".")[2] ?? "unknown",
          subject: h(HEADERS.originalSubject),
          stream,
          stream_seq: seq,
          deliveries: Number(h(HEADERS.deliveries) || 1),
          reason: h(HEADERS.reason),
          error_code: h(HEADERS.errorCode),
          payload: lenient.decode(input.data),
          headers: originalHeaders(input),
        }, input.traceId, deps.caps());
      },
    }),
    "clickhouse-sink-agg": () => sinkActor({
      name: "clickhouse-sink-agg",
      consumes: CONSUMERS.sinkWindows,
      table: "window_aggregates",
      client: deps.client,
      maxRows: deps.maxRows,
      maxWaitMs: deps.maxWaitMs,
      toRow: (input) => windowRow(json<WindowRow>(input), input.traceId, deps.caps()),
    }),
  };
}
