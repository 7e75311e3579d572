// The peer: what a user would write instead of sluice to validate and store IoT readings — a
// durable pull consumer on RAW, JSON.parse, ajv against the registry's iot schema, 5,000-row
// JSONEachRow inserts into chDB, an ack for each message after its batch is stored. No dead
// letters, spans, checkpoints or dedup: the bare job, kept to the size people actually write.
import { connect } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { createClient, type ClickHouseClientConfigOptions } from "@clickhouse/client";
import { drainPending } from "chdb";
import { createChdbConnection } from "chdb/connection";
import { createAjv } from "../subjects/registry/index.ts";
import iotSchema from "../subjects/schemas/iot.v1.json" with { type: "json" };

export interface PeerResult {
  readonly rows: number;
  readonly invalid: number;
  /** From the first fetch to the last ack. */
  readonly seconds: number;
}

/** Event time in ms from `ts` as the schema allows it: RFC 3339, or unix s/ms/ns as a number or digits. */
function eventMs(ts: unknown): number {
  const n = typeof ts === "number" ? ts : /^\d+(\.\d+)?$/.test(String(ts)) ? Number(ts) : NaN;
  if (Number.isNaN(n)) return Date.parse(String(ts));
  return n < 1e11 ? n * 1000 : n < 1e14 ? n : n / 1e6;
}

const asDateTime64 = (ms: number) => new Date(ms).toISOString().replace("T", " ").replace("Z", "");

/** Drains `expect` messages from RAW into `peer.readings` of a chDB at `dataDir`. */
export async function runPeerLoop(opts: { natsUrl: string; dataDir: string; expect: number; batch?: number; timeoutMs?: number }): Promise<PeerResult> {
  const batchSize = opts.batch ?? 5_000;
  const deadline = Date.now() + (opts.timeoutMs ?? 600_000);
  const nc = await connect({ servers: opts.natsUrl });
  // chdb types its connection against its own copy of @clickhouse/client-common; the shapes match.
  const connection = createChdbConnection({ path: opts.dataDir }) as unknown as NonNullable<ClickHouseClientConfigOptions["connection"]>;
  const ch = createClient({ connection });
  try {
    await (await jetstreamManager(nc)).consumers.add("RAW", { durable_name: "peer", ack_policy: AckPolicy.Explicit, max_ack_pending: 4 * batchSize, ack_wait: 60_000_000_000 });
    await ch.command({ query: "CREATE DATABASE IF NOT EXISTS peer" });
    await ch.command({ query: `CREATE TABLE IF NOT EXISTS peer.readings (sensor_id String, event_time DateTime64(3), temperature Nullable(Float64), raw_seq UInt64, payload String)
      ENGINE = MergeTree ORDER BY (sensor_id, event_time)` });
    const validate = createAjv().compile(iotSchema);
    const consumer = await jetstream(nc).consumers.get("RAW", "peer");
    const started = performance.now();
    let rows = 0;
    let invalid = 0;
    while (rows + invalid < opts.expect) {
      if (Date.now() > deadline) throw new Error(`peer loop: ${rows + invalid} of ${opts.expect} messages in time`);
      const messages = [];
      const values = [];
      // A last partial batch asks for what is left: waiting out `expires` would time the wait, not the loop.
      for await (const m of await consumer.fetch({ max_messages: Math.min(batchSize, opts.expect - rows - invalid), expires: 1_000 })) {
        messages.push(m);
        let payload: Record<string, unknown>;
        try {
          payload = JSON.parse(m.string()) as Record<string, unknown>;
        } catch {
          invalid++;
          continue;
        }
        if (!validate(payload)) {
          invalid++;
          continue;
        }
        const temperature = typeof payload.temperature === "number" ? payload.temperature : null;
        values.push({ sensor_id: payload.sensor_id, event_time: asDateTime64(eventMs(payload.ts)), temperature, raw_seq: m.seq, payload: m.string() });
      }
      if (values.length > 0) await ch.insert({ table: "peer.readings", values, format: "JSONEachRow" });
      for (const m of messages) m.ack();
      rows += values.length;
    }
    await nc.flush();
    const seconds = (performance.now() - started) / 1000;
    const stored = Number(((await (await ch.query({ query: "SELECT count() AS n FROM peer.readings", format: "JSONEachRow" })).json()) as Array<{ n: string }>)[0].n);
    if (stored !== rows) throw new Error(`peer loop: peer.readings holds ${stored} rows, inserted ${rows}`);
    return { rows, invalid, seconds };
  } finally {
    await ch.close();
    await drainPending();
    await nc.close();
  }
}
