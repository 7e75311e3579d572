import { context, propagation, trace, type Context, type TextMapGetter, type TextMapSetter } from "@opentelemetry/api";
import type { MsgHdrs } from "@nats-io/nats-core";

/** Reads W3C trace context (`traceparent`, `tracestate`) out of NATS message headers. */
export const natsHeaderGetter: TextMapGetter<MsgHdrs | undefined> = {
  keys: (headers) => (headers ? [...headers.keys()] : []),
  get: (headers, key) => {
    if (!headers) return undefined;
    const values = headers.values(key);
    return values.length ? values : undefined;
  },
};

/** Writes W3C trace context into NATS message headers. */
export const natsHeaderSetter: TextMapSetter<MsgHdrs> = {
  set: (headers, key, value) => headers.set(key, value),
};

export function extractContext(headers: MsgHdrs | undefined, parent: Context = context.active()): Context {
  return propagation.extract(parent, headers, natsHeaderGetter);
}

export function injectContext(headers: MsgHdrs, ctx: Context = context.active()): void {
  propagation.inject(ctx, headers, natsHeaderSetter);
}

/** The trace id of the active span, or "" when nothing is being traced. */
export function activeTraceId(ctx: Context = context.active()): string {
  const span = trace.getSpan(ctx);
  const id = span?.spanContext().traceId ?? "";
  return /^0+$/.test(id) ? "" : id;
}
