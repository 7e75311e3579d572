import { setTimeout as sleep } from "node:timers/promises";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, type JetStreamManager } from "@nats-io/jetstream";
import type { OpenClickHouse } from "../../clickhouse/index.ts";
import { sinkActors } from "../../actors/sink/index.ts";
import { OpenServices, SERVICES } from "../../actors/services.ts";
import { runActor } from "../../actors/runtime/run.ts";
import { createLogger } from "../../actors/runtime/log.ts";
import { withDeadline } from "../../nats/deadline.ts";
import type { Envelope } from "../../subjects/envelope.ts";
import { scalar } from "./run-snapshot.ts";

/**
 * The events sink's real code path into a ClickHouse cluster, for the cluster tests that take
 * replicas down while it inserts (tests/cluster/clickhouse-sink.test.ts, clickhouse-shards.test.ts):
 * events published to EVENTS, the sink writing through one node, and the reads that show each
 * acknowledged event stored once.
 */

const log = createLogger("error");
const T0 = Date.UTC(2020, 0, 1, 12);

/** Event `i` of a run: id `<prefix>-<i>`, one of `keys` IoT keys (the sharding key is source and key). */
export function clusterEvent(prefix: string, i: number, keys = 7): Envelope {
  const key = `k-${i % keys}`;
  return { event_id: `${prefix}-${i}`, source: "iot", key, schema_version: 1, event_time: T0 + i * 1000, ingest_time: T0, payload: { i }, raw_subject: `raw.iot.${key}`, raw_seq: i + 1 };
}

/** The real events sink (public consumer, actors/sink) writing through `ch`, until the returned stop is called. */
export function startEventsSink(nc: NatsConnection, ch: OpenClickHouse): () => Promise<void> {
  const actor = sinkActors({ maxRows: 5_000, maxWaitMs: 200, typedColumns: false })["clickhouse-sink-events"]();
  const controller = new AbortController();
  const running = runActor(actor, { nc, log, signal: controller.signal, services: new OpenServices().provide(SERVICES.clickhouse, ch) });
  return async () => {
    controller.abort();
    await running;
  };
}

/** The events sink has acked everything on EVENTS. */
export async function sinkSettled(jsm: JetStreamManager): Promise<boolean> {
  const info = await withDeadline(() => jsm.consumers.info("EVENTS", "clickhouse-sink-events"), { what: "events sink consumer info", timeoutMs: 20_000 });
  return info.num_pending === 0 && info.num_ack_pending === 0;
}

/** The events sink's acknowledged stream position: it moves only when the sink acks. */
export async function ackFloor(jsm: JetStreamManager): Promise<number> {
  const info = await withDeadline(() => jsm.consumers.info("EVENTS", "clickhouse-sink-events"), { what: "events sink consumer info", timeoutMs: 20_000 });
  return info.ack_floor.stream_seq;
}

/**
 * Publishes `n` events to EVENTS in small batches while `during` runs (started once a quarter is
 * published); returns the ids JetStream acknowledged.
 */
export async function publishWhile(nc: NatsConnection, prefix: string, n: number, during: () => Promise<void>, keys?: number): Promise<Set<string>> {
  const js = jetstream(nc);
  const acked = new Set<string>();
  let fault: Promise<void> | undefined;
  for (let i = 0; i < n; i += 10) {
    const batch = Array.from({ length: Math.min(10, n - i) }, (_, j) => clusterEvent(prefix, i + j, keys));
    const results = await Promise.allSettled(batch.map((e) => js.publish(`events.iot.${(i / 10) % 4}`, JSON.stringify(e), { msgID: e.event_id })));
    results.forEach((r, j) => r.status === "fulfilled" && acked.add(batch[j]!.event_id));
    if (!fault && i >= n / 4) fault = during();
    await sleep(40);
  }
  await fault;
  return acked;
}

/** count() without FINAL, count() with FINAL and distinct ids of the rows whose event_id starts with `prefix`, read through `ch`'s Distributed table. */
export async function eventCounts(ch: OpenClickHouse, prefix: string): Promise<{ rows: number; final: number; distinct: number }> {
  const where = `WHERE startsWith(event_id, '${prefix}')`;
  return {
    rows: await scalar(ch.client, `SELECT count() FROM sluice.events ${where}`),
    final: await scalar(ch.client, `SELECT count() FROM sluice.events FINAL ${where}`),
    distinct: await scalar(ch.client, `SELECT uniqExact(event_id) FROM sluice.events ${where}`),
  };
}
