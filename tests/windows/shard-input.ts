// Input and probes shared by the group-shard tests: all three sources with their payload-field
// groups, published straight onto EVENTS the way validate partitions them.
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../harness/nats-server.ts";
import { streamMessages, type StreamMessage } from "../harness/run-snapshot.ts";
import { waitFor } from "../harness/wait.ts";
import { ensureStreams } from "../../subjects/setup.ts";
import { partitionOf, subject } from "../../subjects/catalog.ts";
import type { Envelope } from "../../subjects/envelope.ts";
import type { Source } from "../../subjects/sources.ts";
import type { WindowActorOptions } from "../../actors/window/index.ts";
import { BASE } from "./helpers.ts";

export const PARTITIONS = 2;
export const SHARDS = 4;
// Idle timeouts far beyond any pause between publishes, so stream-time gaps decide nothing; the
// flush at the end moves every partition's watermark.
export const OPTS: WindowActorOptions = { partitions: PARTITIONS, groupShards: SHARDS, idleMs: 600_000, rebalanceMs: 100, checkpointEveryMs: 500 };

export function envelope(source: Source, key: string, t: number, payload: Record<string, unknown>): Envelope {
  return { event_id: `${source}-${key}-${t}`, source, key, schema_version: 1, event_time: t, ingest_time: t, payload, raw_subject: subject.raw(source, key), raw_seq: 0 };
}

/** Six minutes of all three sources with their payload-field groups, then late events, then a far flush per partition. */
export function input(): Envelope[] {
  const out: Envelope[] = [];
  for (let i = 0; i < 36; i++) {
    const t = BASE + i * 10_000;
    for (let s = 0; s < 12; s++) out.push(envelope("iot", `sensor-${s}`, t + s * 500, { sensor_id: `sensor-${s}`, site: `site-${s % 5}`, temperature: 10 + ((s * 7 + i * 3) % 17) * 0.5 }));
    for (let c = 0; c < 8; c++) out.push(envelope("txn", `cust-${c}`, t + c * 700, { customer_id: `cust-${c}`, merchant_id: `m-${(c + i) % 6}`, amount: 5 + ((c * 13 + i) % 40) }));
    for (let u = 0; u < 8; u++) out.push(envelope("social", `user-${u}`, t + u * 900, { user_id: `user-${u}`, topic: `topic-${(u * 3 + i) % 5}`, likes: (u + i) % 9, reposts: i % 3 }));
  }
  const end = BASE + 36 * 10_000;
  // Behind every watermark: counted in the windows still open, a late row for the closed ones.
  out.push(envelope("iot", "sensor-3", end - 240_000 + 1, { sensor_id: "sensor-3", site: "site-3", temperature: 40 }));
  out.push(envelope("txn", "cust-2", end - 400_000 + 1, { customer_id: "cust-2", merchant_id: "m-1", amount: 999 }));
  out.push(envelope("social", "user-5", end - 200_000 + 1, { user_id: "user-5", topic: "topic-0", likes: 50 }));
  for (const source of ["iot", "txn", "social"] as const) {
    for (let p = 0; p < PARTITIONS; p++) {
      const key = Array.from({ length: 50 }, (_, i) => `flush-${i}`).find((k) => partitionOf(k, PARTITIONS) === p)!;
      out.push(envelope(source, key, BASE + 3 * 3600_000, { site: "zz", merchant_id: "zz", topic: "zz" }));
    }
  }
  return out;
}

export async function publish(nc: NatsConnection, events: Envelope[]): Promise<void> {
  const js = jetstream(nc);
  for (const e of events) await js.publish(subject.events(e.source, partitionOf(e.key, PARTITIONS)), JSON.stringify(e), { msgID: `${e.source}:${e.key}:${e.event_id}` });
}

/** AGG and LATE as `msgId → body` lines (multiplicity kept), without emitted_at: the stream timestamp of the firing message, which is wall clock. */
export async function outputs(nc: NatsConnection, keep: (m: StreamMessage, body: Record<string, unknown>) => boolean = () => true): Promise<string[]> {
  const messages = [...(await streamMessages(nc, "AGG")), ...(await streamMessages(nc, "LATE"))];
  return messages.flatMap((m) => {
    const parsed = JSON.parse(m.data) as Record<string, unknown>;
    const { emitted_at: _wallClock, ...body } = parsed;
    return keep(m, parsed) ? [`${m.msgId} ${JSON.stringify(body)}`] : [];
  }).sort();
}

/** Settled: AGG and LATE unchanged over three polls. */
export async function settled(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc);
  let last = "";
  const final = await waitFor(async () => {
    const now = `${(await jsm.streams.info("AGG")).state.messages}/${(await jsm.streams.info("LATE")).state.messages}`;
    const same = now === last && !now.startsWith("0/");
    last = now;
    return same;
  }, Boolean, 30_000, 1_000);
  assert.ok(final, `AGG/LATE did not settle: ${last}`);
}

export async function withServer<T>(work: (nats: NatsServer, nc: NatsConnection) => Promise<T>): Promise<T> {
  const nats = await NatsServer.start();
  const nc = await connect({ servers: nats.url });
  try {
    await ensureStreams(await jetstreamManager(nc));
    return await work(nats, nc);
  } finally {
    await nc.close();
    await nats.stop();
  }
}

