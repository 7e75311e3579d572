import { test } from "uvu";
import * as assert from "uvu/assert";
import { eventIdOf, eventMsgId, sequenceEventId } from "../../subjects/identity.ts";
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
