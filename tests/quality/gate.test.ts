import { test } from "uvu";
import * as assert from "uvu/assert";
import { createValidator } from "../../actors/validate/index.ts";
import type { Inbound } from "../../actors/runtime/actor.ts";
import { createQualityGate, ExpectationConfigError, loadSuites, parseSuite, type Admission } from "../../quality/index.ts";
import { dqResultRow, type DqResultRecord } from "../../clickhouse/rows-quality.ts";
import { HEADERS } from "../../subjects/catalog.ts";

const INGEST = Date.parse("2026-11-27T10:00:30Z");
// The gate's own freshness bounds are under test here, not validate's limit on future event times.
const validate = createValidator({ partitions: 4, maxFutureSkewMs: Number.MAX_SAFE_INTEGER });
let seq = 0;
function raw(subject: string, body: unknown, opts: { seq?: number; ingest?: number } = {}): Inbound {
  return {
    subject, stream: "RAW", seq: opts.seq ?? ++seq, deliveries: 1, timestampMs: opts.ingest ?? INGEST,
    headers: new Map(), data: new TextEncoder().encode(JSON.stringify(body)), traceId: "",
  };
}
const reading = (fields: Record<string, unknown>) => ({ sensor_id: "s1", ts: "2026-11-27T10:00:00Z", temperature: 21, ...fields });

function gateOf(expectations: unknown[]) {
  return createQualityGate({ iot: parseSuite("iot", { expectations }) });
}
function admit(gate: ReturnType<typeof gateOf>, input: Inbound): Admission {
  return gate.admit(input, validate(input));
}
const LATER = INGEST + 3_600_000;
/** The reports of every minute before a message an hour after INGEST. */
function reports(gate: ReturnType<typeof gateOf>, at = LATER): DqResultRecord[] {
  return gate.advance(at, "t").map((o) => JSON.parse(String(o.data)) as DqResultRecord);
}

test("every shipped suite parses, and batch checks can only warn", () => {
  const suites = loadSuites();
  for (const source of ["iot", "social", "txn"] as const) assert.ok(suites[source].expectations.length > 0, source);
  assert.throws(() => parseSuite("iot", { expectations: [{ name: "m", kind: "mean", field: "temperature", severity: "reject" }] }), (e: Error) => e instanceof ExpectationConfigError && /only "warn"/.test(e.message));
  assert.throws(() => parseSuite("iot", { expectations: [{ name: "Bad-Name", kind: "not_null", field: "x", severity: "warn" }] }), /lower-case/);
  assert.throws(() => parseSuite("iot", { expectations: [{ name: "r", kind: "regex", field: "x", pattern: "(", severity: "warn" }] }), /not a regular expression/);
  assert.throws(() => parseSuite("iot", { expectations: [{ name: "f", kind: "freshness", severity: "warn" }] }), /max_age/);
});

test("reject: dead letter with code dq_<name> and a reason saying expected vs got", () => {
  const gate = gateOf([{ name: "temp_range", kind: "range", field: "temperature", min: -60, max: 90, severity: "reject" }]);
  const v = admit(gate, raw("raw.iot.s1", reading({ temperature: 120 })));
  assert.ok(!v.ok);
  if (v.ok) return;
  assert.is(v.error.code, "dq_temp_range");
  assert.match(v.error.message, /expected a number from -60 to 90, got 120/);
  assert.is(v.error.field, "/temperature");
  assert.ok(admit(gate, raw("raw.iot.s1", reading({ temperature: 20 }))).ok);
  const [r] = reports(gate);
  assert.equal([r.expectation, r.evaluated, r.failed, r.severity], ["temp_range", 2, 1, "reject"]);
  assert.match(r.sample_reason, /got 120/);
});

test("warn: kept, and named in the Sluice-Dq-Warnings header", () => {
  const gate = gateOf([
    { name: "site_set", kind: "in_set", field: "site", values: ["a", "b"], severity: "warn" },
    { name: "site_len", kind: "length", field: "site", max: 3, severity: "warn" },
    { name: "site_re", kind: "regex", field: "site", pattern: "^[a-z]+$", severity: "warn" },
    { name: "site_present", kind: "not_null", field: "site", severity: "warn" },
  ]);
  const v = admit(gate, raw("raw.iot.s1", reading({ site: "ZZZZ" })));
  assert.ok(v.ok);
  if (!v.ok) return;
  assert.is(v.out.headers?.[HEADERS.dqWarnings], "site_set,site_len,site_re");
  const clean = admit(gate, raw("raw.iot.s1", reading({ site: "a" })));
  assert.ok(clean.ok && clean.out.headers?.[HEADERS.dqWarnings] === undefined);
  const missing = admit(gate, raw("raw.iot.s1", reading({})));
  assert.ok(missing.ok && missing.out.headers?.[HEADERS.dqWarnings] === "site_present");
  const counts = Object.fromEntries(reports(gate).map((r) => [r.expectation, [r.evaluated, r.failed]]));
  // A check on a field that is absent is not counted, except not_null.
  assert.equal(counts, { site_set: [2, 1], site_len: [2, 1], site_re: [2, 1], site_present: [3, 1] });
});

