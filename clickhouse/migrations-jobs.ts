import type { Capabilities } from "./capabilities.ts";
import { columnTypes, JOB_TABLES } from "./schema.ts";

/**
 * Tables of the scheduled jobs (jobs/), versions 500–599. Plain DateTime and String types (times
 * to the second, durations in ms), so the tables read the same on 18.16 and on chDB.
 */
export const JOB_MIGRATIONS = [
  {
    version: 500,
    name: "create job_runs",
    // One row per attempt: a run that failed twice and then succeeded is three rows.
    statements: (caps: Capabilities): string[] => {
      const { lowString } = columnTypes(caps);
      return [
        `CREATE TABLE IF NOT EXISTS ${JOB_TABLES.job_runs}
(
    job ${lowString},
    run_id String,
    scheduled_at DateTime('UTC'),
    trigger ${lowString},
    attempt UInt16,
    started_at DateTime('UTC'),
    ended_at DateTime('UTC'),
    duration_ms UInt64,
    outcome ${lowString},
    error String,
    detail String,
    instance String
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(scheduled_at)
ORDER BY (job, scheduled_at, run_id, attempt)`,
      ];
    },
  },
  {
    version: 501,
    name: "create daily_rollups",
    // One partition per day: a re-run drops the day's partition and writes it again, so the
    // table holds one row per (day, source, key) without FINAL however often the job ran.
    statements: (caps: Capabilities): string[] => {
      const { lowString } = columnTypes(caps);
      return [
        `CREATE TABLE IF NOT EXISTS ${JOB_TABLES.daily_rollups}
(
    day Date,
    source ${lowString},
    key String,
    events UInt64,
    first_event DateTime('UTC'),
    last_event DateTime('UTC'),
    computed_at DateTime('UTC')
)
ENGINE = MergeTree()
PARTITION BY day
ORDER BY (day, source, key)`,
      ];
    },
  },
];
