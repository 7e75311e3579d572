import type { Envelope } from "../subjects/envelope.ts";
import type { Capabilities } from "./capabilities.ts";
import { TABLES } from "./schema.ts";

/**
 * Pure mappers from pipeline values to rows for JSONEachRow inserts, in the form both engines
 * accept. Times arrive as epoch milliseconds:
 * - DateTime64(3, 'UTC') takes `"YYYY-MM-DD hh:mm:ss.sss"`, read in the column's UTC zone;
 * - DateTime('UTC') on 18.16 takes whole seconds since the epoch (it refuses a fraction in
 *   the string form, and a bare string would be read in the server's zone).
 * Float64 columns take NaN and infinities only as the strings "nan", "inf" and "-inf".
 *
 * Insert with the column lists below (`INSERT INTO t (columns) FORMAT JSONEachRow`): 18.16
 * fills an omitted column with its DEFAULT only when the columns are named, else with zero.
 */

/** A DateTime64(3) string or, on servers without it, whole epoch seconds. */
export type TimeValue = string | number;
/** A Float64 value; non-finite numbers travel as "nan", "inf" or "-inf". */
export type FloatValue = number | "nan" | "inf" | "-inf";

/** A dead letter as the DLQ sink hands it over. `received_at` is epoch ms. */
export interface DeadLetterRow {
  dlq_id: string;
  received_at: number;
  actor: string;
  source: string;
  /** The original subject of the message. */
  subject: string;
  stream: string;
  stream_seq: number;
  deliveries: number;
  reason: string;
  error_code: string;
  /** The original message body; bytes are decoded as UTF-8 (invalid sequences become U+FFFD). */
  payload: string | Uint8Array;
  /** The original message's headers; a key with several values keeps them all. */
  headers: Record<string, string | readonly string[]>;
}

/** The columns of `sluice.window_aggregates` with their time and float representations open. */
interface WindowColumns<Time, Float> {
  window_id: string;
  source: string;
  kind: "tumbling" | "hopping" | "session";
  key: string;
  metric: string;
  window_start: Time;
  window_end: Time;
  count: number;
  sum: Float;
  min: Float;
  max: Float;
  mean: Float;
  stddev: Float;
  p50: Float;
  p95: Float;
  p99: Float;
  /** Higher replaces lower for the same window (ReplacingMergeTree(version)). */
  version: number;
  emitted_at: Time;
}

/**
 * One (window, key, metric) result as the window actor emits it, plus when it was emitted.
 * Times are epoch ms; a null `distinct_count` (nothing counted) is stored as 0.
 */
export interface WindowRow extends WindowColumns<number, number> {
  distinct_count: number | null;
}

export interface EventsInsertRow {
  event_id: string;
  source: string;
  key: string;
  schema_version: number;
  event_time: TimeValue;
  ingest_time: TimeValue;
  payload: string;
  raw_subject: string;
  raw_seq: number;
  trace_id: string;
}

export interface DeadLettersInsertRow extends Omit<DeadLetterRow, "received_at" | "payload" | "headers"> {
  received_at: TimeValue;
  payload: string;
  /** JSON object of the original headers. */
  headers: string;
  trace_id: string;
}

export interface WindowAggregatesInsertRow extends WindowColumns<TimeValue, FloatValue> {
  distinct_count: number;
  trace_id: string;
}

/** Columns to name in each insert; `inserted_at` is left to its DEFAULT. */
export const EVENT_COLUMNS = [
  "event_id", "source", "key", "schema_version", "event_time", "ingest_time", "payload", "raw_subject", "raw_seq", "trace_id",
] as const satisfies readonly (keyof EventsInsertRow)[];

export const DEAD_LETTER_COLUMNS = [
  "dlq_id", "received_at", "actor", "source", "subject", "stream", "stream_seq", "deliveries", "reason", "error_code", "payload", "headers", "trace_id",
] as const satisfies readonly (keyof DeadLettersInsertRow)[];

export const WINDOW_COLUMNS = [
  "window_id", "source", "kind", "key", "metric", "window_start", "window_end", "count", "sum", "min", "max", "mean", "stddev",
  "p50", "p95", "p99", "distinct_count", "version", "emitted_at", "trace_id",
] as const satisfies readonly (keyof WindowAggregatesInsertRow)[];

/** A value that cannot become a column value; names the table, the field, what was expected and what came. */
export class RowMappingError extends Error {
  override name = "RowMappingError";
  readonly table: string;
  readonly field: string;
  constructor(table: string, field: string, expected: string, got: unknown) {
    super(`${table}.${field}: expected ${expected}, got ${describe(got)}`);
    this.table = table;
    this.field = field;
  }
}

