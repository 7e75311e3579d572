import { test } from "uvu";
import * as assert from "uvu/assert";
import { headers } from "@nats-io/transport-node";
import { buildDeadLetter, LastErrors } from "../../actors/runtime/dead-letter.ts";

const NOW = Date.UTC(2026, 11, 1, 9, 0, 0);

test("a dead letter keeps the original headers, moves its Nats-Msg-Id aside and is named by actor, stream and sequence", () => {
  const h = headers();
  h.set("Nats-Msg-Id", "evt-7");
  h.set("X-Producer", "gateway");
  const letter = buildDeadLetter({ actor: "validate", stream: "RAW", subject: "raw.iot.sensor-1", seq: 42, deliveries: 5, headers: h, data: new TextEncoder().encode("{}") }, "max_deliver", "gave up\r\nafter 5", 1_048_576, NOW);
  assert.is(letter.subject, "dlq.validate.iot");
  assert.is(letter.msgId, "dlq:validate:RAW:42");
  assert.equal(letter.headers, {
    "X-Producer": "gateway",
    "Sluice-Original-Msg-Id": "evt-7",
    "Sluice-Reason": "gave up after 5",
    "Sluice-Error-Code": "max_deliver",
    "Sluice-Actor": "validate",
    "Sluice-Original-Subject": "raw.iot.sensor-1",
    "Sluice-Original-Stream": "RAW",
    "Sluice-Stream-Seq": "42",
    "Sluice-Deliveries": "5",
    "Sluice-Failed-At": "2026-12-01T09:00:00.000Z",
  });
});

test("a body that cannot travel with its reason headers is cut to fit and says its original size", () => {
  const letter = buildDeadLetter({ actor: "validate", stream: "RAW", subject: "raw.iot.k", seq: 1, deliveries: 1, headers: undefined, data: new Uint8Array(4_000) }, "json", "not json", 2_000, NOW);
  assert.ok((letter.data as Uint8Array).length < 2_000);
  assert.is(letter.headers!["Sluice-Payload-Truncated"], "4000");
});

test("last errors are bounded: the oldest sequence is forgotten first, a re-recorded one is refreshed", () => {
  const errors = new LastErrors(3);
  errors.record(1, "a");
  errors.record(2, "b");
  errors.record(3, "c");
  errors.record(1, "a again");
  errors.record(4, "d");
  assert.is(errors.size, 3);
  assert.is(errors.get(2), undefined);
  assert.is(errors.get(1), "a again");
  errors.forget(4);
  assert.is(errors.get(4), undefined);
});

test.run();
