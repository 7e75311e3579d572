import { test } from "uvu";
import * as assert from "uvu/assert";
import { checkCompatibility, diffSchemas, formatReport, type CompatibilityMode, type CompatibilityPolicy, type JsonSchema } from "../../subjects/registry/index.ts";
import { SCHEMAS_V1 } from "../../subjects/schemas/index.ts";

const obj = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}): JsonSchema => ({ type: "object", properties, ...extra });

function verdict(prev: JsonSchema, next: JsonSchema, mode: CompatibilityMode, policy: CompatibilityPolicy = "lenient"): boolean {
  return checkCompatibility(prev, next, { mode, policy, previousVersion: 1, version: 2 }).compatible;
}

/** [name, previous, next, backward, forward] under one policy: full is both, none always passes. */
const cases: Array<[string, JsonSchema, JsonSchema, boolean, boolean, CompatibilityPolicy]> = [
  ["optional property added to an open model (lenient)", obj({ a: { type: "string" } }), obj({ a: { type: "string" }, b: { type: "number" } }), true, true, "lenient"],
  ["optional property added to an open model (strict: old data may carry it)", obj({ a: { type: "string" } }), obj({ a: { type: "string" }, b: { type: "number" } }), false, true, "strict"],
  ["optional property removed from an open model (strict)", obj({ a: { type: "string" }, b: { type: "number" } }), obj({ a: { type: "string" } }), true, false, "strict"],
  ["required property added to an open model", obj({ a: { type: "string" } }), obj({ a: { type: "string" }, b: { type: "number" } }, { required: ["b"] }), false, true, "lenient"],
  ["required property with a default added to an open model", obj({ a: { type: "string" } }), obj({ a: { type: "string" }, b: { type: "number", default: 0 } }, { required: ["b"] }), true, true, "lenient"],
  ["optional property added to a closed model", obj({ a: { type: "string" } }, { additionalProperties: false }), obj({ a: { type: "string" }, b: { type: "number" } }, { additionalProperties: false }), true, false, "strict"],
  ["existing property made required", obj({ a: { type: "string" } }), obj({ a: { type: "string" } }, { required: ["a"] }), false, true, "lenient"],
  ["required property made optional", obj({ a: { type: "string" } }, { required: ["a"] }), obj({ a: { type: "string" } }), true, false, "lenient"],
  ["integer widened to number", obj({ a: { type: "integer" } }), obj({ a: { type: "number" } }), true, false, "lenient"],
  ["number narrowed to integer", obj({ a: { type: "number" } }), obj({ a: { type: "integer" } }), false, true, "lenient"],
  ["string changed to number", obj({ a: { type: "string" } }), obj({ a: { type: "number" } }), false, false, "lenient"],
  ["enum value added", obj({ c: { type: "string", enum: ["x", "y"] } }), obj({ c: { type: "string", enum: ["x", "y", "z"] } }), true, false, "lenient"],
  ["enum value removed", obj({ c: { type: "string", enum: ["x", "y"] } }), obj({ c: { type: "string", enum: ["x"] } }), false, true, "lenient"],
  ["enum value swapped", obj({ c: { enum: ["x", "y"] } }), obj({ c: { enum: ["x", "z"] } }), false, false, "lenient"],
  ["maximum lowered", obj({ h: { type: "number", maximum: 100 } }), obj({ h: { type: "number", maximum: 50 } }), false, true, "lenient"],
  ["maximum raised", obj({ h: { type: "number", maximum: 100 } }), obj({ h: { type: "number", maximum: 150 } }), true, false, "lenient"],
  ["minimum added", obj({ h: { type: "number" } }), obj({ h: { type: "number", minimum: 0 } }), false, true, "lenient"],
  ["minimum removed", obj({ h: { type: "number", minimum: 0 } }), obj({ h: { type: "number" } }), true, false, "lenient"],
  ["exclusiveMinimum raised", obj({ p: { type: "number", exclusiveMinimum: 0 } }), obj({ p: { type: "number", exclusiveMinimum: 10 } }), false, true, "lenient"],
  ["maxLength lowered", obj({ t: { type: "string", maxLength: 5000 } }), obj({ t: { type: "string", maxLength: 280 } }), false, true, "lenient"],
  ["minLength removed", obj({ t: { type: "string", minLength: 1 } }), obj({ t: { type: "string" } }), true, false, "lenient"],
  ["format added", obj({ e: { type: "string" } }), obj({ e: { type: "string", format: "email" } }), false, true, "lenient"],
  ["pattern changed", obj({ l: { type: "string", pattern: "^[a-z]{2}$" } }), obj({ l: { type: "string", pattern: "^[a-z]{3}$" } }), false, false, "lenient"],
  ["anyOf branch added", obj({}, { anyOf: [{ required: ["a"] }] }), obj({}, { anyOf: [{ required: ["a"] }, { required: ["b"] }] }), true, false, "lenient"],
  ["anyOf branch removed", obj({}, { anyOf: [{ required: ["a"] }, { required: ["b"] }] }), obj({}, { anyOf: [{ required: ["a"] }] }), false, true, "lenient"],
  ["anyOf added", obj({ a: { type: "number" } }), obj({ a: { type: "number" } }, { anyOf: [{ required: ["a"] }] }), false, true, "lenient"],
  ["closed model opened", obj({ a: {} }, { additionalProperties: false }), obj({ a: {} }), true, true, "lenient"],
  ["open model closed (strict)", obj({ a: {} }), obj({ a: {} }, { additionalProperties: false }), false, true, "strict"],
  ["description and title only", obj({ a: { type: "string", description: "x" } }, { title: "v1" }), obj({ a: { type: "string", description: "y" } }, { title: "v2" }), true, true, "strict"],
];

