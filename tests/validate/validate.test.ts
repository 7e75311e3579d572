import { test } from "uvu";
import * as assert from "uvu/assert";
import { createValidator, parseEventTime } from "../../actors/validate/index.ts";
import type { Inbound } from "../../actors/runtime/actor.ts";

const validate = createValidator({ partitions: 4 });
let seq = 0;
function raw(subject: string, body: string | Uint8Array, headers: Record<string, string> = {}): Inbound {
  return {
    subject, stream: "RAW", seq: ++seq, deliveries: 1, timestampMs: 1_764_237_600_500,
    headers: new Map(Object.entries(headers)),
    data: typeof body === "string" ? new TextEncoder().encode(body) : body,
    traceId: "",
  };
}

test("a reading typed as nats pub prints it becomes an envelope on a keyed partition", () => {
  const v = validate(raw("raw.iot.s1", `{"sensor_id":"s1","ts":"2026-11-27T10:00:00Z","temperature":21}`));
  assert.ok(v.ok);
  if (!v.ok) return;
  assert.is(v.envelope.source, "iot");
  assert.is(v.envelope.key, "s1");
  assert.is(v.envelope.event_time, Date.parse("2026-11-27T10:00:00Z"));
  assert.is(v.envelope.ingest_time, 1_764_237_600_500);
  assert.match(v.out.subject, /^events\.iot\.[0-3]$/);
  assert.is(v.out.msgId, v.envelope.event_id);
  assert.is(v.envelope.event_id.length, 32);
});

test("event ids: header first, then payload, then stream+sequence hash (stable on replay)", () => {
  const body = `{"sensor_id":"s1","ts":1764237600,"humidity":40,"event_id":"p-1"}`;
  const fromHeader = validate(raw("raw.iot.s1", body, { "Nats-Msg-Id": "h-1" }));
  const fromPayload = validate(raw("raw.iot.s1", body));
  assert.ok(fromHeader.ok && fromHeader.envelope.event_id === "h-1");
  assert.ok(fromPayload.ok && fromPayload.envelope.event_id === "p-1");
  const a = raw("raw.iot.s1", `{"sensor_id":"s1","ts":1764237600,"humidity":40}`);
  const first = validate(a);
  const again = validate({ ...a, deliveries: 2 });
  assert.ok(first.ok && again.ok && first.envelope.event_id === again.envelope.event_id);
});

test("nats pub template outputs parse as event times", () => {
  const t = Date.parse("2025-11-27T10:00:00Z");
  assert.is(parseEventTime("2025-11-27T10:00:00Z"), t);
  assert.is(parseEventTime(1764237600), t);
  assert.is(parseEventTime("1764237600"), t);
  assert.is(parseEventTime(1764237600123), t + 123);
  assert.is(parseEventTime(1764237600123456789), t + 123);
  assert.is(parseEventTime("1764237600123456789"), t + 123);
  assert.is(parseEventTime("yesterday"), undefined);
  assert.is(parseEventTime(-5), undefined);
});

const rejects: Array<[string, string, string | Uint8Array, string]> = [
  ["truncated JSON", "raw.iot.s1", `{"sensor_id":"s1","ts":`, "json"],
  ["empty payload", "raw.iot.s1", "", "empty"],
  ["invalid UTF-8", "raw.iot.s1", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), "encoding"],
  ["array", "raw.iot.s1", `[1,2]`, "not_object"],
  ["wrong type", "raw.iot.s1", `{"sensor_id":"s1","ts":1764237600,"temperature":"hot"}`, "schema"],
  ["missing required", "raw.txn.c1", `{"customer_id":"c1","ts":1764237600,"amount":5}`, "schema"],
  ["unknown source", "raw.weather.x", `{"ts":1}`, "unknown_source"],
  ["key differs from subject", "raw.iot.s2", `{"sensor_id":"s1","ts":1764237600,"temperature":1}`, "key_mismatch"],
];
for (const [name, subj, body, code] of rejects) {
  test(`rejects ${name} with code ${code} and a reason naming the subject`, () => {
    const v = validate(raw(subj, body));
    assert.not.ok(v.ok);
    if (v.ok) return;
    assert.is(v.error.code, code);
    assert.ok(v.error.message.includes(subj), v.error.message);
  });
}

test("schema errors say which field, what was expected and what came", () => {
  const v = validate(raw("raw.iot.s1", `{"sensor_id":"s1","ts":1764237600,"temperature":"hot"}`));
  assert.not.ok(v.ok);
  if (v.ok) return;
  assert.match(v.error.message, /\/temperature: must be number \(got "hot"\)/);
  assert.is(v.error.field, "/temperature");
});

test.run();
