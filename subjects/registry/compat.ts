/**
 * JSON Schema compatibility with Confluent Schema Registry's meaning, for the subset sluice's
 * schemas use (object properties, required, additionalProperties, types, enum/const, string and
 * numeric bounds, pattern, format, anyOf).
 *
 * Like Confluent's `SchemaDiff`, a check lists the differences from an *original* (the schema the
 * data was written with) to an *update* (the schema that reads it) and passes when each one is in
 * the policy's set of compatible changes:
 * - `backward`: original = previous version, update = new version (new readers, old data);
 * - `forward`: original = new version, update = previous version (old readers, new data);
 * - `full`: both; `none`: no check.
 * Policies: `strict` is Confluent's default set; `lenient` is Confluent's lenient policy, which also
 * accepts adding or removing optional properties of open and closed content models (a required
 * property added to an open model stays incompatible). sluice's schemas are open, so `lenient` is
 * sluice's default: under `strict` no typed field could ever be added to them.
 */

export const COMPATIBILITY_MODES = ["backward", "forward", "full", "none"] as const;
export type CompatibilityMode = (typeof COMPATIBILITY_MODES)[number];
export const COMPATIBILITY_POLICIES = ["lenient", "strict"] as const;
export type CompatibilityPolicy = (typeof COMPATIBILITY_POLICIES)[number];

export function isCompatibilityMode(value: string): value is CompatibilityMode {
  return (COMPATIBILITY_MODES as readonly string[]).includes(value);
}
export function isCompatibilityPolicy(value: string): value is CompatibilityPolicy {
  return (COMPATIBILITY_POLICIES as readonly string[]).includes(value);
}

type Json = Record<string, unknown>;
export type JsonSchema = Json | boolean;

/** One change from the original schema to the update, at a JSON pointer into the schemas. */
export interface Difference {
  readonly path: string;
  /** Confluent's name for the change (sluice adds FORMAT_*, COMBINED_TYPE_ADDED/REMOVED, UNSUPPORTED_CHANGED). */
  readonly type: string;
  readonly from?: unknown;
  readonly to?: unknown;
}

const COMPATIBLE_STRICT = new Set([
  "TYPE_EXTENDED",
  "MAX_LENGTH_INCREASED", "MAX_LENGTH_REMOVED", "MIN_LENGTH_DECREASED", "MIN_LENGTH_REMOVED", "PATTERN_REMOVED", "FORMAT_REMOVED",
  "MAXIMUM_INCREASED", "MAXIMUM_REMOVED", "MINIMUM_DECREASED", "MINIMUM_REMOVED",
  "EXCLUSIVE_MAXIMUM_INCREASED", "EXCLUSIVE_MAXIMUM_REMOVED", "EXCLUSIVE_MINIMUM_DECREASED", "EXCLUSIVE_MINIMUM_REMOVED",
  "MULTIPLE_OF_REMOVED",
  "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED", "REQUIRED_ATTRIBUTE_REMOVED",
  "ADDITIONAL_PROPERTIES_ADDED", "ADDITIONAL_PROPERTIES_EXTENDED",
  "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL",
  "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_CLOSED_CONTENT_MODEL", "OPTIONAL_PROPERTY_ADDED_TO_CLOSED_CONTENT_MODEL",
  "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL",
  "ENUM_ARRAY_EXTENDED", "COMBINED_TYPE_EXTENDED", "COMBINED_TYPE_REMOVED",
]);
const COMPATIBLE_LENIENT = new Set([
  ...COMPATIBLE_STRICT,
  "ADDITIONAL_PROPERTIES_NARROWED", "ADDITIONAL_PROPERTIES_REMOVED",
  "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL",
  "OPTIONAL_PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL",
]);

export function isCompatibleChange(type: string, policy: CompatibilityPolicy): boolean {
  return (policy === "strict" ? COMPATIBLE_STRICT : COMPATIBLE_LENIENT).has(type);
}