for (const [name, prev, next, backward, forward, policy] of cases) {
  test(`${name}: backward ${backward}, forward ${forward}, full ${backward && forward} (${policy})`, () => {
    assert.is(verdict(prev, next, "backward", policy), backward, "backward");
    assert.is(verdict(prev, next, "forward", policy), forward, "forward");
    assert.is(verdict(prev, next, "full", policy), backward && forward, "full");
    assert.ok(verdict(prev, next, "none", policy), "none never refuses");
  });
}

test("every v1 schema is fully compatible with itself: no differences", () => {
  for (const schema of Object.values(SCHEMAS_V1)) assert.equal(diffSchemas(schema, schema), []);
});

test("the report names the field, the change and who cannot read what", () => {
  const prev = obj({ humidity: { type: "number", minimum: 0, maximum: 100 } });
  const next = obj({ humidity: { type: "integer", minimum: 0, maximum: 100 } }, { required: ["humidity"] });
  const report = checkCompatibility(prev, next, { mode: "backward", previousVersion: 3, version: 4 });
  assert.not.ok(report.compatible);
  const types = report.incompatibilities.map((i) => i.type).sort();
  assert.equal(types, ["REQUIRED_ATTRIBUTE_ADDED", "TYPE_NARROWED"]);
  const narrowed = report.incompatibilities.find((i) => i.type === "TYPE_NARROWED")!;
  assert.is(narrowed.path, "#/properties/humidity/type");
  assert.match(narrowed.message, /^humidity: type \["number"\] became \["integer"\]/);
  assert.match(narrowed.message, /consumers on v4 cannot read what v3 producers wrote/);
  const text = formatReport("iot", report);
  assert.match(text, /iot v4 is NOT backward compatible with v3/);
  assert.match(text, /\[backward\] #\/required\/humidity REQUIRED_ATTRIBUTE_ADDED/);
});

test("forward failures blame the old readers", () => {
  const report = checkCompatibility(obj({ c: { enum: ["a"] } }), obj({ c: { enum: ["a", "b"] } }), { mode: "forward", previousVersion: 1, version: 2 });
  assert.is(report.incompatibilities.length, 1);
  assert.is(report.incompatibilities[0].direction, "forward");
  assert.match(report.incompatibilities[0].message, /consumers still on v1 cannot read what v2 producers write/);
});

test("a keyword outside the supported subset is never silently passed", () => {
  assert.not.ok(verdict(obj({ a: { type: "string" } }), obj({ a: { type: "string", not: { const: "x" } } }), "backward"));
});

test.run();
