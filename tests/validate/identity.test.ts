import { test } from "uvu";
import * as assert from "uvu/assert";
import { eventIdOf, eventMsgId, sequenceEventId } from "../../subjects/identity.ts";
import { replayMessage, toDeadLetter } from "../../api/dlq.ts";
import { HEADERS } from "../../subjects/catalog.ts";
import { ConfigError, DEFAULT_MAX_FUTURE_SKEW_MS, loadConfig } from "../../config/index.ts";

test("EVENTS msg id: the same producer id under another source or key is another id; the same triple is the same id", () => {
  const id = eventMsgId("iot", "sensor-1", "abc-1");
  assert.is(eventMsgId("iot", "sensor-1", "abc-1"), id);
  assert.is.not(eventMsgId("txn", "sensor-1", "abc-1"), id);
  assert.is.not(eventMsgId("iot", "sensor-2", "abc-1"), id);
  assert.is.not(eventMsgId("iot", "sensor-1", "abc-2"), id);
  assert.match(id, /^[0-9a-f]{32}$/);
});

test("EVENTS msg id: no separator in a key or id makes two different triples meet", () => {
  const ids = [
    eventMsgId("iot", "a:b", "c"),
    eventMsgId("iot", "a", "b:c"),
    eventMsgId("iot", "a.b", "c"),
    eventMsgId("iot", "a", "b.c"),
    eventMsgId("iot", 'a","b', "c"),
    eventMsgId("iot", "a", 'b","c'),
    eventMsgId("io", "t:a", "c"),
  ];
  assert.is(new Set(ids).size, ids.length);
});

test("event id: Nats-Msg-Id header, else payload event_id, else the stream:sequence hash", () => {
  const none = new Map<string, string>();
  assert.is(eventIdOf(new Map([["Nats-Msg-Id", "h-1"]]), { event_id: "p-1" }, "RAW", 5), "h-1");
  assert.is(eventIdOf(none, { event_id: "p-1" }, "RAW", 5), "p-1");
  assert.is(eventIdOf(none, { event_id: "" }, "RAW", 5), sequenceEventId("RAW", 5));
  assert.is(eventIdOf(none, { event_id: 7 }, "RAW", 5), sequenceEventId("RAW", 5));
  assert.is(sequenceEventId("RAW", 5), sequenceEventId("RAW", 5));
  assert.is.not(sequenceEventId("RAW", 5), sequenceEventId("RAW", 6));
  assert.match(sequenceEventId("RAW", 5), /^[0-9a-f]{32}$/);
});

test("dlq replay ids: a RAW dead letter replays with the event id; an EVENTS one with the scoped id its first delivery had", () => {
  const body = (text: string) => new TextEncoder().encode(text);
  const fromRaw = toDeadLetter(1, "dlq.validate.iot", {
    [HEADERS.originalSubject]: "raw.iot.s1", [HEADERS.originalStream]: "RAW", [HEADERS.streamSequence]: "9",
  }, body(`{"sensor_id":"s1","ts":1,"temperature":1,"event_id":"abc-1"}`), 0);
  assert.is(replayMessage(fromRaw).msgId, "abc-1", "validate scopes it again");
  // The window actor's dead letters do not keep the EVENTS Nats-Msg-Id: it is rebuilt from the envelope.
  const fromEvents = toDeadLetter(2, "dlq.window.txn", {
    [HEADERS.originalSubject]: "events.txn.1", [HEADERS.originalStream]: "EVENTS", [HEADERS.streamSequence]: "4",
  }, body(JSON.stringify({ event_id: "abc-1", source: "txn", key: "c:1", payload: {} })), 0);
  assert.is(replayMessage(fromEvents).msgId, eventMsgId("txn", "c:1", "abc-1"));
  const kept = toDeadLetter(3, "dlq.clickhouse-sink-events.txn", {
    [HEADERS.originalSubject]: "events.txn.1", [HEADERS.originalStream]: "EVENTS", [HEADERS.streamSequence]: "4",
    [HEADERS.originalMsgId]: eventMsgId("txn", "c:1", "abc-1"),
  }, body(JSON.stringify({ event_id: "abc-1", source: "txn", key: "c:1", payload: {} })), 0);
  assert.is(replayMessage(kept).msgId, eventMsgId("txn", "c:1", "abc-1"));
});

test("SLUICE_MAX_FUTURE_SKEW_MS: 5 minutes by default, an integer of ms, a bad value names the variable", () => {
  assert.is(DEFAULT_MAX_FUTURE_SKEW_MS, 300_000);
  assert.is(loadConfig({}).maxFutureSkewMs, 300_000);
  assert.is(loadConfig({ SLUICE_MAX_FUTURE_SKEW_MS: "0" }).maxFutureSkewMs, 0);
  assert.is(loadConfig({ SLUICE_MAX_FUTURE_SKEW_MS: "86400000" }).maxFutureSkewMs, 86_400_000);
  for (const bad of ["-1", "5m", "1.5", "9999999999999"]) {
    assert.throws(() => loadConfig({ SLUICE_MAX_FUTURE_SKEW_MS: bad }), (err: Error) => err instanceof ConfigError && /SLUICE_MAX_FUTURE_SKEW_MS/.test(err.message) && /integer/.test(err.message));
  }
});

test.run();
