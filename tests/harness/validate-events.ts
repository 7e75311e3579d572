import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { eventsOf } from "../../actors/runtime/delivery.ts";
import { keyedBuckets } from "../../actors/runtime/keyed/ownership.ts";
import { streamOverrides } from "../../actors/pipeline.ts";
import { loadConfig } from "../../config/index.ts";
import { collect, withDeadline } from "../../nats/deadline.ts";
import { EVENTS_HEADER } from "../../subjects/event-batch.ts";
import { ensureStreams } from "../../subjects/setup.ts";
import { NatsServer } from "./nats-server.ts";
import { SluiceProcess } from "./sluice-process.ts";

/** An event as EVENTS stores it: its id, its subject, and whether a batch message carries it. */
export interface StoredEvent {
  readonly id: string;
  readonly subject: string;
  readonly batched: boolean;
}

/** Every event on EVENTS in stream order, a batch's one by one, and how many messages carry them. */
export async function eventsOnStream(nc: NatsConnection): Promise<{ events: StoredEvent[]; messages: number }> {
  const total = (await withDeadline((await jetstreamManager(nc)).streams.info("EVENTS"), { what: "EVENTS info" })).state.messages;
  const consumer = await withDeadline(jetstream(nc).consumers.get("EVENTS"), { what: "ordered consumer on EVENTS" });
  const decoder = new TextDecoder();
  const events: StoredEvent[] = [];
  let messages = 0;
  while (messages < total) {
    const batch = await collect(consumer.fetch({ max_messages: Math.min(total - messages, 1_000), expires: 2_000 }), { what: "fetch EVENTS", timeoutMs: 15_000 });
    if (batch.length === 0) break;
    messages += batch.length;
    for (const m of batch) {
      const batched = Boolean(m.headers?.get(EVENTS_HEADER));
      for (const e of eventsOf(m.subject, m.seq, m.headers, m.data)) events.push({ id: (JSON.parse(decoder.decode(e.data)) as { event_id: string }).event_id, subject: m.subject, batched });
    }
  }
  return { events, messages };
}

/** The RAW sequence the checkpoint of validate's `task` covers (0: none yet). */
export async function validateCheckpoint(nc: NatsConnection, task: string): Promise<number> {
  // create() binds the bucket the runner made (same config).
  const leases = await new Kvm(nc).create(keyedBuckets("validate").leases, { history: 1 });
  const entry = await leases.get(task);
  return entry?.value.length ? ((JSON.parse(entry.string()) as { checkpoint?: { seq: number } }).checkpoint?.seq ?? 0) : 0;
}

/** A nats-server with sluice's streams and a state directory for `sluice actor validate` processes. */
export interface ValidateEnv {
  readonly nats: NatsServer;
  readonly nc: NatsConnection;
  readonly stateDir: string;
  readonly procs: SluiceProcess[];
  /** A validate process on this server and state directory, with `env` on top; killed by close(). */
  start(env?: Record<string, string>): SluiceProcess;
  close(): Promise<void>;
}

export async function startValidateEnv(prefix: string): Promise<ValidateEnv> {
  const nats = await NatsServer.start();
  const stateDir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1 });
  // The streams as `sluice actor` expects them, so the children find them as they would create them.
  await ensureStreams(await jetstreamManager(nc), streamOverrides(loadConfig({ SLUICE_STATE_DIR: stateDir })));
  const procs: SluiceProcess[] = [];
  return {
    nats, nc, stateDir, procs,
    start(env = {}) {
      const p = SluiceProcess.start(["actor", "validate"], { NATS_URL: nats.url, SLUICE_STATE_DIR: stateDir, SLUICE_LOG_LEVEL: "info", ...env });
      procs.push(p);
      return p;
    },
    async close() {
      for (const p of procs) await p.kill("SIGKILL");
      await nc.close();
      await nats.stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
