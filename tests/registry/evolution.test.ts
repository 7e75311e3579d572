import { test } from "uvu";
import * as assert from "uvu/assert";
import { createValidator, type SchemaSource } from "../../actors/validate/index.ts";
import type { Inbound } from "../../actors/runtime/actor.ts";
import { SCHEMAS_V1 } from "../../subjects/schemas/index.ts";
import { applyUpcast, upcastSteps, UpcastDeclarationError, UpcastError } from "../../subjects/schemas/migrations.ts";
import type { Source } from "../../subjects/sources.ts";

const iot1 = SCHEMAS_V1.iot as Record<string, any>;
/** v2: battery renamed to battery_mv (in millivolt), site defaults, a "lat,lon" location string. */
const iot2 = {
  ...iot1,
  title: "iot v2",
  properties: { ...iot1.properties, battery: undefined, battery_mv: { type: "number", minimum: 0 }, location: { type: "string" } },
  anyOf: [...iot1.anyOf.slice(0, 3), { required: ["battery_mv"], properties: { battery_mv: true } }],
  "x-sluice-upcast": [{ op: "rename", from: "battery", to: "battery_mv" }, { op: "unit", field: "battery_mv", from: "volt", to: "millivolt" }, { op: "default", field: "site", value: "unassigned" }],
};
delete iot2.properties.battery;
/** v3: location split into lat and lon, temperature sent in fahrenheit by v2 producers is now celsius... of v2 data. */
const iot3 = {
  ...iot2,
  title: "iot v3",
  properties: { ...iot2.properties, location: undefined, lat: { type: "number", minimum: -90, maximum: 90 }, lon: { type: "number", minimum: -180, maximum: 180 } },
  "x-sluice-upcast": [{ op: "split", from: "location", into: ["lat", "lon"], separator: ",", as: "number" }],
};
delete iot3.properties.location;

function sourceOf(versions: Record<number, object>): SchemaSource {
  let revision = 0;
  const revisions = new Map<number, number>();
  return {
    current: () => Math.max(...Object.keys(versions).map(Number)),
    versions: () => Object.keys(versions).map(Number).sort(),
    get: (_source: Source, v: number) => {
      if (!versions[v]) return undefined;
      if (!revisions.has(v)) revisions.set(v, ++revision);
      return { schema: versions[v], revision: revisions.get(v)! };
    },
  };
}

let seq = 0;
const raw = (body: unknown, headers: Record<string, string> = {}): Inbound => ({
  subject: "raw.iot.s1", stream: "RAW", seq: ++seq, deliveries: 1, timestampMs: 1_764_237_600_500,
  headers: new Map(Object.entries(headers)), data: new TextEncoder().encode(JSON.stringify(body)), traceId: "",
});

const versions: Record<number, object> = { 1: iot1, 2: iot2, 3: iot3 };
const validate = createValidator({ partitions: 4, schemas: sourceOf(versions) });

test("each upcast op on its own: rename, default, split, unit", () => {
  assert.equal(applyUpcast(upcastSteps({ "x-sluice-upcast": [{ op: "rename", from: "a", to: "b" }] }), { a: 1 }), { b: 1 });
  assert.equal(applyUpcast(upcastSteps({ "x-sluice-upcast": [{ op: "default", field: "s", value: "x" }] }), { s: null }), { s: "x" });
  assert.equal(applyUpcast(upcastSteps({ "x-sluice-upcast": [{ op: "default", field: "s", value: "x" }] }), { s: "kept" }), { s: "kept" });
  assert.equal(applyUpcast(upcastSteps({ "x-sluice-upcast": [{ op: "split", from: "l", into: ["a", "b"], separator: "," }] }), { l: "x, y" }), { a: "x", b: "y" });
  assert.equal(applyUpcast(upcastSteps({ "x-sluice-upcast": [{ op: "unit", field: "t", from: "fahrenheit", to: "celsius" }] }), { t: 212 }), { t: 100 });
  assert.equal(applyUpcast(upcastSteps({ "x-sluice-upcast": [{ op: "unit", field: "amount", from: "cents", to: "units" }] }), { amount: 1250 }), { amount: 12.5 });
  assert.throws(() => applyUpcast(upcastSteps({ "x-sluice-upcast": [{ op: "split", from: "l", into: ["a", "b"], separator: "," }] }), { l: "1,2,3" }), (e: Error) => e instanceof UpcastError && /splits into 3 parts/.test(e.message));
  assert.throws(() => upcastSteps({ "x-sluice-upcast": [{ op: "explode" }] }), (e: Error) => e instanceof UpcastDeclarationError && /unknown op "explode"/.test(e.message));
});

