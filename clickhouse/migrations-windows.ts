import type { Capabilities } from "./capabilities.ts";
import { columnTypes, TABLES, WINDOW_TABLES } from "./schema.ts";

/**
 * Window storage beyond the foundation's `window_aggregates`, versions 300–399; `MIGRATIONS` in
 * migrations.ts spreads these in. Every statement runs on clickhouse-server 18.16 as well as on
 * chDB and is IF NOT EXISTS, so two processes may migrate at once (18.16 has no
 * `ADD COLUMN IF NOT EXISTS`, which is why deletion is not a new column; see below).
 *
 * Deleting a window row: a real window row always has count ≥ 1. A retracted session, or an
 * earlier version of a session whose bounds moved, is overwritten by a row with the same sorting
 * key, a higher version and count = 0; `sluice.windows` reads the final state without those.
 */
export const LATE_EVENT_COLUMNS = [
  "late_id", "source", "key", "event_id", "event_time", "watermark", "partition", "reason", "allowed_lateness_ms",
  "window_ids", "windows", "payload", "received_at", "trace_id",
] as const;

export const WINDOW_MIGRATIONS = [
  {
    version: 300,
    name: "create view windows",
    statements: (): string[] => [
      `CREATE VIEW IF NOT EXISTS ${WINDOW_TABLES.windows} AS
SELECT window_id, source, kind, key, metric, window_start, window_end, count, sum, min, max, mean, stddev,
       p50, p95, p99, distinct_count, version, emitted_at, trace_id
FROM ${TABLES.window_aggregates} FINAL
WHERE count > 0`,
    ],
  },
  {
    version: 301,
    name: "create late_events",
    statements: (caps: Capabilities): string[] => {
      const t = columnTypes(caps);
      return [
        `CREATE TABLE IF NOT EXISTS ${WINDOW_TABLES.late_events}
(
    late_id String,
    source ${t.lowString},
    key String,
    event_id String,
    event_time ${t.time},
    watermark ${t.time},
    partition UInt32,
    reason ${t.lowString},
    allowed_lateness_ms UInt64,
    window_ids Array(String),
    windows String,
    payload String,
    received_at ${t.time},
    trace_id String
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(event_time)
ORDER BY (source, late_id)`,
      ];
    },
  },
];