function describe(value: unknown): string {
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  return value === null ? "null" : typeof value;
}

const MAX_DATETIME_SECONDS = 4_294_967_295;

/** Formats epoch ms for the table's time columns: DateTime64(3) text, or whole seconds for DateTime. */
export function timeValue(ms: number, caps: Pick<Capabilities, "dateTime64">, table: string, field: string): TimeValue {
  if (typeof ms !== "number" || !Number.isFinite(ms)) throw new RowMappingError(table, field, "epoch milliseconds (a finite number)", ms);
  if (!caps.dateTime64) {
    const seconds = Math.floor(ms / 1000);
    if (seconds < 0 || seconds > MAX_DATETIME_SECONDS) throw new RowMappingError(table, field, "a time between 1970 and 2106 (DateTime range)", ms);
    return seconds;
  }
  const date = new Date(Math.floor(ms));
  const year = date.getUTCFullYear();
  if (year < 1900 || year > 2299) throw new RowMappingError(table, field, "a time between 1900 and 2299 (DateTime64 range)", ms);
  return date.toISOString().replace("T", " ").replace("Z", "");
}

function float(value: number, table: string, field: string): FloatValue {
  if (typeof value !== "number") throw new RowMappingError(table, field, "a number", value);
  if (Number.isNaN(value)) return "nan";
  if (value === Infinity) return "inf";
  if (value === -Infinity) return "-inf";
  return value;
}

function unsigned(value: number, max: number, table: string, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0 || value > max) throw new RowMappingError(table, field, `a whole number from 0 to ${max}`, value);
  return value;
}

const UINT16 = 65_535;
const UINT32 = 4_294_967_295;
const UINT64_SAFE = Number.MAX_SAFE_INTEGER;
const utf8 = new TextDecoder("utf-8");

/** An envelope from the EVENTS stream as a `sluice.events` row. */
export function eventRow(envelope: Envelope, traceId: string, caps: Capabilities): EventsInsertRow {
  const table = TABLES.events;
  return {
    event_id: envelope.event_id,
    source: envelope.source,
    key: envelope.key,
    schema_version: unsigned(envelope.schema_version, UINT16, table, "schema_version"),
    event_time: timeValue(envelope.event_time, caps, table, "event_time"),
    ingest_time: timeValue(envelope.ingest_time, caps, table, "ingest_time"),
    payload: JSON.stringify(envelope.payload),
    raw_subject: envelope.raw_subject,
    raw_seq: unsigned(envelope.raw_seq, UINT64_SAFE, table, "raw_seq"),
    trace_id: traceId,
  };
}

/** A dead letter as a `sluice.dead_letters` row; headers become one JSON object. */
export function deadLetterRow(dead: DeadLetterRow, traceId: string, caps: Capabilities): DeadLettersInsertRow {
  const table = TABLES.dead_letters;
  return {
    dlq_id: dead.dlq_id,
    received_at: timeValue(dead.received_at, caps, table, "received_at"),
    actor: dead.actor,
    source: dead.source,
    subject: dead.subject,
    stream: dead.stream,
    stream_seq: unsigned(dead.stream_seq, UINT64_SAFE, table, "stream_seq"),
    deliveries: unsigned(dead.deliveries, UINT32, table, "deliveries"),
    reason: dead.reason,
    error_code: dead.error_code,
    payload: typeof dead.payload === "string" ? dead.payload : utf8.decode(dead.payload),
    headers: JSON.stringify(dead.headers),
    trace_id: traceId,
  };
}

/** A window's aggregates as a `sluice.window_aggregates` row. */
export function windowRow(window: WindowRow, traceId: string, caps: Capabilities): WindowAggregatesInsertRow {
  const table = TABLES.window_aggregates;
  return {
    window_id: window.window_id,
    source: window.source,
    kind: window.kind,
    key: window.key,
    metric: window.metric,
    window_start: timeValue(window.window_start, caps, table, "window_start"),
    window_end: timeValue(window.window_end, caps, table, "window_end"),
    count: unsigned(window.count, UINT64_SAFE, table, "count"),
    sum: float(window.sum, table, "sum"),
    min: float(window.min, table, "min"),
    max: float(window.max, table, "max"),
    mean: float(window.mean, table, "mean"),
    stddev: float(window.stddev, table, "stddev"),
    p50: float(window.p50, table, "p50"),
    p95: float(window.p95, table, "p95"),
    p99: float(window.p99, table, "p99"),
    distinct_count: unsigned(window.distinct_count ?? 0, UINT64_SAFE, table, "distinct_count"),
    version: unsigned(window.version, UINT64_SAFE, table, "version"),
    emitted_at: timeValue(window.emitted_at, caps, table, "emitted_at"),
    trace_id: traceId,
  };
}
