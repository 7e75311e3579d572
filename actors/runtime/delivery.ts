import type { JsMsg } from "@nats-io/jetstream";
import type { SpanContext } from "@opentelemetry/api";
import { declaredEvents, decodeEventBatch, EVENTS_HEADER } from "../../subjects/event-batch.ts";

/** What a JetStream delivery's reply subject says about the message. */
export interface Delivery {
  readonly seq: number;
  readonly deliveries: number;
  /** The stream's timestamp, epoch ms: exactly `timestampNanos / 1_000_000n`. */
  readonly timestampMs: number;
}

/**
 * A delivery's sequence, delivery count and stream time from one parse of its reply subject.
 * `msg.info` is parsed once and kept (an ordered consumer parses it anyway for every message);
 * nats.js's `timestampNanos` splits the subject again and goes through a BigInt, a measurable
 * share of a busy task. `info.timestampNanos` is a double (nanoseconds since 1970 are past 2^53,
 * so it is off by at most 128 ns): its milliseconds are exact unless it lies within a microsecond
 * of a millisecond boundary, where the exact BigInt path decides.
 */
export function deliveryOf(m: JsMsg): Delivery {
  const info = m.info;
  const ns = info.timestampNanos;
  const withinMs = ns % 1_000_000;
  const timestampMs = withinMs >= 1_000 && withinMs <= 999_000 ? Math.floor(ns / 1_000_000) : Number(m.timestampNanos / 1_000_000n);
  return { seq: info.streamSequence, deliveries: info.deliveryCount, timestampMs };
}

/** Headers as nats.js hands them over (`JsMsg.headers`, `StoredMsg.header`), or an event's own. */
export interface HeaderSource {
  keys(): string[];
  get(key: string): string;
}

/**
 * One event of a delivered message: the whole message when it carries one event, else one line of
 * its batch (subjects/event-batch.ts). `headers` are the event's own: the message's for a single
 * event, only its `traceparent` for a batched one (the batch's headers describe the batch).
 */
export interface DeliveredEvent {
  readonly index: number | undefined;
  readonly data: Uint8Array;
  readonly headers: HeaderSource | undefined;
  /** The traceparent a batched event carries in its line; undefined for a single event (read its headers). */
  readonly traceparent: string | undefined;
}

/**
 * The events a delivered (or stored) message carries: the one place that reads the batch format,
 * so every reader handles both. A malformed batch throws {@link EventBatchError}.
 */
export function eventsOf(subject: string, seq: number, headers: HeaderSource | undefined, data: Uint8Array): DeliveredEvent[] {
  const declared = declaredEvents(headers?.get(EVENTS_HEADER), subject, seq);
  if (declared === undefined) return [{ index: undefined, data, headers, traceparent: undefined }];
  return decodeEventBatch(data, declared, subject, seq).map((e, index) => ({
    index,
    data: e.data,
    headers: e.traceparent ? ownHeaders(e.traceparent) : NO_HEADERS,
    traceparent: e.traceparent,
  }));
}

const NO_HEADERS: HeaderSource = { keys: () => [], get: () => "" };
function ownHeaders(traceparent: string): HeaderSource {
  return { keys: () => ["traceparent"], get: (k) => (k === "traceparent" ? traceparent : "") };
}

/** The span context a W3C traceparent names (`00-<trace>-<span>-<flags>`), or undefined when it is not one. */
export function spanContextOf(traceparent: string | undefined): SpanContext | undefined {
  if (!traceparent) return undefined;
  const m = TRACEPARENT.exec(traceparent);
  if (!m || /^0+$/.test(m[1]) || /^0+$/.test(m[2])) return undefined;
  return { traceId: m[1], spanId: m[2], traceFlags: parseInt(m[3], 16), isRemote: true };
}
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The traceparent of a span context, as a batch line carries it. */
export function traceparentOf(sc: SpanContext): string {
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, "0")}`;
}

/**
 * A message's headers as the handler's Map, copied the first time they are asked for: most
 * handlers never read them, and copying them for every message is a measurable share of a busy task.
 */
export function lazyHeaderMap(source: HeaderSource | undefined): () => Map<string, string> {
  let map: Map<string, string> | undefined;
  return () => {
    if (!map) {
      map = new Map();
      if (source) for (const key of source.keys()) map.set(key, source.get(key));
    }
    return map;
  };
}

/**
 * {@link eventsOf}, or the message as one event when its batch is malformed: a reader hands that
 * to its handler whole, which cannot parse it and dead-letters it with the original bytes.
 */
export function eventsOrWhole(subject: string, seq: number, headers: HeaderSource | undefined, data: Uint8Array): DeliveredEvent[] {
  try {
    return eventsOf(subject, seq, headers, data);
  } catch {
    return [{ index: undefined, data, headers, traceparent: undefined }];
  }
}

/** How many events a message carries, by its header (a malformed one counts as one). */
export function eventCount(m: JsMsg): number {
  const n = Number(m.headers?.get(EVENTS_HEADER));
  return Number.isInteger(n) && n > 1 ? n : 1;
}
