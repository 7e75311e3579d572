import type { Capabilities, ClickHouseLogger } from "./capabilities.ts";

/**
 * The names and shared pieces of the `sluice` database, in one module that imports no other part
 * of the storage layer: the migrations (migrations*.ts), the row mappers, the typed columns and
 * every reader take table names from here, so a name is written once and no module has to import
 * the migration list to learn one.
 */

export const DATABASE = "sluice";
export const MIGRATIONS_TABLE = `${DATABASE}.schema_migrations`;

/** The tables rows are inserted into with `insertRows`, by short name; each has a retention column. */
export const TABLES = {
  events: `${DATABASE}.events`,
  dead_letters: `${DATABASE}.dead_letters`,
  window_aggregates: `${DATABASE}.window_aggregates`,
  anomalies: `${DATABASE}.anomalies`,
  forecasts: `${DATABASE}.forecasts`,
  dq_results: `${DATABASE}.dq_results`,
} as const;
export type TableName = keyof typeof TABLES;

/** Window storage beyond `window_aggregates` (migrations-windows.ts); the late-events sink writes its own rows. */
export const WINDOW_TABLES = {
  /** The final state of every window: latest version, retracted and superseded rows left out. */
  windows: `${DATABASE}.windows`,
  late_events: `${DATABASE}.late_events`,
} as const;

/** Scheduled jobs (jobs/, migrations-jobs.ts): every attempt of every run, and the daily rollup a job writes. */
export const JOB_TABLES = {
  job_runs: `${DATABASE}.job_runs`,
  daily_rollups: `${DATABASE}.daily_rollups`,
} as const;

/** Who replayed or purged dead letters, changed a schema, made or revoked an API token (migrations-audit.ts). */
export const AUDIT_TABLE = `${DATABASE}.audit`;

/**
 * The columns that identify one row of each table a sink writes: a redelivered message maps to a
 * row with the same values, so a sink looks these up before inserting a redelivered row and skips
 * it when it is there (count() equals uniqExact(identity) without FINAL). Only String and integer
 * columns, so the lookup's literals and its answer compare the same on chDB and 18.16; the leading
 * ORDER BY columns come first, so the lookup reads few granules.
 */
export const IDENTITY_COLUMNS = {
  events: ["source", "key", "event_id"],
  dead_letters: ["actor", "source", "dlq_id"],
  // window_id hashes source, kind, key, metric and the window's bounds; each emission has its own version.
  window_aggregates: ["source", "kind", "metric", "key", "window_id", "version"],
  anomalies: ["source", "key", "metric", "event_id", "signal"],
  dq_results: ["source", "expectation", "report_id"],
  late_events: ["source", "late_id"],
} as const satisfies Record<string, readonly string[]>;
export type IdentifiedTable = keyof typeof IDENTITY_COLUMNS;

/** The time column each table's retention and partitions follow (sinks split inserts by its day). */
export const RETENTION_COLUMN: Record<TableName, string> = {
  events: "event_time",
  dead_letters: "received_at",
  window_aggregates: "window_start",
  anomalies: "event_time",
  forecasts: "made_at",
  dq_results: "minute",
};

/** Column types as the connected server has them: DateTime64 and LowCardinality where it can, DateTime and String on 18.16. */
export function columnTypes(caps: Capabilities): { time: string; lowString: string; compressed: string } {
  return {
    time: caps.dateTime64 ? "DateTime64(3, 'UTC')" : "DateTime('UTC')",
    lowString: caps.lowCardinality ? "LowCardinality(String)" : "String",
    compressed: caps.codecs ? " CODEC(ZSTD(3))" : "",
  };
}

export interface MigrateOptions {
  /** Rows older than this many days (by event_time, received_at, window_start) are dropped by TTL where the server has TTL. Default: kept forever. */
  retentionDays?: number;
  logger?: ClickHouseLogger;
  /**
   * A cluster of `<remote_servers>` (CLICKHOUSE_CLUSTER): tables are created replicated `ON CLUSTER`
   * with Distributed tables under the public names (clickhouse/cluster.ts). `migrate` takes it from
   * a client opened with `cluster`; `renderSchema` from here.
   */
  cluster?: string;
}

/**
 * One schema step. `statements` renders it for the connected server: the same migration
 * gives DateTime64 and LowCardinality on a modern server and DateTime and String on 18.16.
 * A released migration never changes; a schema change is a new one.
 */
export interface Migration {
  version: number;
  name: string;
  statements(caps: Capabilities, opts: MigrateOptions): string[];
}
