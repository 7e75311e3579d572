import type { Capabilities } from "./capabilities.ts";

/**
 * Data-quality tables, versions 200–299. Kept apart from the foundation's migrations so the two
 * evolve without touching each other; `MIGRATIONS` in migrations.ts spreads these in.
 */
export const QUALITY_TABLES = {
  dq_results: "sluice.dq_results",
} as const;

/** The time column each table's retention and partitions follow. */
export const QUALITY_RETENTION_COLUMN = {
  dq_results: "minute",
} as const;

export const QUALITY_MIGRATIONS = [
  {
    version: 200,
    name: "create dq_results",
    // One row per (report, source, expectation, minute): counts are summed at query time, and a
    // redelivered report replaces its own row (same ORDER BY key) instead of adding to a sum.
    // Plain DateTime and String types: the table reads the same on 18.16 and on chDB.
    statements: (caps: Capabilities): string[] => {
      const lowString = caps.lowCardinality ? "LowCardinality(String)" : "String";
      return [
        `CREATE TABLE IF NOT EXISTS ${QUALITY_TABLES.dq_results}
(
    report_id String,
    minute DateTime('UTC'),
    source ${lowString},
    expectation ${lowString},
    kind ${lowString},
    severity ${lowString},
    evaluated UInt64,
    failed UInt64,
    sample_event_id String,
    sample_reason String,
    reported_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(minute)
ORDER BY (source, expectation, minute, report_id)`,
      ];
    },
  },
];
