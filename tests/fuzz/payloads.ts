// Random and mutated RAW messages for the validate stage, shared by the fuzz test and its heap child.
import fc from "fast-check";
import type { Inbound } from "../../actors/runtime/actor.ts";

const encoder = new TextEncoder();

/** Values of the txn fields marked `"$comment": "pii"`, valid and not; a rejection must never show them, whole or in part. */
export const PII_VALUES = ["4929123456789012", "4929 1234 5678 9012", "ann.lee@example.com", "ann.lee(at)example.com"] as const;

export interface FuzzMessage {
  subject: string;
  data: Uint8Array;
}

/** The valid payloads mutations start from, one per source, `ts` at `now`. */
function seeds(now: number) {
  return [
    { subject: "raw.iot.s1", body: { sensor_id: "s1", ts: new Date(now).toISOString(), temperature: 21.5, humidity: 40 } },
    { subject: "raw.social.u1", body: { user_id: "u1", topic: "weather", text: "hello", ts: Math.floor(now / 1000), lang: "en", likes: 3 } },
    {
      subject: "raw.txn.c1",
      body: { customer_id: "c1", merchant_id: "m-1", amount: 12.5, currency: "EUR", ts: `${now}000000`, channel: "online", event_id: "e-1", card_number: PII_VALUES[0], email: PII_VALUES[2] },
    },
  ];
}

const weird = fc.oneof(
  fc.constantFrom(null, true, false, 0, -0, -1, 1e308, -1e308, 5e-324, 2 ** 53 + 1, "", " ", "NaN", "Infinity", "1e999", "\u0000", "'; DROP TABLE x; --", "\ud800", [], {}, [[[]]]),
  fc.string(), fc.double(), fc.integer(), fc.boolean(), fc.string({ unit: "binary" }),
  fc.jsonValue({ maxDepth: 3 }),
);
const FIELDS = ["sensor_id", "user_id", "customer_id", "ts", "temperature", "humidity", "text", "amount", "currency", "event_id", "lang", "likes", "extra", "__proto__", "constructor"];
const PII_FIELDS = ["card_number", "email"];

/**
 * Every RAW message shape the fuzz draws from, as `message` (all of them mixed), for payloads
 * whose event time is near `now`.
 */
export function fuzzMessages(now: number): fc.Arbitrary<FuzzMessage> {
  const seed = seeds(now);
  /** A valid payload with fields replaced, removed or added; PII fields get (in)valid PII. */
  const mutated = fc.tuple(
    fc.integer({ min: 0, max: 2 }),
    fc.array(fc.oneof(
      fc.tuple(fc.constantFrom(...FIELDS), fc.option(weird)),
      fc.tuple(fc.constantFrom(...PII_FIELDS), fc.option(fc.oneof(fc.constantFrom(...PII_VALUES), weird))),
    ), { maxLength: 4 }),
  ).map(([i, edits]) => {
    const body: Record<string, unknown> = { ...seed[i].body };
    for (const [field, value] of edits) {
      if (value === null) delete body[field];
      else Object.defineProperty(body, field, { value, enumerable: true, writable: true, configurable: true });
    }
    return { subject: seed[i].subject, data: encoder.encode(JSON.stringify(body)) };
  });

  /** The bytes of a valid payload, cut, spliced or with bytes flipped. */
  const corrupted = fc.tuple(fc.integer({ min: 0, max: 2 }), fc.nat(), fc.uint8Array({ maxLength: 8 }), fc.constantFrom("cut", "splice", "flip"))
    .map(([i, at, junk, how]) => {
      const whole = encoder.encode(JSON.stringify(seed[i].body));
      const p = at % (whole.length + 1);
      let data: Uint8Array;
      if (how === "cut") data = whole.subarray(0, p);
      else if (how === "splice") data = new Uint8Array([...whole.subarray(0, p), ...junk, ...whole.subarray(p)]);
      else data = whole.map((b, j) => (j >= p && j < p + junk.length ? b ^ (junk[j - p] || 1) : b));
      return { subject: seed[i].subject, data };
    });

  const random = fc.tuple(
    fc.oneof(fc.constantFrom("raw.iot.s1", "raw.txn.c1", "raw.social.u1", "raw.x.y", "raw.iot", "raw", "raw.iot.a.b.c"), fc.string()),
    fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.json({ maxDepth: 4 }).map((s) => encoder.encode(s))),
  ).map(([subject, data]) => ({ subject, data }));

  const deep = fc.nat({ max: 2_000 }).map((d) => ({ subject: "raw.iot.s1", data: encoder.encode(`{"sensor_id":"s1","ts":1,"temperature":1,"x":${"[".repeat(d)}${"]".repeat(d)}}`) }));

  return fc.oneof({ arbitrary: mutated, weight: 4 }, { arbitrary: corrupted, weight: 3 }, { arbitrary: random, weight: 2 }, deep);
}

/** A fuzz message as the validate actor receives it from RAW. */
export function inbound(m: FuzzMessage, seq: number, timestampMs: number): Inbound {
  return { subject: m.subject, stream: "RAW", seq, deliveries: 1, timestampMs, headers: new Map(), data: m.data, traceId: "" };
}
