import { RowMappingError } from "./rows.ts";
import { TABLES } from "./schema.ts";

/**
 * One data-quality count as the validate actor publishes it on `dq.<source>`: how many accepted
 * events one expectation judged in one minute (by ingest time) and how many failed, since the
 * previous report of the same process. `report_id` makes a redelivered report replace itself.
 * Times are epoch ms.
 */
export interface DqResultRecord {
  report_id: string;
  minute: number;
  source: string;
  expectation: string;
  kind: string;
  severity: "reject" | "warn";
  evaluated: number;
  failed: number;
  sample_event_id: string;
  sample_reason: string;
  reported_at: number;
}

/** `minute` and `reported_at` are whole epoch seconds: the columns are DateTime on every server. */
export interface DqResultsInsertRow extends Omit<DqResultRecord, "minute" | "reported_at"> {
  minute: number;
  reported_at: number;
}

export const DQ_RESULT_COLUMNS = [
  "report_id", "minute", "source", "expectation", "kind", "severity", "evaluated", "failed", "sample_event_id", "sample_reason", "reported_at",
] as const satisfies readonly (keyof DqResultsInsertRow)[];

const TABLE = TABLES.dq_results;
const MAX_DATETIME_SECONDS = 4_294_967_295;

function seconds(ms: number, field: string): number {
  const s = Math.floor(ms / 1000);
  if (!Number.isFinite(ms) || s < 0 || s > MAX_DATETIME_SECONDS) throw new RowMappingError(TABLE, field, "a time between 1970 and 2106 (DateTime range)", ms);
  return s;
}

function count(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RowMappingError(TABLE, field, "a whole number ≥ 0", value);
  return value;
}

/** A `dq.<source>` report as a `sluice.dq_results` row. */
export function dqResultRow(record: DqResultRecord): DqResultsInsertRow {
  if (typeof record.report_id !== "string" || record.report_id === "") throw new RowMappingError(TABLE, "report_id", "a non-empty string", record.report_id);
  return {
    report_id: record.report_id,
    minute: seconds(record.minute, "minute"),
    source: String(record.source),
    expectation: String(record.expectation),
    kind: String(record.kind),
    severity: record.severity === "reject" ? "reject" : "warn",
    evaluated: count(record.evaluated, "evaluated"),
    failed: count(record.failed, "failed"),
    sample_event_id: String(record.sample_event_id ?? ""),
    sample_reason: String(record.sample_reason ?? ""),
    reported_at: seconds(record.reported_at, "reported_at"),
  };
}
