/**
 * sluice's storage layer: open ClickHouse (embedded chDB or a server), learn what it can do,
 * migrate the `sluice` database, map pipeline values to rows, insert them, and run ad-hoc SQL
 * for the CLI.
 */
export { openClickHouse, type OpenClickHouse, type OpenClickHouseOptions } from "./client.ts";
export { openWhenReachable, MigrationAccessError, SchemaOutdatedError, type SchemaPolicy, type WaitOptions } from "./open.ts";
export { capabilitiesFor, fallbackNotices, probeCapabilities, ClickHouseVersionError, type Capabilities, type ClickHouseLogger } from "./capabilities.ts";
export { migrate, renderSchema, retentionTtl, MIGRATIONS, MigrationError, type MigrationResult } from "./migrations.ts";
export { DATABASE, MIGRATIONS_TABLE, TABLES, WINDOW_TABLES, RETENTION_COLUMN, type Migration, type MigrateOptions, type TableName } from "./schema.ts";
export {
  eventRow,
  deadLetterRow,
  windowRow,
  timeValue,
  RowMappingError,
  EVENT_COLUMNS,
  DEAD_LETTER_COLUMNS,
  WINDOW_COLUMNS,
  type DeadLetterRow,
  type WindowRow,
  type EventsInsertRow,
  type DeadLettersInsertRow,
  type WindowAggregatesInsertRow,
  type TimeValue,
  type FloatValue,
} from "./rows.ts";
export { insertRows, type InsertRowTypes } from "./insert.ts";
export { anomalyRow, forecastRow, ANOMALY_COLUMNS, FORECAST_COLUMNS, type AnomalyRecord, type ForecastRecord, type AnomaliesInsertRow, type ForecastsInsertRow } from "./rows-detect.ts";
export { runQuery, classifyStatement, quoteString, QueryInputError, type QueryResult } from "./query.ts";
export { formatTable, formatJson, formatResult, cellText, OUTPUT_FORMATS, type OutputFormat, type QueryColumn, type Tabular, type TableOptions } from "./format.ts";
export {
  ClickHouseQueryError,
  ClickHouseUnavailableError,
  DataDirLockedError,
  EmbeddedEngineBusyError,
  classifyInsertFailure,
  describeInsertFailure,
  parseServerError,
  toClickHouseError,
  type InsertFailure,
  type InsertFailureKind,
} from "./errors.ts";
export { LOCK_FILE } from "./lock.ts";