test("freshness: configurable bounds into the past and the future", () => {
  const gate = gateOf([{ name: "fresh", kind: "freshness", max_age: "1h", max_future: "5m", severity: "reject" }]);
  const old = admit(gate, raw("raw.iot.s1", reading({ ts: "2026-11-27T08:00:00Z" })));
  const ahead = admit(gate, raw("raw.iot.s1", reading({ ts: "2026-11-27T10:10:00Z" })));
  assert.ok(!old.ok && /at most 1h before ingest/.test(old.error.message));
  assert.ok(!ahead.ok && /at most 5m after ingest/.test(ahead.error.message));
  assert.ok(admit(gate, raw("raw.iot.s1", reading({ ts: "2026-11-27T10:04:00Z" }))).ok);
});

test("an event time beyond what Date can show is rejected with a reason, not a throw (found by the fuzz test)", () => {
  const gate = gateOf([{ name: "fresh", kind: "freshness", max_future: "1d", severity: "reject" }]);
  const v = admit(gate, raw("raw.iot.s1", reading({ ts: 8.640000000000001e21 })));
  assert.ok(!v.ok && /8640000000000001 ms/.test(v.error.message));
});

test("unique within a window; a redelivery of the same message is no repeat", () => {
  const gate = gateOf([{ name: "id_unique", kind: "unique", field: "event_id", window: "10m", severity: "reject" }]);
  const first = raw("raw.iot.s1", reading({ event_id: "e-1" }));
  assert.ok(admit(gate, first).ok);
  assert.ok(admit(gate, { ...first, deliveries: 2 }).ok, "redelivery");
  const again = admit(gate, raw("raw.iot.s1", reading({ event_id: "e-1" })));
  assert.ok(!again.ok && again.error.code === "dq_id_unique" && /seen in the last 10m/.test(again.error.message));
  assert.ok(admit(gate, raw("raw.iot.s1", reading({ event_id: "e-1" }), { ingest: INGEST + 11 * 60_000 })).ok, "outside the window");
});

test("monotonic per key in stream order; earlier sequences are not judged again", () => {
  const gate = gateOf([{ name: "time_order", kind: "monotonic", field: "$event_time", severity: "warn" }]);
  const a = raw("raw.iot.s1", reading({ ts: "2026-11-27T10:00:10Z" }));
  assert.ok(admit(gate, a).ok);
  const back = admit(gate, raw("raw.iot.s1", reading({ ts: "2026-11-27T10:00:05Z" })));
  assert.ok(back.ok && back.out.headers?.[HEADERS.dqWarnings] === "time_order");
  const other = admit(gate, raw("raw.iot.s2", { sensor_id: "s2", ts: "2026-11-27T09:00:00Z", temperature: 1 }));
  assert.ok(other.ok && other.out.headers?.[HEADERS.dqWarnings] === undefined, "another key has its own order");
  const redelivered = admit(gate, { ...a, deliveries: 2 });
  assert.ok(redelivered.ok && redelivered.out.headers?.[HEADERS.dqWarnings] === undefined);
});

test("batch checks: null ratio and mean over runs of N events", () => {
  const gate = gateOf([
    { name: "site_nulls", kind: "null_ratio", field: "site", max: 0.5, rows: 4, severity: "warn" },
    { name: "temp_mean", kind: "mean", field: "temperature", min: 0, max: 30, rows: 4, severity: "warn" },
  ]);
  const outs: Admission[] = [];
  for (const t of [10, 20, 100, 200]) outs.push(admit(gate, raw("raw.iot.s1", reading({ temperature: t }))));
  const last = outs[3];
  assert.ok(last.ok && last.out.headers?.[HEADERS.dqWarnings] === "site_nulls,temp_mean");
  assert.ok(outs.slice(0, 3).every((o) => o.ok && !o.out.headers));
  const byName = Object.fromEntries(reports(gate).map((r) => [r.expectation, r]));
  assert.is(byName.site_nulls.evaluated, 1);
  assert.match(byName.temp_mean.sample_reason, /mean from 0 to 30 over 4 events, got 82.500/);
});