const IGNORED = new Set(["$schema", "$id", "$comment", "title", "description", "default", "examples"]);
const HANDLED = new Set([
  ...IGNORED, "type", "maxLength", "minLength", "pattern", "format", "maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum",
  "multipleOf", "enum", "const", "properties", "required", "additionalProperties", "anyOf",
]);

function node(schema: unknown): Json {
  if (schema === true || schema === undefined) return {};
  if (schema === false) return { not: {} };
  return schema as Json;
}

function types(s: Json): Set<string> | undefined {
  if (s.type === undefined) return undefined;
  return new Set(Array.isArray(s.type) ? (s.type as string[]) : [s.type as string]);
}

/** Whether every value of type `t` is a value of one of `set` (integers are numbers). */
function covered(t: string, set: Set<string>): boolean {
  return set.has(t) || (t === "integer" && set.has("number"));
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function enumOf(s: Json): unknown[] | undefined {
  if (Array.isArray(s.enum)) return s.enum;
  if ("const" in s) return [s.const];
  return undefined;
}

function isEmptySchema(schema: unknown): boolean {
  return schema === true || (typeof schema === "object" && schema !== null && Object.keys(schema).every((k) => IGNORED.has(k)));
}

function isOpen(s: Json): boolean {
  return s.additionalProperties !== false;
}

function hasDefault(schema: unknown): boolean {
  return typeof schema === "object" && schema !== null && "default" in schema;
}

function isObjectSchema(s: Json): boolean {
  return "properties" in s || "required" in s || "additionalProperties" in s;
}

const UPPER = (key: string) => key.replace(/([A-Z])/g, "_$1").toUpperCase();

/** Lists what changed from `original` to `update`; see {@link isCompatibleChange} for which changes break. */
export function diffSchemas(original: JsonSchema, update: JsonSchema, policy: CompatibilityPolicy = "lenient", path = "#"): Difference[] {
  const out: Difference[] = [];
  const o = node(original);
  const u = node(update);
  const add = (at: string, type: string, from?: unknown, to?: unknown) => out.push({ path: at, type, from, to });

  const ot = types(o);
  const ut = types(u);
  if (ot && !ut) add(`${path}/type`, "TYPE_EXTENDED", [...ot], "any");
  else if (!ot && ut) add(`${path}/type`, "TYPE_NARROWED", "any", [...ut]);
  else if (ot && ut && !same([...ot].sort(), [...ut].sort())) {
    const widened = [...ot].every((t) => covered(t, ut));
    const narrowed = [...ut].every((t) => covered(t, ot));
    add(`${path}/type`, widened ? "TYPE_EXTENDED" : narrowed ? "TYPE_NARROWED" : "TYPE_CHANGED", [...ot], [...ut]);
  }

  // Bounds are reported by direction; whether a direction breaks readers is the rule table's call.
  for (const key of ["maxLength", "minLength", "maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum"] as const) {
    const a = o[key] as number | undefined;
    const b = u[key] as number | undefined;
    if (a === b) continue;
    const name = UPPER(key);
    if (a === undefined) add(`${path}/${key}`, `${name}_ADDED`, a, b);
    else if (b === undefined) add(`${path}/${key}`, `${name}_REMOVED`, a, b);
    else add(`${path}/${key}`, `${name}_${(b > a) ? "INCREASED" : "DECREASED"}`, a, b);
  }
  if (o.multipleOf !== u.multipleOf) {
    const a = o.multipleOf as number | undefined;
    const b = u.multipleOf as number | undefined;
    const type = a === undefined ? "MULTIPLE_OF_ADDED" : b === undefined ? "MULTIPLE_OF_REMOVED" : "MULTIPLE_OF_CHANGED";
    add(`${path}/multipleOf`, type, a, b);
  }
  for (const key of ["pattern", "format"] as const) {
    if (o[key] === u[key]) continue;
    const name = UPPER(key);
    add(`${path}/${key}`, o[key] === undefined ? `${name}_ADDED` : u[key] === undefined ? `${name}_REMOVED` : `${name}_CHANGED`, o[key], u[key]);
  }

  const oe = enumOf(o);
  const ue = enumOf(u);
  if (oe || ue) {
    if (!ue) add(`${path}/enum`, "ENUM_ARRAY_EXTENDED", oe, "any");
    else if (!oe) add(`${path}/enum`, "ENUM_ARRAY_NARROWED", "any", ue);
    else if (!same(oe, ue)) {
      const has = (list: unknown[], v: unknown) => list.some((x) => same(x, v));
      const widened = oe.every((v) => has(ue, v));
      const narrowed = ue.every((v) => has(oe, v));
      add(`${path}/enum`, widened ? "ENUM_ARRAY_EXTENDED" : narrowed ? "ENUM_ARRAY_NARROWED" : "ENUM_ARRAY_CHANGED", oe, ue);
    }
  }

  if (isObjectSchema(o) || isObjectSchema(u)) diffObject(o, u, policy, path, add);
  diffAnyOf(o, u, policy, path, add);

  for (const key of new Set([...Object.keys(o), ...Object.keys(u)])) {
    if (HANDLED.has(key) || key.startsWith("x-")) continue;
    if (!same(o[key], u[key])) add(`${path}/${key}`, "UNSUPPORTED_CHANGED", o[key], u[key]);
  }
  return out;
}

function diffObject(o: Json, u: Json, policy: CompatibilityPolicy, path: string, add: (at: string, type: string, from?: unknown, to?: unknown) => void): void {
  const op = (o.properties ?? {}) as Record<string, unknown>;
  const up = (u.properties ?? {}) as Record<string, unknown>;
  const oreq = new Set((o.required ?? []) as string[]);
  const ureq = new Set((u.required ?? []) as string[]);

  for (const key of Object.keys(op)) {
    if (!(key in up)) continue;
    const at = `${path}/required/${key}`;
    if (oreq.has(key) && !ureq.has(key)) add(at, "REQUIRED_ATTRIBUTE_REMOVED", true, false);
    else if (!oreq.has(key) && ureq.has(key)) add(at, hasDefault(up[key]) ? "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED" : "REQUIRED_ATTRIBUTE_ADDED", false, true);
  }
  // A required name without a property schema (the anyOf branches of iot) is a constraint of its own.
  for (const key of ureq) if (!oreq.has(key) && !(key in op) && !(key in up)) add(`${path}/required/${key}`, "REQUIRED_ATTRIBUTE_ADDED", false, true);
  for (const key of oreq) if (!ureq.has(key) && !(key in op) && !(key in up)) add(`${path}/required/${key}`, "REQUIRED_ATTRIBUTE_REMOVED", true, false);

  for (const key of new Set([...Object.keys(op), ...Object.keys(up)])) {
    const at = `${path}/properties/${key}`;
    if (!(key in up)) {
      if (isOpen(u)) add(at, "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL", op[key], undefined);
      else add(at, oreq.has(key) ? "REQUIRED_PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL" : "OPTIONAL_PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", op[key], undefined);
    } else if (!(key in op)) {
      const required = ureq.has(key);
      const kind = required ? (hasDefault(up[key]) ? "REQUIRED_PROPERTY_WITH_DEFAULT" : "REQUIRED_PROPERTY") : "OPTIONAL_PROPERTY";
      if (isOpen(o)) add(at, isEmptySchema(up[key]) && !required ? "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL" : `${kind}_ADDED_TO_OPEN_CONTENT_MODEL`, undefined, up[key]);
      else add(at, `${kind}_ADDED_TO_CLOSED_CONTENT_MODEL`, undefined, up[key]);
    } else {
      for (const d of diffSchemas(op[key] as JsonSchema, up[key] as JsonSchema, policy, at)) add(d.path, d.type, d.from, d.to);
    }
  }

  const oa = o.additionalProperties;
  const ua = u.additionalProperties;
  const at = `${path}/additionalProperties`;
  if (isOpen(o) !== isOpen(u)) add(at, isOpen(u) ? "ADDITIONAL_PROPERTIES_ADDED" : "ADDITIONAL_PROPERTIES_REMOVED", oa, ua);
  else if (typeof oa !== "object" && typeof ua === "object") add(at, "ADDITIONAL_PROPERTIES_NARROWED", oa, ua);
  else if (typeof oa === "object" && typeof ua !== "object") add(at, "ADDITIONAL_PROPERTIES_EXTENDED", oa, ua);
  else if (typeof oa === "object" && typeof ua === "object") for (const d of diffSchemas(oa as JsonSchema, ua as JsonSchema, policy, at)) add(d.path, d.type, d.from, d.to);
}

/**
 * anyOf: every branch of the original must be read by some branch of the update (then the update
 * accepts all the original did); an added anyOf is a new constraint, a removed one lifts it.
 */
function diffAnyOf(o: Json, u: Json, policy: CompatibilityPolicy, path: string, add: (at: string, type: string, from?: unknown, to?: unknown) => void): void {
  const oa = o.anyOf as JsonSchema[] | undefined;
  const ua = u.anyOf as JsonSchema[] | undefined;
  if (!oa && !ua) return;
  const at = `${path}/anyOf`;
  if (!ua) return add(at, "COMBINED_TYPE_REMOVED", oa, undefined);
  if (!oa) return add(at, "COMBINED_TYPE_ADDED", undefined, ua);
  const unmatched = oa.filter((branch) => !ua.some((candidate) => diffSchemas(branch, candidate, policy).every((d) => isCompatibleChange(d.type, policy))));
  if (unmatched.length) add(at, "COMBINED_TYPE_SUBSCHEMAS_CHANGED", unmatched, ua);
  else if (!same(oa, ua)) add(at, "COMBINED_TYPE_EXTENDED", oa, ua);
}

/** One change that breaks the checked direction, told for people. */
export interface Incompatibility extends Difference {
  /** The direction it breaks: `backward` (new readers, old data) or `forward` (old readers, new data). */
  readonly direction: "backward" | "forward";
  /** Which field, what changed and why it breaks readers or writers. */
  readonly message: string;
}

export interface CompatibilityReport {
  readonly compatible: boolean;
  readonly mode: CompatibilityMode;
  readonly policy: CompatibilityPolicy;
  readonly previousVersion: number;
  readonly version: number;
  readonly incompatibilities: readonly Incompatibility[];
  /** Every change found, compatible or not, from the previous version to the new one. */
  readonly changes: readonly Difference[];
}

function show(v: unknown): string {
  if (v === undefined) return "nothing";
  const text = JSON.stringify(v);
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}

/** The field a JSON pointer into a schema names, e.g. `#/properties/lat/maximum` → `lat`. */
export function fieldOf(path: string): string {
  const parts = path.split("/").slice(1);
  const names: string[] = [];
  for (let i = 0; i < parts.length; i++) if ((parts[i] === "properties" || parts[i] === "required") && parts[i + 1] !== undefined) names.push(parts[++i]);
  return names.length ? names.join(".") : "(whole payload)";
}

/** What the change does to data, with the writer's schema as `writer` and the reader's as `reader`. */
function why(d: Difference, writer: string, reader: string): string {
  const t = d.type;
  if (t.startsWith("TYPE_")) return `type ${show(d.from)} became ${show(d.to)}: a value of a type ${writer} allows is refused by ${reader}`;
  if (/_(ADDED|DECREASED|INCREASED|CHANGED)$/.test(t) && /^(MAX|MIN|EXCLUSIVE|MAXIMUM|MINIMUM|PATTERN|FORMAT|MULTIPLE)/.test(t)) {
    const key = d.path.split("/").pop();
    return `${key} ${show(d.from)} became ${show(d.to)} in ${reader}: values ${writer} accepts can fall outside it`;
  }
  if (t.startsWith("ENUM_")) return `allowed values ${show(d.from)} became ${show(d.to)}: ${writer} allows a value ${reader} refuses`;
  if (t === "REQUIRED_ATTRIBUTE_ADDED") return `${reader} requires it, ${writer} does not: data without it is refused (give it a default or keep it optional)`;
  if (t.startsWith("REQUIRED_PROPERTY") && t.includes("_ADDED_")) return `${reader} adds it as required: data written with ${writer} lacks it (make it optional or give it a default)`;
  if (t.includes("PROPERTY_ADDED_TO_OPEN") || t === "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL") return `${reader} adds it with a type, and ${writer} is open, so its data may already carry it with any value (policy strict)`;
  if (t.includes("REMOVED_FROM_CLOSED")) return `${reader} no longer lists it and refuses unknown fields, but ${writer}'s data carries it`;
  if (t === "ADDITIONAL_PROPERTIES_REMOVED" || t === "ADDITIONAL_PROPERTIES_NARROWED") return `${reader} refuses or constrains unknown fields that ${writer} allowed`;
  if (t === "COMBINED_TYPE_ADDED") return `${reader} adds an anyOf: ${writer}'s data need not match any of its branches`;
  if (t === "COMBINED_TYPE_SUBSCHEMAS_CHANGED") return `anyOf branch(es) ${show(d.from)} of ${writer} have no counterpart in ${reader}`;
  if (t === "UNSUPPORTED_CHANGED") return `keyword changed from ${show(d.from)} to ${show(d.to)}; sluice cannot prove this compatible (use mode none to register anyway)`;
  return `changed from ${show(d.from)} to ${show(d.to)}`;
}

/**
 * Checks `next` (to become `version`) against `previous` (`previousVersion`) under `mode`.
 *
 * @example
 * const r = checkCompatibility(v1, v2, { mode: "backward", previousVersion: 1, version: 2 });
 * if (!r.compatible) console.log(formatReport("iot", r));
 */
export function checkCompatibility(
  previous: JsonSchema,
  next: JsonSchema,
  opts: { mode: CompatibilityMode; policy?: CompatibilityPolicy; previousVersion: number; version: number },
): CompatibilityReport {
  const policy = opts.policy ?? "lenient";
  const older = `v${opts.previousVersion}`;
  const newer = `v${opts.version}`;
  const changes = diffSchemas(previous, next, policy);
  const incompatibilities: Incompatibility[] = [];
  if (opts.mode === "backward" || opts.mode === "full") {
    for (const d of changes.filter((c) => !isCompatibleChange(c.type, policy))) {
      incompatibilities.push({ ...d, direction: "backward", message: `${fieldOf(d.path)}: ${why(d, older, newer)}; consumers on ${newer} cannot read what ${older} producers wrote` });
    }
  }
  if (opts.mode === "forward" || opts.mode === "full") {
    for (const d of diffSchemas(next, previous, policy).filter((c) => !isCompatibleChange(c.type, policy))) {
      incompatibilities.push({ ...d, direction: "forward", message: `${fieldOf(d.path)}: ${why(d, newer, older)}; consumers still on ${older} cannot read what ${newer} producers write` });
    }
  }
  return { compatible: incompatibilities.length === 0, mode: opts.mode, policy, previousVersion: opts.previousVersion, version: opts.version, incompatibilities, changes };
}

/** The report as lines for a terminal: verdict, then each breaking change with field, change and reason. */
export function formatReport(source: string, r: CompatibilityReport): string {
  const head = r.compatible
    ? `${source} v${r.version} is ${r.mode === "none" ? "registered without a check (mode none)" : `${r.mode} compatible with v${r.previousVersion}`} (policy ${r.policy})`
    : `${source} v${r.version} is NOT ${r.mode} compatible with v${r.previousVersion} (policy ${r.policy}):`;
  const lines = [head];
  for (const i of r.incompatibilities) lines.push(`  ✗ [${i.direction}] ${i.path} ${i.type}`, `      ${i.message}`);
  const compatible = r.changes.filter((c) => isCompatibleChange(c.type, r.policy));
  if (compatible.length) {
    lines.push("  compatible changes:");
    for (const c of compatible) lines.push(`  ✓ ${c.path} ${c.type}${c.to !== undefined && typeof c.to !== "object" ? ` (${show(c.to)})` : ""}`);
  }
  return lines.join("\n");
}
