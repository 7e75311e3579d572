import { deadLetterRow, eventRow, windowRow, type WindowRow } from "../../clickhouse/index.ts";
import { CONSUMERS } from "../../subjects/consumers.ts";
import { HEADERS, parseDeadLetterSubject, subject as subjects } from "../../subjects/catalog.ts";
import type { Envelope } from "../../subjects/envelope.ts";
import type { ActorDefinition, Inbound, Outbound } from "../runtime/actor.ts";
import { PoisonError } from "../runtime/errors.ts";
import { buildDeadLetter } from "../runtime/dead-letter.ts";
import { sinkActor, type SinkSettings } from "./sink.ts";
import { SERVICES, type TypedColumns } from "../services.ts";

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

const DLQ_SINK = "clickhouse-sink-dlq";

/**
 * A dead letter the DLQ sink cannot store, for `dlq-sink.<actor>.<source>` (stream DLQ_SINK):
 * the runtime's dead-letter format, its `Sluice-*` headers saying why the DLQ sink gave up and
 * pointing at the dead letter's DLQ sequence (the dead letter itself stays on DLQ). The body is
 * cut to fit `maxPayload`: an output over it would be dead-lettered onto DLQ by the runtime, the
 * loop this avoids.
 */
export function unstorableDeadLetter(input: Inbound, error: PoisonError, maxPayload = Infinity, nowMs = Date.now()): Outbound {
  const { actor, source } = parseDeadLetterSubject(input.subject) ?? { actor: "unknown", source: "unknown" };
  // Without the dead letter's own Nats-Msg-Id, which would overwrite Sluice-Original-Msg-Id: a
  // replay must still carry the id of the message that first failed.
  const keys = [...input.headers.keys()].filter((k) => k !== HEADERS.msgId);
  const letter = buildDeadLetter(
    { actor: DLQ_SINK, stream: input.stream, subject: input.subject, seq: input.seq, deliveries: input.deliveries, headers: { keys: () => keys, get: (k) => input.headers.get(k) ?? "" }, data: input.data },
    error.code,
    error.message.slice(0, 1_000),
    maxPayload,
    nowMs,
  );
  return { ...letter, subject: subjects.dlqSink(actor, source), msgId: `dlq-sink:${input.stream}:${input.seq}` };
}

export interface SinkActorsOptions extends SinkSettings {
  /** Typed payload columns in sluice.events (SERVICES.typedColumns); default true, false writes only `payload`. */
  readonly typedColumns?: boolean;
}

/** The three ClickHouse sinks: EVENTS → sluice.events, DLQ → sluice.dead_letters, AGG → sluice.window_aggregates. */
export function sinkActors(opts: SinkActorsOptions): Record<"clickhouse-sink-events" | "clickhouse-sink-dlq" | "clickhouse-sink-agg", () => ActorDefinition> {
  return {
    "clickhouse-sink-events": () => {
      let typed: TypedColumns | undefined;
      return sinkActor({
        name: "clickhouse-sink-events",
        consumes: CONSUMERS.sinkEvents,
        table: "events",
        maxRows: opts.maxRows,
        maxWaitMs: opts.maxWaitMs,
        needs: opts.typedColumns === false ? [] : [SERVICES.typedColumns],
        start: async (ctx) => {
          if (opts.typedColumns !== false) typed = await ctx.use(SERVICES.typedColumns);
        },
        extraColumns: () => typed?.columns.names() ?? [],
        prepare: async (batch) => typed?.sync.prepare(batch),
        toRow: (input, caps) => {
          if (!typed) return eventRow(json<Envelope>(input), input.traceId, caps);
          let envelope: Envelope;
          try {
            envelope = typed.sync.envelope(input);
          } catch {
            envelope = json<Envelope>(input);
          }
          return { ...eventRow(envelope, input.traceId, caps), ...typed.columns.values(envelope) };
        },
      });
    },
    [DLQ_SINK]: () => {
      // The NATS server's max_payload, which a diverted dead letter must fit.
      let maxPayload: number | undefined;
      return sinkActor({
        name: DLQ_SINK,
        consumes: CONSUMERS.sinkDeadLetters,
        table: "dead_letters",
        maxRows: opts.maxRows,
        maxWaitMs: opts.maxWaitMs,
        start: (ctx) => void (maxPayload = ctx.nc.info?.max_payload),
        divert: { stream: "DLQ_SINK", message: (input, error) => unstorableDeadLetter(input, error, maxPayload) },
        toRow: (input, caps) => {
          const h = (name: string) => input.headers.get(name) ?? "";
          const fromSubject = parseDeadLetterSubject(input.subject);
          const actor = h(HEADERS.actor) || fromSubject?.actor || "unknown";
          const stream = h(HEADERS.originalStream);
          const seq = Number(h(HEADERS.streamSequence) || 0);
          // One event of a batch message: its index completes the identity (ids without one are single-event messages', as before batching).
          const index = h(HEADERS.eventIndex);
          return deadLetterRow({
            dlq_id: index ? `${actor}:${stream}:${seq}:${index}` : `${actor}:${stream}:${seq}`,
            received_at: Date.parse(h(HEADERS.failedAt)) || input.timestampMs,
            actor,
            source: fromSubject?.source ?? "unknown",
            subject: h(HEADERS.originalSubject),
            stream,
            stream_seq: seq,
            deliveries: Number(h(HEADERS.deliveries) || 1),
            reason: h(HEADERS.reason),
            error_code: h(HEADERS.errorCode),
            payload: lenient.decode(input.data),
            headers: originalHeaders(input),
          }, input.traceId, caps);
        },
      });
    },
    "clickhouse-sink-agg": () => sinkActor({
      name: "clickhouse-sink-agg",
      consumes: CONSUMERS.sinkWindows,
      table: "window_aggregates",
      maxRows: opts.maxRows,
      maxWaitMs: opts.maxWaitMs,
      toRow: (input, caps) => windowRow(json<WindowRow>(input), input.traceId, caps),
    }),
  };
}
