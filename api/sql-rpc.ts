import type { ClickHouseClient } from "@clickhouse/client";
import type { NatsConnection } from "@nats-io/transport-node";
import { runQuery, type QueryColumn } from "../clickhouse/index.ts";
import { subject } from "../subjects/catalog.ts";
import type { Logger } from "../actors/runtime/actor.ts";

/** Request on `sluice.rpc.sql`. */
export interface SqlRequest {
  readonly query: string;
}

/** Reply: the result, or the error text that tells the user what to fix. */
export type SqlReply =
  | { readonly ok: true; readonly columns: QueryColumn[]; readonly rows: unknown[][] }
  | { readonly ok: false; readonly error: string };

/**
 * The embedded engine can be opened by one process only, so that process answers SQL for the
 * others over NATS request/reply. `sluice sql` asks here first.
 */
export function serveSql(nc: NatsConnection, client: ClickHouseClient, log: Logger): { stop(): Promise<void> } {
  const sub = nc.subscribe(subject.sqlService(), {
    queue: "sql",
    callback: (err, msg) => {
      if (err) return log.warn(`sql rpc: ${err.message}`);
      void (async () => {
        let reply: SqlReply;
        try {
          const { query } = JSON.parse(new TextDecoder().decode(msg.data)) as SqlRequest;
          if (typeof query !== "string" || !query.trim()) throw new Error('request must be {"query": "<SQL>"}');
          const result = await runQuery(client, query);
          reply = { ok: true, columns: result.columns, rows: result.rows };
        } catch (e) {
          reply = { ok: false, error: (e as Error).message };
        }
        msg.respond(JSON.stringify(reply));
      })();
    },
  });
  return {
    async stop() {
      sub.unsubscribe();
    },
  };
}
