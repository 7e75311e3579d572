import { context, INVALID_TRACEID, ROOT_CONTEXT, SpanKind, trace, type Link, type Span, type SpanContext, type Tracer } from "@opentelemetry/api";
import type { JsMsg } from "@nats-io/jetstream";
import type { MsgHdrs } from "@nats-io/nats-core";
import type { ConsumerDefinition } from "../../subjects/consumers.ts";
import { extractContext } from "../../otel/propagation.ts";
import type { Inbound } from "./actor.ts";
import { deliveryOf, eventsOrWhole, lazyHeaderMap, spanContextOf, type HeaderSource } from "./delivery.ts";

/**
 * An event in hand: the broker handle of the message that carries it, the handler's plain view of
 * it, the trace it arrived with, and its own process span once it needs one ({@link processSpan}).
 * A batch message (subjects/event-batch.ts) is several of these sharing one `msg`.
 */
export interface Tracked {
  readonly msg: JsMsg;
  readonly inbound: Inbound;
  /** The event's own headers, for its dead letter: the message's, or a batched event's traceparent. */
  readonly headers: HeaderSource | undefined;
  /** The span context in the event's trace headers (or its batch line); undefined when it carries none. */
  readonly carried: SpanContext | undefined;
  span: Span | undefined;
}

/**
 * The events of a delivered message as the handler sees them. Headers are copied when first asked
 * for: most handlers never read them. The trace id is the one the event arrived with (its
 * lineage); for an event that carries none, the all-zero id OpenTelemetry uses for "no trace"
 * (what rows held before, from a span that had no parent), so a stored trace id always has 32
 * characters.
 */
export function track(def: ConsumerDefinition, msg: JsMsg): Tracked[] {
  const { seq, deliveries, timestampMs } = deliveryOf(msg);
  const events = eventsOrWhole(msg.subject, seq, msg.headers, msg.data);
  return events.map((e) => {
    const parent = e.index === undefined ? trace.getSpanContext(extractContext(msg.headers, ROOT_CONTEXT)) : spanContextOf(e.traceparent);
    const carried = parent && trace.isSpanContextValid(parent) ? parent : undefined;
    const headers = lazyHeaderMap(e.headers);
    const inbound: Inbound = {
      subject: msg.subject,
      stream: def.stream,
      seq,
      ...(e.index !== undefined ? { index: e.index } : {}),
      deliveries,
      timestampMs,
      data: e.data,
      get headers() {
        return headers();
      },
      traceId: carried?.traceId ?? INVALID_TRACEID,
    };
    return { msg, inbound, headers: e.headers, carried, span: undefined };
  });
}

/**
 * One span per batch, linked to the trace of every message in it: a sink's work on an event is
 * found from the event's trace through the link, at the cost of one span per batch instead of
 * one per message.
 */
export function startBatchSpan(tracer: Tracer, actor: string, def: ConsumerDefinition, items: readonly Tracked[]): Span {
  const links: Link[] = [];
  for (const t of items) if (t.carried) links.push({ context: t.carried });
  return tracer.startSpan(`${actor} batch`, {
    kind: SpanKind.CONSUMER,
    links,
    attributes: {
      "messaging.system": "nats",
      "messaging.operation.type": "process",
      "messaging.consumer.group.name": def.durable_name,
      "messaging.nats.stream": def.stream,
      "messaging.batch.message_count": items.length,
      ...(items.length ? { "messaging.nats.stream_sequence.first": items[0].inbound.seq, "messaging.nats.stream_sequence.last": items[items.length - 1].inbound.seq } : {}),
      "sluice.actor": actor,
    },
  });
}

/**
 * The message's own CONSUMER span, a child of the trace it arrived with, started the first time
 * it is needed: for a message with outputs (their parent, so the event's trace goes on through
 * this actor), a dead letter or an error. A message that is only acked has none.
 */
export function processSpan(tracer: Tracer, actor: string, def: ConsumerDefinition, t: Tracked): Span {
  t.span ??= tracer.startSpan(`${actor} process`, {
    kind: SpanKind.CONSUMER,
    attributes: {
      "messaging.system": "nats",
      "messaging.operation.type": "process",
      "messaging.destination.name": t.msg.subject,
      "messaging.consumer.group.name": def.durable_name,
      "messaging.nats.stream": def.stream,
      "messaging.nats.stream_sequence": t.msg.seq,
      ...(t.inbound.index !== undefined ? { "sluice.event_index": t.inbound.index } : {}),
      "messaging.nats.delivery_count": t.msg.info.deliveryCount,
      "sluice.actor": actor,
    },
  }, t.carried ? trace.setSpanContext(ROOT_CONTEXT, t.carried) : ROOT_CONTEXT);
  return t.span;
}

/** A span for work on a message that is not in hand (read back from the stream), parented by its trace headers. */
export function startStoredSpan(tracer: Tracer, name: string, headers: MsgHdrs | undefined, attributes: Record<string, string | number>): Span {
  return tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes }, extractContext(headers, context.active()));
}
