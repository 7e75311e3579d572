import { parseDurationMs } from "../config/duration.ts";

/**
 * Data-quality expectations, in the spirit of Great Expectations: declared per source in
 * `subjects/schemas/<source>.expectations.json`, checked by the validate actor on every event the
 * schema accepted. A `reject` expectation dead-letters the event with code `dq_<name>`; a `warn`
 * one keeps it and names it in the event's `Sluice-Dq-Warnings` header. Either way the result is
 * counted per expectation per minute into `sluice.dq_results`.
 *
 * Fields are dot paths into the payload (`geo.lat`) or one of the envelope's own values:
 * `$event_time`, `$ingest_time` (epoch ms), `$key`, `$event_id`.
 */

export type Severity = "reject" | "warn";

interface Base {
  /** Unique within the source; the dead-letter code is `dq_<name>`. Letters, digits, `_`. */
  readonly name: string;
  readonly severity: Severity;
  readonly description?: string;
}

interface OnField extends Base {
  readonly field: string;
}

/** The field is present and not null. */
export interface NotNull extends OnField { readonly kind: "not_null" }
/** A present number lies within [min, max] (either bound may be left out). */
export interface Range extends OnField { readonly kind: "range"; readonly min?: number; readonly max?: number }
/** A present value is one of `values`. */
export interface InSet extends OnField { readonly kind: "in_set"; readonly values: readonly (string | number | boolean)[] }
/** A present string matches `pattern` (JavaScript syntax, unanchored unless it says so). */
export interface Regex extends OnField { readonly kind: "regex"; readonly pattern: string; readonly flags?: string }
/** A present string has between min and max characters (code points). */
export interface Length extends OnField { readonly kind: "length"; readonly min?: number; readonly max?: number }
/**
 * A present value is not seen twice within `window` of ingest time (per source). A redelivery of
 * the same stored message is not a repeat.
 */
export interface Unique extends OnField { readonly kind: "unique"; readonly window: Duration; readonly max_tracked?: number }
/**
 * Per entity key, a present number (or time) never goes down, in stream order; `strict` also
 * refuses an equal value. Redeliveries of earlier messages are not judged again.
 */
export interface Monotonic extends OnField { readonly kind: "monotonic"; readonly strict?: boolean; readonly max_keys?: number }
/** The event time lies no more than `max_age` before and `max_future` after the ingest time. */
export interface Freshness extends Base { readonly kind: "freshness"; readonly max_age?: Duration; readonly max_future?: Duration }
/** Over each run of `rows` accepted events: the share of missing or null values is at most `max`. */
export interface NullRatio extends OnField { readonly kind: "null_ratio"; readonly max: number; readonly rows?: number }
/** Over each run of `rows` accepted events: the mean of the present numbers lies within [min, max]. */
export interface Mean extends OnField { readonly kind: "mean"; readonly min?: number; readonly max?: number; readonly rows?: number }

export type Expectation = NotNull | Range | InSet | Regex | Length | Unique | Monotonic | Freshness | NullRatio | Mean;
export type ExpectationKind = Expectation["kind"];

/** Kinds judged over a run of events rather than one event: they can only warn. */
export const BATCH_KINDS: readonly ExpectationKind[] = ["null_ratio", "mean"];
const KINDS: readonly ExpectationKind[] = ["not_null", "range", "in_set", "regex", "length", "unique", "monotonic", "freshness", "null_ratio", "mean"];

/** `"90s"`, `"15m"`, `"2h"`, `"30d"` or a number of milliseconds. */
export type Duration = string | number;

export interface Suite {
  readonly source: string;
  readonly expectations: readonly Expectation[];
}

/** A declaration that cannot be used; says which source, which expectation and what to write. */
export class ExpectationConfigError extends Error {
  readonly source: string;
  readonly expectation: string;
  constructor(source: string, expectation: string, message: string) {
    super(`expectations of ${source}${expectation ? `, "${expectation}"` : ""}: ${message}`);
    this.name = "ExpectationConfigError";
    this.source = source;
    this.expectation = expectation;
  }
}

