import type { ClickHouseClient } from "@clickhouse/client";
import type { NatsConnection } from "@nats-io/transport-node";
import { runQuery } from "../clickhouse/query.ts";
import { askSql } from "../clickhouse/sql-rpc.ts";
import type { OpenClickHouse } from "../clickhouse/client.ts";

// Lag is read by the API, reports and the jobs that make them: it lives below all of them.
export { consumerLag, type ConsumerLag } from "../otel/lag.ts";

/**
 * What the API takes from a pipeline running in the same process (`startPipeline` gives more): its
 * NATS connection, and its ClickHouse client when that process owns the engine.
 */
export interface InProcessPipeline {
  readonly nc: NatsConnection;
  readonly clickhouse: OpenClickHouse | undefined;
}

/** Rows of one SELECT as objects, column name → value. */
export type QueryRows = (sql: string) => Promise<Array<Record<string, unknown>>>;

function objects(columns: Array<{ name: string }>, rows: unknown[][]): Array<Record<string, unknown>> {
  return rows.map((r) => Object.fromEntries(columns.map((c, i) => [c.name, r[i]])));
}

/** SELECTs straight on a ClickHouse client: the process that owns the engine, or any process with a server. */
export function clickhouseRows(client: () => ClickHouseClient): QueryRows {
  return async (sql) => {
    const result = await runQuery(client(), sql, "json");
    return objects(result.columns, result.rows as unknown[][]);
  };
}

/** SELECTs over NATS, answered by the process that owns the embedded engine in `dataDir` (`sluice.rpc.sql`). */
export function natsSqlRows(nc: NatsConnection, dataDir: string, timeoutMs = 10_000): QueryRows {
  return async (sql) => {
    const reply = await askSql(nc, sql, dataDir, timeoutMs);
    return objects(reply.columns, reply.rows);
  };
}

/** NATS is reachable when a round trip to the server completes. */
export function natsPing(nc: NatsConnection): () => Promise<void> {
  return async () => {
    if (nc.isClosed()) throw new Error("connection closed");
    await nc.flush();
  };
}
