import type { ClickHouseClient } from "@clickhouse/client";
import { DATABASE } from "../clickhouse/schema.ts";
import { datasetGlob, type Dataset } from "./layout.ts";
import type { LakeLocation } from "./location.ts";
import { LakeStore } from "./store.ts";

/** The views over the lake's files, by dataset. */
export const LAKE_VIEWS = { raw: "lake_raw", events: "lake_events" } as const satisfies Record<Dataset, string>;

/** A Hive partition value from the file's path; `_path` is LowCardinality, which a Date may not be. */
const part = (name: string, pattern: string) => `CAST(extract(_path, '/${name}=(${pattern})/') AS String)`;

const PARTITION_COLUMNS = [
  `${part("source", "[^/]+")} AS source`,
  `toDate(${part("date", "[0-9]{4}-[0-9]{2}-[0-9]{2}")}) AS date`,
  `toUInt8(${part("hour", "[0-9]{2}")}) AS hour`,
];
const MESSAGE_COLUMNS = ["stream", "seq", "subject", "stream_time", "headers", "data", "CAST(_path AS String) AS file"];
/** EVENTS' envelope fields (subjects/envelope.ts), read from the stored JSON. */
const ENVELOPE_COLUMNS = [
  "JSONExtractString(data, 'event_id') AS event_id",
  "JSONExtractString(data, 'key') AS key",
  "toUInt32(JSONExtractUInt(data, 'schema_version')) AS schema_version",
  "fromUnixTimestamp64Milli(JSONExtractInt(data, 'event_time'), 'UTC') AS event_time",
  "fromUnixTimestamp64Milli(JSONExtractInt(data, 'ingest_time'), 'UTC') AS ingest_time",
  "JSONExtractRaw(data, 'payload') AS payload",
  "JSONExtractString(data, 'raw_subject') AS raw_subject",
  "JSONExtractUInt(data, 'raw_seq') AS raw_seq",
];

/**
 * `CREATE OR REPLACE VIEW` statements for `sluice.lake_raw` and `sluice.lake_events`. The
 * partition columns come from the path, so a filter on `source`, `date` or `hour` opens only the
 * matching files. A view re-lists its files on every query: new files show at once.
 */
export function lakeViewStatements(store: LakeStore): string[] {
  return (Object.keys(LAKE_VIEWS) as Dataset[]).map((dataset) => {
    const columns = [...PARTITION_COLUMNS, ...MESSAGE_COLUMNS, ...(dataset === "events" ? ENVELOPE_COLUMNS : [])];
    return `CREATE OR REPLACE VIEW ${DATABASE}.${LAKE_VIEWS[dataset]} AS SELECT ${columns.join(", ")} FROM ${store.tableFunction(datasetGlob(dataset), { credentials: false })}`;
  });
}

/** Creates (or points anew at the configured lake) both views in an engine that reads Parquet. */
export async function createLakeViews(client: ClickHouseClient, location: LakeLocation): Promise<void> {
  for (const query of lakeViewStatements(new LakeStore(location, client))) await client.command({ query });
}
