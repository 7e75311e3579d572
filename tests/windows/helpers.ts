import { connect, type NatsConnection } from "@nats-io/transport-node";
import { streamEvents } from "../harness/run-snapshot.ts";
import { jetstreamManager } from "@nats-io/jetstream";
import { setTimeout as sleep } from "node:timers/promises";
import { NatsServer } from "../harness/nats-server.ts";
import type { TestMessage } from "../harness/events.ts";
import { publishAll, startTestPipeline, type TestPipeline } from "../harness/pipeline.ts";
import type { ActorName } from "../../actors/pipeline.ts";

export const BASE = Date.UTC(2026, 10, 27, 10, 0, 0);
const SITES = ["berlin", "lisbon", "oslo"];

/**
 * IoT readings of `sensors` sensors on three sites, one reading per sensor every `everyMs` of
 * event time for `minutes`, the sensors staggered evenly within each step (so the n-th message
 * is about n × everyMs / sensors into the stream), with temperature, humidity and a silence of 4
 * minutes in the middle for every third sensor (so sessions close and reopen). Deterministic.
 */
export function readings(sensors: number, minutes: number, everyMs = 10_000): TestMessage[] {
  const out: TestMessage[] = [];
  for (let t = BASE; t < BASE + minutes * 60_000; t += everyMs) {
    for (let s = 0; s < sensors; s++) {
      const quiet = s % 3 === 0 && t >= BASE + 3 * 60_000 && t < BASE + 7 * 60_000;
      if (quiet) continue;
      const i = (t - BASE) / everyMs;
      const temperature = 15 + ((s * 7 + i * 3) % 23) * 0.5;
      const humidity = 30 + ((s * 11 + i) % 40);
      const at = t + Math.floor((s * everyMs) / sensors);
      const body = { sensor_id: `sensor-${s}`, site: SITES[s % SITES.length], ts: new Date(at).toISOString(), temperature, humidity };
      out.push({ subject: `raw.iot.sensor-${s}`, body: JSON.stringify(body) });
    }
  }
  return out;
}

/** A pressure-only reading per sensor far ahead: every partition's watermark passes every window above. */
export function flush(sensors: number, atMs = BASE + 3 * 3600_000): TestMessage[] {
  return Array.from({ length: sensors }, (_, s) => ({
    subject: `raw.iot.sensor-${s}`,
    body: JSON.stringify({ sensor_id: `sensor-${s}`, ts: new Date(atMs).toISOString(), pressure: 1000 }),
  }));
}

/** Moves each message at most `maxShift` places, seeded: disorder bounded by maxShift × spacing. */
export function boundedShuffle<T>(items: readonly T[], maxShift: number, seed = 7): T[] {
  let x = seed;
  const rand = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const keyed = items.map((item, i) => ({ item, k: i + rand() * maxShift }));
  return keyed.sort((a, b) => a.k - b.k).map((e) => e.item);
}

export interface Env {
  nats: NatsServer;
  nc: NatsConnection;
  /** validate and the ClickHouse sinks (chDB), not the window actor. */
  pipeline: TestPipeline;
  close(): Promise<void>;
}

const NON_WINDOW: ActorName[] = ["validate", "clickhouse-sink-events", "clickhouse-sink-dlq", "clickhouse-sink-agg", "clickhouse-sink-late"];

export async function startEnv(): Promise<Env> {
  const nats = await NatsServer.start();
  // settle() waits for the AGG sink to hold nothing: 100 ms sink batches, as the other pipeline tests use.
  const pipeline = await startTestPipeline(nats.url, { actors: NON_WINDOW, env: { SLUICE_SINK_BATCH_MS: "100" } });
  const nc = await connect({ servers: nats.url });
  return {
    nats, nc, pipeline,
    async close() {
      await nc.close();
      await pipeline.cleanup();
      await nats.stop();
    },
  };
}

/** The window actor in this process, as `sluice actor window` runs it. */
export function startWindow(env: Env): Promise<TestPipeline> {
  return startTestPipeline(env.nats.url, { actors: ["window"] });
}

export async function publishInChunks(nc: NatsConnection, messages: TestMessage[], chunk: number, pauseMs: number): Promise<void> {
  for (let i = 0; i < messages.length; i += chunk) {
    await publishAll(nc, messages.slice(i, i + chunk));
    if (pauseMs) await sleep(pauseMs);
  }
}

async function aggSettled(env: Env): Promise<string> {
  const jsm = await jetstreamManager(env.nc);
  const agg = await jsm.streams.info("AGG");
  // Events, not messages: validate carries many in one EVENTS message.
  const events = await streamEvents(env.nc, "EVENTS");
  const sink = await jsm.consumers.info("AGG", "clickhouse-sink-agg");
  return `${events}/${agg.state.messages}/${sink.num_pending + sink.num_ack_pending}`;
}

/** Waits until EVENTS has `events` events and AGG has stopped growing and is fully in ClickHouse. */
export async function settle(env: Env, events: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  let stable = 0;
  while (Date.now() < deadline) {
    const now = await aggSettled(env);
    const [e, a, pending] = now.split("/").map(Number);
    if (e >= events && a > 0 && pending === 0 && now === last) {
      if (++stable >= 4) return;
    } else stable = 0;
    last = now;
    await sleep(500);
  }
  throw new Error(`window results did not settle in ${timeoutMs} ms (EVENTS/AGG/sink pending: ${last})`);
}

/** Every final window row, in a stable order, without the columns that name a run (trace, emit time). */
export async function finalRows(env: Env): Promise<string[]> {
  const rs = await env.pipeline.clickhouse!.client.query({
    query: `SELECT window_id, source, kind, key, metric, toString(window_start) AS ws, toString(window_end) AS we, count, sum, min, max,
                   mean, stddev, p50, p95, p99, distinct_count, version
            FROM sluice.windows ORDER BY window_id, metric`,
    format: "JSONEachRow",
  });
  return ((await rs.json()) as unknown[]).map((r) => JSON.stringify(r));
}

/** Row-by-row comparison with the first difference spelled out. */
export function sameRows(a: string[], b: string[]): string | undefined {
  if (a.length !== b.length) return `${a.length} rows vs ${b.length} rows`;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `row ${i}:\n  ${a[i]}\n  ${b[i]}`;
  return undefined;
}
