/**
 * Upcasts: how a payload written with version N-1 of a source's schema becomes a payload of
 * version N. A schema declares its upcast from the version before it in `x-sluice-upcast`, an
 * array of steps applied in order, so a version registered at runtime carries its own migration:
 *
 * ```json
 * "x-sluice-upcast": [
 *   { "op": "rename", "from": "temp_f", "to": "temperature" },
 *   { "op": "unit", "field": "temperature", "from": "fahrenheit", "to": "celsius" },
 *   { "op": "split", "from": "location", "into": ["lat", "lon"], "separator": ",", "as": "number" },
 *   { "op": "default", "field": "site", "value": "unknown" }
 * ]
 * ```
 *
 * The validate actor applies every step from the written version up to the current one, then
 * checks the result against the current schema, so downstream sees one shape.
 */

export type UpcastStep =
  | { readonly op: "rename"; readonly from: string; readonly to: string }
  | { readonly op: "default"; readonly field: string; readonly value: unknown }
  | { readonly op: "split"; readonly from: string; readonly into: readonly string[]; readonly separator: string; readonly as?: "string" | "number" }
  | { readonly op: "unit"; readonly field: string; readonly from: string; readonly to: string };

export const UPCAST_KEYWORD = "x-sluice-upcast";

/** Linear conversions `to = from * scale + offset`, by "from→to". */
const UNITS: Record<string, { scale: number; offset: number }> = {
  "fahrenheit→celsius": { scale: 5 / 9, offset: -160 / 9 },
  "celsius→fahrenheit": { scale: 9 / 5, offset: 32 },
  "kelvin→celsius": { scale: 1, offset: -273.15 },
  "celsius→kelvin": { scale: 1, offset: 273.15 },
  "millivolt→volt": { scale: 1e-3, offset: 0 },
  "volt→millivolt": { scale: 1e3, offset: 0 },
  "pascal→hectopascal": { scale: 1e-2, offset: 0 },
  "kilopascal→hectopascal": { scale: 10, offset: 0 },
  "millisecond→second": { scale: 1e-3, offset: 0 },
  "second→millisecond": { scale: 1e3, offset: 0 },
  "cents→units": { scale: 1e-2, offset: 0 },
  "units→cents": { scale: 1e2, offset: 0 },
};

export const KNOWN_UNIT_CONVERSIONS: readonly string[] = Object.keys(UNITS);

/** A declared upcast that cannot run; says which step and what to write instead. */
export class UpcastDeclarationError extends Error {
  readonly step: number;
  constructor(step: number, message: string) {
    super(`${UPCAST_KEYWORD}[${step}]: ${message}`);
    this.name = "UpcastDeclarationError";
    this.step = step;
  }
}

const isName = (v: unknown): v is string => typeof v === "string" && v.length > 0;

/** Reads and checks the steps a schema declares; an absent keyword is no steps (the payload carries over). */
export function upcastSteps(schema: unknown): UpcastStep[] {
  if (typeof schema !== "object" || schema === null) return [];
  const declared = (schema as Record<string, unknown>)[UPCAST_KEYWORD];
  if (declared === undefined) return [];
  if (!Array.isArray(declared)) throw new UpcastDeclarationError(0, "must be an array of steps");
  return declared.map((raw, i) => {
    const step = raw as Record<string, unknown>;
    switch (step?.op) {
      case "rename":
        if (!isName(step.from) || !isName(step.to)) throw new UpcastDeclarationError(i, `rename needs "from" and "to" field names, e.g. {"op":"rename","from":"temp","to":"temperature"}`);
        return { op: "rename", from: step.from, to: step.to };
      case "default":
        if (!isName(step.field) || !("value" in step)) throw new UpcastDeclarationError(i, `default needs "field" and "value", e.g. {"op":"default","field":"site","value":"unknown"}`);
        return { op: "default", field: step.field, value: step.value };
      case "split": {
        const into = step.into;
        if (!isName(step.from) || !Array.isArray(into) || into.length < 2 || !into.every(isName) || typeof step.separator !== "string" || step.separator === "") {
          throw new UpcastDeclarationError(i, `split needs "from", "into" (two or more names) and a non-empty "separator", e.g. {"op":"split","from":"location","into":["lat","lon"],"separator":","}`);
        }
        if (step.as !== undefined && step.as !== "string" && step.as !== "number") throw new UpcastDeclarationError(i, `split "as" must be "string" or "number", got ${JSON.stringify(step.as)}`);
        return { op: "split", from: step.from, into: into as string[], separator: step.separator, as: step.as as "string" | "number" | undefined };
      }
      case "unit":
        if (!isName(step.field) || !isName(step.from) || !isName(step.to)) throw new UpcastDeclarationError(i, `unit needs "field", "from" and "to", e.g. {"op":"unit","field":"temperature","from":"fahrenheit","to":"celsius"}`);
        if (!UNITS[`${step.from}→${step.to}`]) throw new UpcastDeclarationError(i, `no conversion from ${step.from} to ${step.to}; known: ${KNOWN_UNIT_CONVERSIONS.join(", ")}`);
        return { op: "unit", field: step.field, from: step.from, to: step.to };
      default:
        throw new UpcastDeclarationError(i, `unknown op ${JSON.stringify(step?.op)}; expected rename, default, split or unit`);
    }
  });
}

/** A payload an upcast step cannot convert (a split field that does not split, a unit field that is no number). */
export class UpcastError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.name = "UpcastError";
    this.field = field;
  }
}

/** Applies steps to a copy of the payload; the input is not changed. */
export function applyUpcast(steps: readonly UpcastStep[], payload: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...payload };
  for (const step of steps) {
    switch (step.op) {
      case "rename":
        if (step.from in out) {
          if (!(step.to in out)) out[step.to] = out[step.from];
          delete out[step.from];
        }
        break;
      case "default":
        if (out[step.field] === undefined || out[step.field] === null) out[step.field] = step.value;
        break;
      case "split": {
        const value = out[step.from];
        if (value === undefined) break;
        if (typeof value !== "string") throw new UpcastError(step.from, `/${step.from}: expected a string to split on ${JSON.stringify(step.separator)}, got ${JSON.stringify(value)}`);
        const parts = value.split(step.separator).map((p) => p.trim());
        if (parts.length !== step.into.length) {
          throw new UpcastError(step.from, `/${step.from}: ${JSON.stringify(value)} splits into ${parts.length} parts on ${JSON.stringify(step.separator)}, expected ${step.into.length} (${step.into.join(", ")})`);
        }
        step.into.forEach((name, i) => {
          const part = step.as === "number" ? Number(parts[i]) : parts[i];
          if (typeof part === "number" && (parts[i] === "" || !Number.isFinite(part))) throw new UpcastError(step.from, `/${step.from}: part ${i + 1} ${JSON.stringify(parts[i])} is not a number`);
          out[name] = part;
        });
        delete out[step.from];
        break;
      }
      case "unit": {
        const value = out[step.field];
        if (value === undefined || value === null) break;
        if (typeof value !== "number") throw new UpcastError(step.field, `/${step.field}: expected a number in ${step.from}, got ${JSON.stringify(value)}`);
        const { scale, offset } = UNITS[`${step.from}→${step.to}`];
        out[step.field] = Math.round((value * scale + offset) * 1e9) / 1e9;
        break;
      }
    }
  }
  return out;
}
