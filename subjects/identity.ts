import * as crypto from "node:crypto";
import { HEADERS } from "./catalog.ts";

/**
 * The identity contract, in one place: which id an event has, and which `Nats-Msg-Id` it carries
 * on EVENTS. Producers choose event ids per source and key (a sensor's "abc-1" and a payment's
 * "abc-1" are different events), so the dedup id on EVENTS is scoped by source and key; the
 * envelope's `event_id` stays the producer's own id, the one users query.
 */

/**
 * Hex SHA-256 of a UTF-8 string. `crypto.hash` (Node 20.12+) is one call instead of a Hash object
 * with three: half the cost, and ids are computed for every event. The same digest either way.
 */
const sha256Hex: (text: string) => string = typeof crypto.hash === "function"
  ? (text) => crypto.hash("sha256", text, "hex")
  : (text) => crypto.createHash("sha256").update(text).digest("hex");

/** The id of a stored message that carries no id of its own: a hash of its stream and sequence. */
export function sequenceEventId(stream: string, seq: number): string {
  return sha256Hex(`${stream}:${seq}`).slice(0, 32);
}

/**
 * A RAW message's event id: the producer's `Nats-Msg-Id` header, else the payload's `event_id`,
 * else {@link sequenceEventId} of the message's stream and sequence. A dead-letter replay carries
 * the original id as its `Nats-Msg-Id`, so it is the same event as the first delivery.
 */
export function eventIdOf(
  headers: ReadonlyMap<string, string>,
  payload: Readonly<Record<string, unknown>>,
  stream: string,
  seq: number,
): string {
  return headers.get(HEADERS.msgId) ||
    (typeof payload.event_id === "string" ? payload.event_id : "") ||
    sequenceEventId(stream, seq);
}

/**
 * The `Nats-Msg-Id` of an event on EVENTS: one event per (source, key, producer id) within
 * EVENTS' duplicate window. A hash of the JSON array of the three, so no choice of separator in
 * keys (which may hold ':' or '.') can make two different triples meet; 32 hex characters, a
 * safe header value whatever characters the key has.
 */
export function eventMsgId(source: string, key: string, eventId: string): string {
  return sha256Hex(JSON.stringify([source, key, eventId])).slice(0, 32);
}
