import type { Capabilities } from "./capabilities.ts";
import { TABLES } from "./schema.ts";
import { RowMappingError, timeValue, type FloatValue, type TimeValue } from "./rows.ts";

/**
 * One anomaly as the detect actor publishes it on `alerts.<source>.<severity>`: the event it
 * was found in, what was expected and what was seen. Times are epoch ms.
 *
 * @example
 * const a: AnomalyRecord = {
 *   event_id: "gen-1-42", source: "iot", key: "sensor-7", metric: "temperature", score: 0.93,
 *   severity: "high", signal: "novel-pattern/1", explanation: { context: "level" },
 *   expected_low: 18.2, expected_high: 22.9, observed: 35.1, event_time: 1764284400000,
 *   detected_at: 1764284400150,
 * };
 */
export interface AnomalyRecord {
  event_id: string;
  source: string;
  key: string;
  metric: string;
  score: number;
  severity: string;
  signal: string;
  explanation: Record<string, unknown>;
  /** -Infinity / Infinity for a side the signal leaves open (velocity has no upper bound). */
  expected_low: number;
  expected_high: number;
  observed: number;
  event_time: number;
  detected_at: number;
}

export interface AnomaliesInsertRow {
  event_id: string;
  trace_id: string;
  source: string;
  key: string;
  metric: string;
  score: FloatValue;
  severity: string;
  signal: string;
  explanation: string;
  expected_low: FloatValue;
  expected_high: FloatValue;
  observed: FloatValue;
  event_time: TimeValue;
  detected_at: TimeValue;
}

/** One forecast point of one series, `step` steps after `made_at`. */
export interface ForecastRecord {
  series: string;
  source: string;
  key: string;
  metric: string;
  made_at: number;
  target_time: number;
  step: number;
  mean: number;
  lower: number;
  upper: number;
  level: number;
  model: string;
}

export interface ForecastsInsertRow extends Omit<ForecastRecord, "made_at" | "target_time" | "mean" | "lower" | "upper" | "level"> {
  made_at: TimeValue;
  target_time: TimeValue;
  mean: FloatValue;
  lower: FloatValue;
  upper: FloatValue;
  level: FloatValue;
  trace_id: string;
}

export const ANOMALY_COLUMNS = [
  "event_id", "trace_id", "source", "key", "metric", "score", "severity", "signal", "explanation",
  "expected_low", "expected_high", "observed", "event_time", "detected_at",
] as const satisfies readonly (keyof AnomaliesInsertRow)[];

export const FORECAST_COLUMNS = [
  "series", "source", "key", "metric", "made_at", "target_time", "step", "mean", "lower", "upper", "level", "model", "trace_id",
] as const satisfies readonly (keyof ForecastsInsertRow)[];

function float(value: unknown, table: string, field: string): FloatValue {
  if (typeof value !== "number") throw new RowMappingError(table, field, "a number", value);
  if (Number.isNaN(value)) return "nan";
  if (value === Infinity) return "inf";
  if (value === -Infinity) return "-inf";
  return value;
}

/**
 * One side of the expected range. JSON has no infinity: `JSON.stringify` writes the open side
 * of a range (±Infinity) as null, so null here is that open side, stored as -inf or +inf. A query
 * then reads naturally: `observed > expected_high` is false, `isInfinite(expected_high)` true.
 */
function bound(value: unknown, open: "-inf" | "inf", table: string, field: string): FloatValue {
  return value === null ? open : float(value, table, field);
}

function text(value: unknown, table: string, field: string): string {
  if (typeof value !== "string") throw new RowMappingError(table, field, "a string", value);
  return value;
}

/** An alert as a `sluice.anomalies` row; `trace_id` is the trace of the event it was found in. */
export function anomalyRow(a: AnomalyRecord, traceId: string, caps: Capabilities): AnomaliesInsertRow {
  const table = TABLES.anomalies;
  return {
    event_id: text(a.event_id, table, "event_id"),
    trace_id: traceId,
    source: text(a.source, table, "source"),
    key: text(a.key, table, "key"),
    metric: text(a.metric, table, "metric"),
    score: float(a.score, table, "score"),
    severity: text(a.severity, table, "severity"),
    signal: text(a.signal, table, "signal"),
    explanation: JSON.stringify(a.explanation ?? {}),
    expected_low: bound(a.expected_low, "-inf", table, "expected_low"),
    expected_high: bound(a.expected_high, "inf", table, "expected_high"),
    observed: float(a.observed, table, "observed"),
    event_time: timeValue(a.event_time, caps, table, "event_time"),
    detected_at: timeValue(a.detected_at, caps, table, "detected_at"),
  };
}

/** A forecast point as a `sluice.forecasts` row. */
export function forecastRow(f: ForecastRecord, traceId: string, caps: Capabilities): ForecastsInsertRow {
  const table = TABLES.forecasts;
  if (!Number.isSafeInteger(f.step) || f.step < 0) throw new RowMappingError(table, "step", "a whole number ≥ 0", f.step);
  return {
    series: text(f.series, table, "series"),
    source: text(f.source, table, "source"),
    key: text(f.key, table, "key"),
    metric: text(f.metric, table, "metric"),
    made_at: timeValue(f.made_at, caps, table, "made_at"),
    target_time: timeValue(f.target_time, caps, table, "target_time"),
    step: f.step,
    mean: float(f.mean, table, "mean"),
    lower: float(f.lower, table, "lower"),
    upper: float(f.upper, table, "upper"),
    level: float(f.level, table, "level"),
    model: text(f.model, table, "model"),
    trace_id: traceId,
  };
}
