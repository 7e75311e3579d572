import type { JsMsg } from "@nats-io/jetstream";

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
