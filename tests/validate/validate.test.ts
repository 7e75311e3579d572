import { test } from "uvu";
import * as assert from "uvu/assert";
import { createValidator, parseEventTime } from "../../actors/validate/index.ts";
import type { Inbound } from "../../actors/runtime/actor.ts";
import { eventMsgId } from "../../subjects/identity.ts";
import { SCHEMAS_V1 } from "../../subjects/schemas/index.ts";
import type { SchemaSource } from "../../actors/validate/index.ts";

const validate = createValidator({ partitions: 4 });
/** 2026-11-27T10:00:00.500Z: when RAW stored the message. */
const INGEST = 1_795_773_600_500;
let seq = 0;
function raw(subject: string, body: string | Uint8Array, headers: Record<string, string> = {}, timestampMs = INGEST): Inbound {
  return {
    subject, stream: "RAW", seq: ++seq, deliveries: 1, timestampMs,
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
  assert.is(v.envelope.ingest_time, INGEST);
  assert.match(v.out.subject, /^events\.iot\.[0-3]$/);
  assert.is(v.out.msgId, eventMsgId("iot", "s1", v.envelope.event_id));
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

test("fields an operator marks x-sluice-pii in a schema of their own are never quoted: the field, the key, the time, or the payload at a root-level error", () => {
  const properties = SCHEMAS_V1.txn.properties as Record<string, object>;
  const v2 = {
    ...SCHEMAS_V1.txn, minProperties: 6,
    properties: { ...properties, customer_id: { type: "string", "x-sluice-pii": "tokenize" }, loyalty_no: { type: "string", pattern: "^L[0-9]{6}$", "x-sluice-pii": "mask" }, ts: { ...properties.ts, "x-sluice-pii": { action: "generalize", to: "hour" } } },
  };
  const schemas: SchemaSource = { current: () => 2, versions: () => [1, 2], get: (source, v) => (source === "txn" ? { schema: v === 1 ? SCHEMAS_V1.txn : v2, revision: v } : undefined) };
  const check = createValidator({ partitions: 1, schemas });
  const reason = (subject: string, body: object) => {
    const v = check(raw(subject, JSON.stringify(body)));
    assert.not.ok(v.ok, JSON.stringify(body));
    return v.ok ? "" : v.error.message;
  };
  const base = { customer_id: "c-secret-1", merchant_id: "m-1", amount: 1, currency: "EUR", ts: "2026-11-27T09:59:00Z", loyalty_no: "L123456" };
  const cases: Array<[string, object, RegExp]> = [
    ["raw.txn.c-secret-1", { ...base, loyalty_no: "X-SECRET-998877" }, /\/loyalty_no: must match pattern .* \(got a value not shown: PII\)/],
    ["raw.txn.c-secret-1", { loyalty_no: "X-SECRET-998877" }, /\/: must NOT have fewer than 6 properties \(got an object\)/],
    ["raw.txn.other", base, /\/customer_id is a value not shown: PII but the subject's key/],
    ["raw.txn.c-secret-1", { ...base, ts: "X-SECRET-TIME" }, /\/ts: .* \(got a value not shown: PII\)/],
    ["raw.txn.c-secret-1", { ...base, ts: "2026-11-28T15:00:00Z" }, /\/ts \(a value not shown: PII\) is after ingest/],
  ];
  for (const [subject, body, expected] of cases) {
    const text = reason(subject, body);
    assert.match(text, expected);
    for (const secret of ["X-SECRET", "c-secret-1\"", "2026-11-28T15"]) assert.not.ok(text.includes(secret), `${text} quotes ${secret}`);
  }
});

test("the same payload event_id under two sources is two EVENTS msg ids; the envelope keeps the producer's id", () => {
  const iot = validate(raw("raw.iot.k1", `{"sensor_id":"k1","ts":1764237600,"temperature":20,"event_id":"abc-1"}`));
  const txn = validate(raw("raw.txn.k1", `{"customer_id":"k1","merchant_id":"m-1","amount":5,"currency":"EUR","ts":1764237600,"event_id":"abc-1"}`));
  assert.ok(iot.ok && txn.ok);
  if (!iot.ok || !txn.ok) return;
  assert.is(iot.envelope.event_id, "abc-1");
  assert.is(txn.envelope.event_id, "abc-1");
  assert.is.not(iot.out.msgId, txn.out.msgId);
  const again = validate(raw("raw.iot.k1", `{"sensor_id":"k1","ts":1764237600,"temperature":21,"event_id":"abc-1"}`));
  assert.ok(again.ok && again.out.msgId === iot.out.msgId, "a repeat of the same sensor's event id dedupes on EVENTS");
});

const reading = (ts: string) => `{"sensor_id":"s1","ts":"${ts}","temperature":21}`;
const iso = (ms: number) => new Date(ms).toISOString();

test("an event time 20 h ahead of the RAW timestamp is a future_event_time dead letter that says what to fix", () => {
  const input = raw("raw.iot.s1", reading(iso(INGEST + 20 * 3_600_000)));
  const v = validate(input);
  assert.not.ok(v.ok);
  if (v.ok) return;
  assert.is(v.error.code, "future_event_time");
  assert.is(v.error.field, "/ts");
  for (const part of ["raw.iot.s1", `seq ${input.seq}`, "2026-11-28T06:00:00.500Z", "2026-11-27T10:00:00.500Z", "300000 ms", "72000 s", "clock", "SLUICE_MAX_FUTURE_SKEW_MS"]) {
    assert.ok(v.error.message.includes(part), `${JSON.stringify(part)} in: ${v.error.message}`);
  }
});

test("the limit is inclusive, configurable, and judged against the stream timestamp, not the wall clock", () => {
  assert.ok(validate(raw("raw.iot.s1", reading(iso(INGEST + 300_000)))).ok, "exactly 5 min ahead");
  assert.not.ok(validate(raw("raw.iot.s1", reading(iso(INGEST + 300_001)))).ok, "a millisecond more");
  const strict = createValidator({ partitions: 4, maxFutureSkewMs: 0 });
  assert.ok(strict(raw("raw.iot.s1", reading(iso(INGEST)))).ok);
  assert.not.ok(strict(raw("raw.iot.s1", reading(iso(INGEST + 1)))).ok);
  // Years in the past by the wall clock's standards, but what counts is when RAW stored it.
  const old = Date.UTC(2001, 0, 1);
  assert.ok(validate(raw("raw.iot.s1", reading(iso(old + 60_000)), {}, old)).ok);
  assert.not.ok(validate(raw("raw.iot.s1", reading(iso(old + 3_600_000)), {}, old)).ok);
});

test("a replay of a future_event_time dead letter once its time has come is accepted as the same event", () => {
  const ts = iso(INGEST + 20 * 3_600_000);
  const first = raw("raw.iot.s1", reading(ts));
  assert.not.ok(validate(first).ok);
  // What `sluice dlq replay` publishes: the body again, Nats-Msg-Id = the id validate would have given.
  const replayed = validate(raw("raw.iot.s1", reading(ts), { "Nats-Msg-Id": "p-77" }, INGEST + 20 * 3_600_000 - 1_000));
  assert.ok(replayed.ok);
  if (!replayed.ok) return;
  assert.is(replayed.envelope.event_id, "p-77");
  assert.is(replayed.out.msgId, eventMsgId("iot", "s1", "p-77"));
});

test.run();
