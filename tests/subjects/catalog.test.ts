import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseDeadLetterSubject, parseEventsSubject, subject } from "../../subjects/catalog.ts";

test("parseEventsSubject reads back what subject.events builds, and nothing else", () => {
  assert.equal(parseEventsSubject(subject.events("iot", 3)), { source: "iot", partition: 3 });
  assert.equal(parseEventsSubject("events.txn.12"), { source: "txn", partition: 12 });
  for (const other of ["events.iot", "events.iot.x", "events.iot.-1", "events.iot.1.2", "raw.iot.1", "events.iot.1e3"]) {
    assert.is(parseEventsSubject(other), undefined, other);
  }
});

test("parseDeadLetterSubject reads back subject.dlq and subject.dlqSink, and nothing else", () => {
  assert.equal(parseDeadLetterSubject(subject.dlq("validate", "iot")), { actor: "validate", source: "iot" });
  assert.equal(parseDeadLetterSubject(subject.dlqSink("clickhouse-sink-events", "txn")), { actor: "clickhouse-sink-events", source: "txn" });
  for (const other of ["dlq.validate", "dlq.validate.iot.extra", "dq.iot", "events.iot.0", "dlqx.a.b"]) {
    assert.is(parseDeadLetterSubject(other), undefined, other);
  }
});

test.run();
