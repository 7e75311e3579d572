import { quoteString } from "../clickhouse/query.ts";
import { TABLES } from "../clickhouse/schema.ts";

export interface DqReportOptions {
  /** Results from this time on, epoch ms (rounded down to the minute). */
  readonly sinceMs: number;
  readonly source?: string;
}

/**
 * The `sluice dq report` query: per source and expectation, events judged and failed since a
 * time, the failed share, and the latest failure's reason. Plain SQL that 18.16 and chDB both run
 * (no query parameters; values are inlined as literals).
 */
export function dqReportQuery(opts: DqReportOptions): string {
  const since = Math.max(0, Math.floor(opts.sinceMs / 60_000) * 60);
  const where = [`minute >= toDateTime(${since})`];
  if (opts.source) where.push(`source = ${quoteString(opts.source)}`);
  return `SELECT source, expectation, any(kind) AS kind, any(severity) AS severity,
  sum(evaluated) AS judged, sum(failed) AS failures,
  round(100 * sum(failed) / greatest(sum(evaluated), 1), 2) AS failed_pct,
  argMaxIf(sample_reason, minute, failed > 0) AS last_failure
FROM ${TABLES.dq_results} FINAL
WHERE ${where.join(" AND ")}
GROUP BY source, expectation
ORDER BY source, failures DESC, expectation`;
}