test("counts are per minute of ingest time, and a report empties them", () => {
  const gate = gateOf([{ name: "present", kind: "not_null", field: "temperature", severity: "warn" }]);
  admit(gate, raw("raw.iot.s1", reading({})));
  admit(gate, raw("raw.iot.s1", reading({}), { ingest: INGEST + 60_000 }));
  const rs = reports(gate);
  assert.equal(rs.map((r) => r.minute).sort(), [Date.parse("2026-11-27T10:00:00Z"), Date.parse("2026-11-27T10:01:00Z")]);
  assert.is(new Set(rs.map((r) => r.report_id)).size, 2);
  assert.equal(reports(gate), []);
  const row = dqResultRow(rs[0]);
  assert.is(row.minute % 60, 0);
});

test("reports follow stream time: a minute is reported once a later minute's message arrives, with an id from scope, source, expectation and minute", () => {
  const gate = gateOf([{ name: "present", kind: "not_null", field: "temperature", severity: "warn" }]);
  const minute = Date.parse("2026-11-27T10:00:00Z");
  for (const ingest of [INGEST, INGEST + 10_000]) {
    assert.equal(reports(gate, ingest), [], "nothing before the minute ends");
    admit(gate, raw("raw.iot.s1", reading({}), { ingest }));
  }
  const [r, ...more] = reports(gate, minute + 60_000);
  assert.equal(more, []);
  assert.equal([r.report_id, r.minute, r.evaluated, r.reported_at], [`t:iot:present:${minute}`, minute, 2, minute + 60_000]);
  const out = gateOf([{ name: "present", kind: "not_null", field: "temperature", severity: "warn" }]);
  admit(out, raw("raw.iot.s1", reading({})));
  assert.equal(out.advance(minute + 60_000, "t")[0].msgId, r.report_id, "the message id is the report id");
  assert.equal(reports(gate, minute + 120_000), [], "reported once");
});

test("a stream time that steps back counts into the open minute, never into a reported one", () => {
  const gate = gateOf([{ name: "present", kind: "not_null", field: "temperature", severity: "warn" }]);
  const next = Date.parse("2026-11-27T10:01:00Z");
  reports(gate, next + 1_000);
  admit(gate, raw("raw.iot.s1", reading({}), { ingest: INGEST }));
  assert.equal(reports(gate).map((r) => [r.minute, r.evaluated]), [[next, 1]]);
});

test("snapshot and restore: a duplicate id and a step back seen before are caught after, counts and batch runs go on", () => {
  const suite = [
    { name: "id_unique", kind: "unique", field: "event_id", window: "10m", severity: "reject" },
    { name: "time_order", kind: "monotonic", field: "$event_time", severity: "warn" },
    { name: "site_nulls", kind: "null_ratio", field: "site", max: 0.5, rows: 2, severity: "warn" },
  ];
  const before = gateOf(suite);
  before.advance(INGEST, "t");
  assert.ok(admit(before, raw("raw.iot.s1", reading({ event_id: "e-1", ts: "2026-11-27T10:00:10Z" }))).ok);
  const snapshot = JSON.parse(JSON.stringify(before.snapshot()));

  const after = gateOf(suite);
  after.restore(snapshot);
  const again = admit(after, raw("raw.iot.s1", reading({ event_id: "e-1" })));
  assert.ok(!again.ok && again.error.code === "dq_id_unique", "the id seen before the snapshot");
  const back = admit(after, raw("raw.iot.s1", reading({ event_id: "e-2", ts: "2026-11-27T10:00:05Z" })));
  assert.ok(back.ok && back.out.headers?.[HEADERS.dqWarnings] === "time_order,site_nulls", "monotonic remembers, and the batch run of 2 completed");
  const byName = Object.fromEntries(reports(after).map((r) => [r.expectation, [r.evaluated, r.failed]]));
  assert.equal(byName, { id_unique: [3, 1], time_order: [3, 2], site_nulls: [1, 1] }, "counts from before the snapshot are in the minute's report");

  const edited = gateOf([{ name: "id_unique", kind: "unique", field: "event_id", window: "20m", severity: "reject" }]);
  edited.restore(snapshot);
  assert.ok(admit(edited, raw("raw.iot.s1", reading({ event_id: "e-1" }))).ok, "an edited expectation starts afresh");
});

test("a snapshot keeps only ids inside the unique window", () => {
  const gate = gateOf([{ name: "id_unique", kind: "unique", field: "event_id", window: "10m", severity: "reject" }]);
  for (let i = 0; i < 5; i++) admit(gate, raw("raw.iot.s1", reading({ event_id: `old-${i}` })));
  gate.advance(INGEST + 11 * 60_000, "t");
  const [check] = gate.snapshot().checks;
  assert.equal(check.state, []);
});

test("a schema rejection passes through untouched", () => {
  const gate = gateOf([{ name: "present", kind: "not_null", field: "temperature", severity: "reject" }]);
  const v = admit(gate, raw("raw.iot.s1", { sensor_id: "s1", ts: "x", temperature: 1 }));
  assert.ok(!v.ok && v.error.code === "schema");
});

test.run();
