import { TABLES } from "./schema.ts";
import { quoteString } from "./query.ts";

/**
 * The SELECTs the dashboard and the reports share, next to the tables they read, so a page and a
 * report of the same period give the same figures. Times are epoch ms; every read of a
 * ReplacingMergeTree uses FINAL (a redelivered row is stored twice until a merge).
 */

/** Epoch ms as a SQL time literal both engines compare with DateTime and DateTime64 columns. */
export const sqlTime = (ms: number): string => `toDateTime(${Math.floor(ms / 1000)})`;

/** A period [from, to): the rows a report or a page counts. */
export interface Period {
  readonly fromMs: number;
  readonly toMs: number;
}

const within = (column: string, p: Period) => `${column} >= ${sqlTime(p.fromMs)} AND ${column} < ${sqlTime(p.toMs)}`;

export const queries = {
  /** Events stored per source in the period (by arrival), with distinct keys and the newest event time. */
  volumes: (p: Period) => `SELECT source, count() AS events, uniqExact(key) AS keys, max(event_time) AS latest_event_time, max(ingest_time) AS latest_ingest_time
FROM ${TABLES.events} FINAL
WHERE ${within("ingest_time", p)}
GROUP BY source
ORDER BY source`,

  /** Events per source and minute of arrival. */
  eventsPerMinute: (p: Period) => `SELECT source, toUnixTimestamp(toStartOfMinute(ingest_time)) AS minute, count() AS events
FROM ${TABLES.events} FINAL
WHERE ${within("ingest_time", p)}
GROUP BY source, minute
ORDER BY source, minute`,

  /** The busiest keys of one source. */
  topKeys: (source: string, p: Period, limit: number) => `SELECT key, count() AS events
FROM ${TABLES.events} FINAL
WHERE source = ${quoteString(source)} AND ${within("ingest_time", p)}
GROUP BY key
ORDER BY events DESC, key
LIMIT ${limit}`,

  /** Dead letters per actor and error code in the period. */
  deadLettersByReason: (p: Period) => `SELECT actor, error_code, count() AS dead_letters
FROM ${TABLES.dead_letters} FINAL
WHERE ${within("received_at", p)}
GROUP BY actor, error_code
ORDER BY dead_letters DESC, actor, error_code`,

  /** Data-quality counts per source and expectation: evaluated, failed. */
  dataQuality: (p: Period) => `SELECT source, expectation, severity, sum(evaluated) AS evaluated, sum(failed) AS failed
FROM ${TABLES.dq_results} FINAL
WHERE ${within("minute", p)}
GROUP BY source, expectation, severity
ORDER BY source, expectation`,

  /** Anomalies per source and severity in the period (by event time). */
  anomaliesBySeverity: (p: Period) => `SELECT source, severity, count() AS anomalies
FROM ${TABLES.anomalies} FINAL
WHERE ${within("event_time", p)}
GROUP BY source, severity
ORDER BY source, severity`,

  /** The anomalies of the period with their explanations, highest score first. */
  anomalies: (p: Period, limit: number) => `SELECT event_id, trace_id, source, key, metric, score, severity, signal, explanation, expected_low, expected_high, observed, event_time
FROM ${TABLES.anomalies} FINAL
WHERE ${within("event_time", p)}
ORDER BY score DESC, event_time
LIMIT ${limit}`,

  /**
   * Forecast accuracy per series over the period: for each window that closed in it, the latest
   * forecast made for its start against the window's realised mean: mean absolute error and the
   * share of windows inside the prediction interval (its coverage, to compare with the level).
   */
  forecastAccuracy: (p: Period) => `SELECT series, count() AS points, avg(abs(realised - forecast)) AS mae, avg(realised >= lower AND realised <= upper) AS coverage, any(level) AS level
FROM
(
    SELECT series, source, key, metric, target_time, argMax(mean, made_at) AS forecast, argMax(lower, made_at) AS lower, argMax(upper, made_at) AS upper, argMax(level, made_at) AS level
    FROM ${TABLES.forecasts} FINAL
    WHERE ${within("target_time", p)} AND made_at < target_time
    GROUP BY series, source, key, metric, target_time
) AS f
ALL INNER JOIN
(
    SELECT source, key, metric, window_start AS target_time, mean AS realised
    FROM ${TABLES.window_aggregates} FINAL
    WHERE kind = 'tumbling' AND count > 0 AND ${within("window_start", p)}
) AS w USING (source, key, metric, target_time)
GROUP BY series
ORDER BY series`,

  /** Series the window actor aggregated (tumbling windows), for the forecast picker. */
  series: (p: Period, limit: number) => `SELECT source, key, metric, count() AS windows
FROM ${TABLES.window_aggregates} FINAL
WHERE kind = 'tumbling' AND count > 0 AND ${within("window_start", p)}
GROUP BY source, key, metric
ORDER BY windows DESC, source, key, metric
LIMIT ${limit}`,
} as const;
