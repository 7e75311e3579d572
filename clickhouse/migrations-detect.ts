import type { Capabilities } from "./capabilities.ts";
import { columnTypes, TABLES } from "./schema.ts";

/**
 * Tables of anomaly detection and forecasting, versions 400–499. Kept apart from the
 * foundation's migrations so the two evolve without touching each other; `MIGRATIONS` in
 * migrations.ts spreads these in. Names and retention columns are in schema.ts; retention (TTL)
 * is added by `migrate` like for every table.
 */
export const DETECT_MIGRATIONS = [
  {
    version: 400,
    name: "create anomalies",
    statements: (caps: Capabilities): string[] => {
      const t = columnTypes(caps);
      return [
        `CREATE TABLE IF NOT EXISTS ${TABLES.anomalies}
(
    event_id String,
    trace_id String,
    source ${t.lowString},
    key String,
    metric ${t.lowString},
    score Float64,
    severity ${t.lowString},
    signal ${t.lowString},
    explanation String,
    expected_low Float64,
    expected_high Float64,
    observed Float64,
    event_time ${t.time},
    detected_at ${t.time}
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(event_time)
ORDER BY (source, key, metric, event_time, event_id)`,
      ];
    },
  },
  {
    version: 401,
    name: "create forecasts",
    statements: (caps: Capabilities): string[] => {
      const t = columnTypes(caps);
      return [
        `CREATE TABLE IF NOT EXISTS ${TABLES.forecasts}
(
    series String,
    source ${t.lowString},
    key String,
    metric ${t.lowString},
    made_at ${t.time},
    target_time ${t.time},
    step UInt32,
    mean Float64,
    lower Float64,
    upper Float64,
    level Float64,
    model String,
    trace_id String
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(made_at)
ORDER BY (series, made_at, target_time)`,
      ];
    },
  },
];
