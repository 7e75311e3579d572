import type { ClickHouseClient } from "@clickhouse/client";
import { targetOf, toClickHouseError } from "./errors.ts";
import { TABLES, type TableName } from "./schema.ts";
import {
  DEAD_LETTER_COLUMNS,
  EVENT_COLUMNS,
  WINDOW_COLUMNS,
  type DeadLettersInsertRow,
  type EventsInsertRow,
  type WindowAggregatesInsertRow,
} from "./rows.ts";
import { ANOMALY_COLUMNS, FORECAST_COLUMNS, type AnomaliesInsertRow, type ForecastsInsertRow } from "./rows-detect.ts";
import { DQ_RESULT_COLUMNS, type DqResultsInsertRow } from "./rows-quality.ts";

export interface InsertRowTypes {
  events: EventsInsertRow;
  dead_letters: DeadLettersInsertRow;
  window_aggregates: WindowAggregatesInsertRow;
  anomalies: AnomaliesInsertRow;
  forecasts: ForecastsInsertRow;
  dq_results: DqResultsInsertRow;
}

const COLUMNS: Record<TableName, readonly string[]> = {
  events: EVENT_COLUMNS,
  dead_letters: DEAD_LETTER_COLUMNS,
  window_aggregates: WINDOW_COLUMNS,
  anomalies: ANOMALY_COLUMNS,
  forecasts: FORECAST_COLUMNS,
  dq_results: DQ_RESULT_COLUMNS,
};

/**
 * Inserts mapped rows as one JSONEachRow batch, naming the columns so that `inserted_at`
 * gets its DEFAULT on 18.16 too. Failures come back as `ClickHouseQueryError` (the rows or
 * the table are wrong; `code` as the client has it) or `ClickHouseUnavailableError` (retry later).
 *
 * @example
 * await insertRows(ch.client, "events", envelopes.map((e) => eventRow(e, traceId, ch.caps)));
 */
export async function insertRows<T extends TableName>(client: ClickHouseClient, table: T, rows: readonly InsertRowTypes[T][], extraColumns: readonly string[] = []): Promise<void> {
  if (rows.length === 0) return;
  // Extra columns: the typed payload columns of sluice.events (clickhouse/columns.ts).
  const columns = extraColumns.length ? [...COLUMNS[table], ...extraColumns] : COLUMNS[table];
  try {
    await client.insert({ table: TABLES[table], values: rows as InsertRowTypes[T][], columns: columns as [string, ...string[]], format: "JSONEachRow" });
  } catch (err) {
    throw toClickHouseError(err, `INSERT INTO ${TABLES[table]} (${columns.join(", ")}) FORMAT JSONEachRow (${rows.length} rows)`, targetOf(client));
  }
}