/** Milliseconds of a {@link Duration}; undefined when it is no duration. */
export function durationMs(value: Duration | undefined): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value : undefined;
  return typeof value === "string" ? parseDurationMs(value) : undefined;
}

function optionalNumber(raw: Record<string, unknown>, key: string, fail: (m: string) => never): void {
  if (raw[key] !== undefined && (typeof raw[key] !== "number" || !Number.isFinite(raw[key]))) fail(`"${key}" must be a finite number, got ${JSON.stringify(raw[key])}`);
}

/**
 * Checks a declaration as read from JSON and returns it typed; throws
 * {@link ExpectationConfigError} naming the first problem.
 */
export function parseSuite(source: string, raw: unknown): Suite {
  const list = (raw as { expectations?: unknown })?.expectations;
  if (!Array.isArray(list)) throw new ExpectationConfigError(source, "", `expected {"expectations": [ … ]}, got ${JSON.stringify(raw)?.slice(0, 80)}`);
  const names = new Set<string>();
  const expectations = list.map((item, i): Expectation => {
    const e = (item ?? {}) as Record<string, unknown>;
    const name = typeof e.name === "string" ? e.name : `#${i}`;
    const fail = (message: string): never => {
      throw new ExpectationConfigError(source, name, message);
    };
    if (!/^[a-z][a-z0-9_]{0,62}$/.test(name)) fail(`"name" must be lower-case letters, digits and _ (it becomes the dead-letter code dq_<name>)`);
    if (names.has(name)) fail("the name is used twice");
    names.add(name);
    if (!KINDS.includes(e.kind as ExpectationKind)) fail(`"kind" must be one of ${KINDS.join(", ")}, got ${JSON.stringify(e.kind)}`);
    const kind = e.kind as ExpectationKind;
    if (e.severity !== "reject" && e.severity !== "warn") fail(`"severity" must be "reject" or "warn", got ${JSON.stringify(e.severity)}`);
    if (e.severity === "reject" && BATCH_KINDS.includes(kind)) fail(`a ${kind} expectation judges a run of events already passed on, so it can only "warn"`);
    if (kind !== "freshness" && (typeof e.field !== "string" || e.field === "")) fail(`"field" is required: a dot path into the payload or $event_time, $ingest_time, $key, $event_id`);
    for (const key of ["min", "max"]) optionalNumber(e, key, fail);
    if (kind === "in_set" && (!Array.isArray(e.values) || e.values.length === 0)) fail(`"values" must be a non-empty array`);
    if (kind === "regex") {
      try {
        new RegExp(String(e.pattern), typeof e.flags === "string" ? e.flags : "");
      } catch (err) {
        fail(`"pattern" is not a regular expression: ${(err as Error).message}`);
      }
    }
    if (kind === "unique" && durationMs(e.window as Duration) === undefined) fail(`"window" must be a duration such as "10m" or a number of ms`);
    if (kind === "freshness") {
      if (e.max_age === undefined && e.max_future === undefined) fail(`give "max_age", "max_future" or both`);
      for (const key of ["max_age", "max_future"]) if (e[key] !== undefined && durationMs(e[key] as Duration) === undefined) fail(`"${key}" must be a duration such as "30d" or a number of ms`);
    }
    if (kind === "null_ratio" && (typeof e.max !== "number" || e.max < 0 || e.max > 1)) fail(`"max" must be a share from 0 to 1`);
    if ((kind === "null_ratio" || kind === "mean") && e.rows !== undefined && (!Number.isInteger(e.rows) || (e.rows as number) < 1)) fail(`"rows" must be a whole number ≥ 1`);
    return e as unknown as Expectation;
  });
  return Object.freeze({ source, expectations: Object.freeze(expectations) });
}
