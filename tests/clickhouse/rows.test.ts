import { test } from "uvu";
import * as assert from "uvu/assert";
import { RowMappingError, capabilitiesFor, deadLetterRow, eventRow, timeValue, windowRow } from "../../clickhouse/index.ts";
import { BASE_MS, deadLetters, envelopes, windowResult } from "./scenarios.ts";

const modern = capabilitiesFor("26.7.2.1");
const old = capabilitiesFor("18.16.1");

test("times: DateTime64(3) text in UTC on modern servers, whole epoch seconds on 18.16", () => {
  assert.is(timeValue(BASE_MS, modern, "t", "f"), "2026-11-27 10:00:00.123");
  assert.is(timeValue(BASE_MS, old, "t", "f"), Math.floor(BASE_MS / 1000));
  assert.is(timeValue(0, modern, "t", "f"), "1970-01-01 00:00:00.000");
  assert.is(timeValue(-1, modern, "t", "f"), "1969-12-31 23:59:59.999");
  assert.throws(() => timeValue(-1, old, "t", "f"), /t\.f: expected a time between 1970 and 2106/);
  assert.throws(() => timeValue(Number.NaN, modern, "t", "f"), /expected epoch milliseconds/);
  assert.throws(() => timeValue(Date.UTC(2300, 0, 1), modern, "t", "f"), (err: unknown) => err instanceof RowMappingError && err.field === "f");
});

test("an envelope maps to the events columns", () => {
  const e = envelopes(1)[0];
  assert.equal(eventRow(e, "abc", modern), {
    event_id: "evt-0000",
    source: "iot",
    key: "sensor-0",
    schema_version: 1,
    event_time: "2026-11-27 10:00:00.123",
    ingest_time: "2026-11-27 10:00:00.130",
    payload: JSON.stringify(e.payload),
    raw_subject: "raw.iot.sensor-0",
    raw_seq: 1,
    trace_id: "abc",
  });
  assert.is(eventRow(e, "abc", old).event_time, Math.floor(e.event_time / 1000));
  assert.throws(() => eventRow({ ...e, schema_version: 70_000 }, "t", modern), /sluice\.events\.schema_version: expected a whole number from 0 to 65535, got 70000/);
});

test("a dead letter decodes its bytes and keeps every header value as JSON", () => {
  const row = deadLetterRow(deadLetters(1)[0], "t", old);
  assert.is(row.payload, `{"sensor_id":"sensor-1","ts":0`);
  assert.equal(JSON.parse(row.headers), { "Nats-Msg-Id": "m-0", "X-Multi": ["a", "b"] });
  assert.is(row.received_at, Math.floor(BASE_MS / 1000));
  assert.throws(() => deadLetterRow({ ...deadLetters(1)[0], deliveries: -1 }, "t", old), /deliveries/);
});

test("window floats that are not finite travel as ClickHouse's nan and inf; a null distinct count is 0", () => {
  const row = windowRow({ ...windowResult(3, 1), max: Infinity, min: -Infinity }, "t", modern);
  assert.is(row.stddev, "nan");
  assert.is(row.max, "inf");
  assert.is(row.min, "-inf");
  assert.is(row.distinct_count, 0);
  assert.is(row.version, 3);
  assert.is(row.window_end, "2026-11-27 10:01:00.000");
});

test.run();
