import type { ClickHouseClient } from "@clickhouse/client";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { runQuery } from "../clickhouse/query.ts";
import { CONSUMERS, consumerConfig } from "../subjects/consumers.ts";
import { allConsumerPositions, allMetrics } from "../otel/metrics.ts";
import { askSql } from "../clickhouse/sql-rpc.ts";
import type { OpenClickHouse } from "../clickhouse/client.ts";

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

/** Pending work of one durable consumer: not yet delivered, and delivered but unacked. */
export interface ConsumerLag {
  consumer: string;
  stream: string;
  pending: number;
  ackPending: number;
}

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

/**
 * Lag of every durable consumer in the catalog that exists on the server. A consumer read in this
 * process: the stream's last sequence minus what the runtime has seen delivered (its own count of
 * unacked messages as ack pending). Another process's: `consumer info`, which only an unfiltered
 * consumer (all of the catalog's, see `consumerConfig`) answers without sending nats-server
 * 2.9.10 into rescanning its backlog on every delivery; a filtered one is left out.
 */
export function consumerLag(nc: NatsConnection): () => Promise<ConsumerLag[]> {
  return async () => {
    const jsm = await jetstreamManager(nc);
    const lastSeqs = new Map<string, Promise<number | undefined>>();
    const lastSeq = (stream: string) => {
      let seq = lastSeqs.get(stream);
      if (!seq) lastSeqs.set(stream, (seq = jsm.streams.info(stream).then((i) => i.state.last_seq, () => undefined)));
      return seq;
    };
    const positions = allConsumerPositions();
    const metrics = allMetrics();
    const out: ConsumerLag[] = [];
    for (const def of Object.values(CONSUMERS)) {
      const here = positions.get(`${def.stream}/${def.durable_name}`);
      if (here) {
        // Its actor is starting: the position comes with its consumer.
        if (here.deliveredSeq < 0) continue;
        const last = await lastSeq(def.stream);
        const pending = here.wholeStream && last !== undefined ? Math.max(0, last - here.deliveredSeq) : here.pending;
        const m = metrics.get(here.actor);
        out.push({ consumer: def.durable_name, stream: def.stream, pending, ackPending: (m?.inFlight ?? 0) + (m?.held ?? 0) });
        continue;
      }
      if (consumerConfig(def).filter_subject !== undefined) continue;
      const info = await jsm.consumers.info(def.stream, def.durable_name).catch(() => undefined);
      if (info) out.push({ consumer: def.durable_name, stream: def.stream, pending: info.num_pending, ackPending: info.num_ack_pending });
    }
    return out;
  };
}

/** NATS is reachable when a round trip to the server completes. */
export function natsPing(nc: NatsConnection): () => Promise<void> {
  return async () => {
    if (nc.isClosed()) throw new Error("connection closed");
    await nc.flush();
  };
}
