import { test } from "uvu";
import * as assert from "uvu/assert";
import { toMessages, type LateMessage } from "../../actors/window/outputs.ts";
import type { Output } from "../../windowing/index.ts";
import type { Envelope } from "../../subjects/envelope.ts";

function lateOf(source: "iot" | "txn", key: string, eventId: string): Output {
  const event: Envelope = {
    event_id: eventId, source, key, schema_version: 1, event_time: 1_000, ingest_time: 2_000,
    payload: { ts: 1 }, raw_subject: `raw.${source}.${key}`, raw_seq: 1,
  };
  return {
    type: "late", reason: "beyond_allowed_lateness", source, event_id: eventId, event_time: 1_000,
    partition: 0, watermark: 90_000, allowed_lateness_ms: 0, windows: [], event,
  };
}

const ctx = () => ({ task: "p0", scope: "f1.p0", partition: 0, emittedAt: 5_000, sessions: new Map() });

test("late outputs of one producer id under two keys or sources are two late events, a repeat is one", () => {
  const messages = toMessages([lateOf("iot", "sensor-1", "abc-1"), lateOf("iot", "sensor-2", "abc-1"), lateOf("txn", "sensor-1", "abc-1")], ctx());
  const ids = messages.map((m) => m.msgId);
  const rowIds = messages.map((m) => (JSON.parse(String(m.data)) as LateMessage).late_id);
  assert.is(new Set(ids).size, 3, `msg ids ${ids.join(", ")}`);
  assert.is(new Set(rowIds).size, 3, `late ids ${rowIds.join(", ")}`);
  const again = toMessages([lateOf("iot", "sensor-1", "abc-1")], ctx());
  assert.is(again[0].msgId, messages[0].msgId);
  assert.is((JSON.parse(String(again[0].data)) as LateMessage).late_id, rowIds[0]);
});

test.run();