test("no stated version means the current one; the envelope says which version was written", () => {
  const v = validate(raw({ sensor_id: "s1", ts: 1764237600, lat: 1, lon: 2, temperature: 20 }));
  assert.ok(v.ok, !v.ok ? v.error.message : "");
  if (v.ok) assert.is(v.envelope.schema_version, 3);
});

test("a v1 message (header) is upcast through v2 and v3 to the current shape", () => {
  const v = validate(raw({ sensor_id: "s1", ts: 1764237600, battery: 3.7 }, { "Sluice-Schema-Version": "1" }));
  assert.ok(v.ok, !v.ok ? v.error.message : "");
  if (!v.ok) return;
  assert.is(v.envelope.schema_version, 1);
  assert.equal(v.envelope.payload, { sensor_id: "s1", ts: 1764237600, battery_mv: 3700, site: "unassigned" });
});

test("a v2 message (payload field) is split to v3, and the stated version leaves the payload", () => {
  const v = validate(raw({ sensor_id: "s1", ts: 1764237600, battery_mv: 3600, location: "52.5,13.4", site: "b", schema_version: 2 }));
  assert.ok(v.ok, !v.ok ? v.error.message : "");
  if (!v.ok) return;
  assert.is(v.envelope.schema_version, 2);
  assert.equal(v.envelope.payload, { sensor_id: "s1", ts: 1764237600, battery_mv: 3600, lat: 52.5, lon: 13.4, site: "b" });
});

test("the header wins only when they agree: header and payload that differ are refused", () => {
  const same = validate(raw({ sensor_id: "s1", ts: 1, battery: 1, schema_version: 1 }, { "Sluice-Schema-Version": "v1" }));
  assert.ok(same.ok);
  const differ = validate(raw({ sensor_id: "s1", ts: 1, battery: 1, schema_version: 2 }, { "Sluice-Schema-Version": "1" }));
  assert.not.ok(differ.ok);
  if (!differ.ok) assert.is(differ.error.code, "schema_version_conflict");
});

test("an unknown or malformed version is dead-lettered with code unknown_schema_version", () => {
  for (const [headers, body] of [[{ "Sluice-Schema-Version": "7" }, {}], [{ "Sluice-Schema-Version": "two" }, {}], [{}, { schema_version: 0 }]] as const) {
    const v = validate(raw({ sensor_id: "s1", ts: 1, temperature: 1, ...body }, headers));
    assert.not.ok(v.ok);
    if (v.ok) continue;
    assert.is(v.error.code, "unknown_schema_version");
    assert.ok(v.error.message.includes("raw.iot.s1"), v.error.message);
  }
  const seven = validate(raw({ sensor_id: "s1", ts: 1, temperature: 1 }, { "Sluice-Schema-Version": "7" }));
  assert.ok(!seven.ok && /iot v7 .* is not registered; registered: v1, v2, v3/.test(seven.error.message));
});

test("a message is checked against the version it was written with, and an upcast that cannot run is dead-lettered", () => {
  const wrongForV1 = validate(raw({ sensor_id: "s1", ts: 1, battery_mv: 5 }, { "Sluice-Schema-Version": "1" }));
  assert.ok(!wrongForV1.ok && wrongForV1.error.code === "schema" && /schema iot v1/.test(wrongForV1.error.message));
  const badSplit = validate(raw({ sensor_id: "s1", ts: 1, temperature: 1, location: "52.5" }, { "Sluice-Schema-Version": "2" }));
  assert.ok(!badSplit.ok && badSplit.error.code === "upcast" && badSplit.error.field === "/location", !badSplit.ok ? badSplit.error.message : "");
});

test("a version registered later is used by the same validator without a restart", () => {
  const grows: Record<number, object> = { 1: iot1 };
  const live = createValidator({ partitions: 4, schemas: sourceOf(grows) });
  const body = { sensor_id: "s1", ts: 1, battery: 3.3 };
  assert.ok(!live(raw(body, { "Sluice-Schema-Version": "2" })).ok);
  grows[2] = iot2;
  const v = live(raw(body, { "Sluice-Schema-Version": "1" }));
  assert.ok(v.ok && v.envelope.payload.battery_mv === 3300);
});

test.run();
