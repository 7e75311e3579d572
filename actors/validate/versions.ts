import type { ValidateFunction } from "ajv";
import { HEADERS } from "../../subjects/catalog.ts";
import { createAjv } from "../../subjects/registry/ajv.ts";
import { PII_FIELDS, SCHEMAS_V1 } from "../../subjects/schemas/index.ts";
import { PII_KEYWORD } from "../../pii/index.ts";
import { applyUpcast, upcastSteps, type UpcastStep } from "../../subjects/schemas/migrations.ts";
import type { Source } from "../../subjects/sources.ts";

/**
 * Where the validator reads schemas: the registry (`SchemaRegistry` fits) or, without one, the
 * v1 schemas shipped in `subjects/schemas/`. `revision` changes whenever a version's document does.
 */
export interface SchemaSource {
  current(source: Source): number;
  versions(source: Source): number[];
  get(source: Source, version: number): { readonly schema: object; readonly revision: number } | undefined;
}

/** The v1 schemas as a source with one version each; what the validator uses without a registry. */
export const BUILT_IN_SCHEMAS: SchemaSource = {
  current: () => 1,
  versions: () => [1],
  get: (source, version) => (version === 1 ? { schema: SCHEMAS_V1[source], revision: 0 } : undefined),
};

export interface CompiledVersion {
  readonly version: number;
  readonly validate: ValidateFunction;
  /** How data of the version before becomes data of this one. */
  readonly steps: readonly UpcastStep[];
}

/** Compiles each (source, version) once per document revision, so a newly registered version is used at once. */
export function compiledVersions(schemas: SchemaSource): (source: Source, version: number) => CompiledVersion | undefined {
  const ajv = createAjv();
  const cache = new Map<string, { revision: number; compiled: CompiledVersion }>();
  return (source, version) => {
    const entry = schemas.get(source, version);
    if (!entry) return undefined;
    const key = `${source}:${version}`;
    const hit = cache.get(key);
    if (hit && hit.revision === entry.revision) return hit.compiled;
    // The registry checked the document when it was added; `$id`s repeat across sources' copies, so compile without registering them.
    const { $id: _id, ...schema } = entry.schema as Record<string, unknown>;
    const compiled = { version, validate: ajv.compile(schema), steps: upcastSteps(entry.schema) };
    cache.set(key, { revision: entry.revision, compiled });
    return compiled;
  };
}

export type StatedVersion = { readonly version: number | undefined; readonly from: "header" | "payload" | "default" } | { readonly error: string; readonly code: string };

function parseVersion(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) && value > 0 ? value : undefined;
  if (typeof value === "string" && /^v?[1-9][0-9]{0,8}$/i.test(value.trim())) return Number(value.trim().replace(/^v/i, ""));
  return undefined;
}

/**
 * The version a producer says it wrote: the `Sluice-Schema-Version` header wins over the payload's
 * `schema_version`, since the header is the transport's metadata and needs no parse of the body;
 * both present and different is refused rather than guessed. Neither means the current version.
 */
export function statedVersion(headers: ReadonlyMap<string, string>, payload: Readonly<Record<string, unknown>>): StatedVersion {
  const header = headers.get(HEADERS.schemaVersion);
  const field = payload.schema_version;
  const fromHeader = header === undefined ? undefined : parseVersion(header);
  const fromPayload = field === undefined ? undefined : parseVersion(field);
  if (header !== undefined && fromHeader === undefined) return { code: "unknown_schema_version", error: `header ${HEADERS.schemaVersion} ${JSON.stringify(header)} is no schema version; expected a whole number such as 2` };
  if (field !== undefined && fromPayload === undefined) return { code: "unknown_schema_version", error: `/schema_version ${JSON.stringify(field)} is no schema version; expected a whole number such as 2` };
  if (fromHeader !== undefined && fromPayload !== undefined && fromHeader !== fromPayload) {
    return { code: "schema_version_conflict", error: `header ${HEADERS.schemaVersion} says v${fromHeader} but /schema_version says v${fromPayload}; send one, or the same in both` };
  }
  if (fromHeader !== undefined) return { version: fromHeader, from: "header" };
  if (fromPayload !== undefined) return { version: fromPayload, from: "payload" };
  return { version: undefined, from: "default" };
}

/** Upcasts `payload` from `from` to `to` through each version's declared steps. */
export function upcast(compiled: (version: number) => CompiledVersion | undefined, payload: Record<string, unknown>, from: number, to: number): Record<string, unknown> {
  let out = payload;
  for (let v = from + 1; v <= to; v++) out = applyUpcast(compiled(v)?.steps ?? [], out);
  return out;
}

function isMarked(property: unknown): boolean {
  return property !== null && typeof property === "object" && (PII_KEYWORD in property || (property as { $comment?: unknown }).$comment === "pii");
}

/**
 * The fields of a source whose values a rejection never shows (reasons reach DLQ headers, logs,
 * spans and sluice.dead_letters): those marked `x-sluice-pii` (or `"$comment": "pii"`) in any
 * registered version, the shipped ones, and the field a split upcast reads when a part it writes
 * is marked. Re-read when a version is registered; asked for on rejections only.
 */
export function personalFields(schemas: SchemaSource): (source: Source) => ReadonlySet<string> {
  const cache = new Map<Source, { key: string; fields: ReadonlySet<string> }>();
  return (source) => {
    const versions = schemas.versions(source);
    const key = versions.map((v) => `${v}:${schemas.get(source, v)?.revision}`).join(",");
    const hit = cache.get(source);
    if (hit?.key === key) return hit.fields;
    const documents = versions.map((v) => schemas.get(source, v)?.schema as { properties?: Record<string, unknown> } | undefined);
    const fields = new Set(PII_FIELDS[source]);
    for (const doc of documents) for (const [name, property] of Object.entries(doc?.properties ?? {})) if (isMarked(property)) fields.add(name);
    for (const doc of documents) {
      let steps: readonly UpcastStep[] = [];
      try {
        steps = upcastSteps(doc ?? {});
      } catch {
        // The registry refuses such a document; nothing to add.
      }
      for (const step of steps) if (step.op === "split" && step.into.some((f) => fields.has(f))) fields.add(step.from);
    }
    cache.set(source, { key, fields });
    return fields;
  };
}
