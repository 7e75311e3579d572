import { context, SpanKind, type Span, type Tracer } from "@opentelemetry/api";
import type { JsMsg } from "@nats-io/jetstream";
import type { MsgHdrs } from "@nats-io/nats-core";
import type { ConsumerDefinition } from "../../subjects/consumers.ts";
import { extractContext } from "../../otel/propagation.ts";
import type { Inbound } from "./actor.ts";

/** A delivery in hand: the broker handle, the handler's plain view of it, and its processing span. */
export interface Tracked {
  readonly msg: JsMsg;
  readonly inbound: Inbound;
  readonly span: Span;
}

/** One CONSUMER span per message per actor, its parent taken from the message's trace headers. */
export function track(tracer: Tracer, actor: string, def: ConsumerDefinition, msg: JsMsg): Tracked {
  const parent = extractContext(msg.headers, context.active());
  const span = tracer.startSpan(`${actor} process`, {
    kind: SpanKind.CONSUMER,
    attributes: {
      "messaging.system": "nats",
      "messaging.operation.type": "process",
      "messaging.destination.name": msg.subject,
      "messaging.consumer.group.name": def.durable_name,
      "messaging.nats.stream": def.stream,
      "messaging.nats.stream_sequence": msg.seq,
      "messaging.nats.delivery_count": msg.info.deliveryCount,
      "sluice.actor": actor,
    },
  }, parent);
  const hdrs = new Map<string, string>();
  if (msg.headers) for (const key of msg.headers.keys()) hdrs.set(key, msg.headers.get(key));
  const inbound: Inbound = {
    subject: msg.subject,
    stream: def.stream,
    seq: msg.seq,
    deliveries: msg.info.deliveryCount,
    timestampMs: Number(msg.timestampNanos / 1_000_000n),
    headers: hdrs,
    data: msg.data,
    traceId: span.spanContext().traceId,
  };
  return { msg, inbound, span };
}

/** A span for work on a message that is not in hand (read back from the stream), parented by its trace headers. */
export function startStoredSpan(tracer: Tracer, name: string, headers: MsgHdrs | undefined, attributes: Record<string, string | number>): Span {
  return tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes }, extractContext(headers, context.active()));
}
