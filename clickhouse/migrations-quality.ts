import type { Capabilities } from "./capabilities.ts";
import { columnTypes, TABLES } from "./schema.ts";

/**
 * Data-quality tables, versions 200–299. Kept apart from the foundation's migrations so the two
 * evolve without touching each other; `MIGRATIONS` in migrations.ts spreads these in. Names and
 * retention columns are in schema.ts.
 */

export const QUALITY_MIGRATIONS = [
  {
    version: 200,
    name: "create dq_results",
    // One row per (report, source, expectation, minute): counts are summed at query time, and a
    // redelivered report replaces its own row (same ORDER BY key) instead of adding to a sum.
    // Plain DateTime and String types: the table reads the same on 18.16 and on chDB.
    statements: (caps: Capabilities): string[] => {
      const { lowString } = columnTypes(caps);
      return [
        `CREATE TABLE IF NOT EXISTS ${TABLES.dq_results}
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
