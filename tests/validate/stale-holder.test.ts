// Batched EVENTS (SLUICE_EVENTS_BATCH=on) and a former lease holder that stalls between its lease
// check and its publish (a real SIGSTOP, tests/validate/stall-worker.ts), so that its batch comes
// after the new owner's restore read. Batch ids cannot catch it (the two cut RAW differently); the
// fence (actors/runtime/keyed/fence.ts) must: each case ends with every event once on EVENTS and
// one row per event in sluice.events, with and without FINAL.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { streamOverrides } from "../../actors/pipeline.ts";
import { loadConfig } from "../../config/index.ts";
import { ensureStreams } from "../../subjects/setup.ts";
import { validReadings } from "../harness/events.ts";
import { SluiceProcess } from "../harness/sluice-process.ts";
import { NatsServer } from "../harness/nats-server.ts";
import { publishAll, startTestPipeline } from "../harness/pipeline.ts";
import { waitFor } from "../harness/wait.ts";
import { eventsOnStream } from "../harness/validate-events.ts";
import type { TestMessage } from "../harness/events.ts";

const HOOK = fileURLToPath(new URL("./stall-hook.ts", import.meta.url));
const test = suite("validate, batched EVENTS: a stalled former holder's late batch never stores an event twice");

interface Env {
  readonly nats: NatsServer;
  readonly nc: NatsConnection;
  readonly stateDir: string;
  readonly workers: SluiceProcess[];
  start(stallAfterRawSeq: number): SluiceProcess;
  close(): Promise<void>;
}

async function startEnv(): Promise<Env> {
  const nats = await NatsServer.start();
  const stateDir = mkdtempSync(join(tmpdir(), "sluice-stale-"));
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1 });
  await ensureStreams(await jetstreamManager(nc), streamOverrides(loadConfig({ SLUICE_STATE_DIR: stateDir })));
  const workers: SluiceProcess[] = [];
  return {
    nats, nc, stateDir, workers,
    start(stallAfterRawSeq) {
      const p = SluiceProcess.start(["actor", "validate"], {
        NATS_URL: nats.url, SLUICE_STATE_DIR: stateDir, SLUICE_EVENTS_BATCH: "on", SLUICE_LOG_LEVEL: "info",
        NODE_OPTIONS: `--import tsx --import ${HOOK}`, STALL_AFTER_RAW_SEQ: String(stallAfterRawSeq),
      });
      if (process.env.STALE_DEBUG) {
        p.child.stdout?.pipe(process.stderr);
        p.child.stderr?.pipe(process.stderr);
      }
      workers.push(p);
      return p;
    },
    async close() {
      for (const w of workers) await kill(w);
      await nc.close();
      await nats.stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** SIGKILL, which a stopped process also gets at once. */
const kill = (w: SluiceProcess) => w.kill("SIGKILL");

/** The event ids on EVENTS, a batch's one by one, with how many messages carry them. */
async function eventIds(nc: NatsConnection): Promise<{ ids: string[]; messages: number }> {
  const { events, messages } = await eventsOnStream(nc);
  return { ids: events.map((e) => e.id), messages };
}

const eventCount = async (nc: NatsConnection) => (await eventsOnStream(nc)).events.length;
const rawLastSeq = async (nc: NatsConnection) => (await (await jetstreamManager(nc)).streams.info("RAW")).state.last_seq;

/**
 * Feeds RAW in small chunks while the first holder runs, so its handler batches are small, then
 * the rest at once: the next holder, restoring, reads the rest as a backlog in large batches and
 * cuts RAW otherwise than the stalled one did (the ids of their batches differ).
 */
async function feed(env: Env, readings: TestMessage[], a: SluiceProcess): Promise<void> {
  const chunk = 40;
  let sent = 0;
  while (sent < readings.length / 2 && !/STALLED/.test(a.output)) {
    await publishAll(env.nc, readings.slice(sent, sent + chunk));
    sent += chunk;
    // Each chunk handled before the next is sent: A's batches are a chunk or less.
    await waitFor(() => eventCount(env.nc).catch(() => 0), (n) => n >= sent || /STALLED/.test(a.output), 30_000, 50);
  }
  await waitFor(async () => a.output, (o) => /STALLED/.test(o), 30_000, 50);
  await publishAll(env.nc, readings.slice(sent));
}

/** Every event once on EVENTS, and once in sluice.events with and without FINAL (the sink run over it afterwards). */
async function assertOnce(env: Env, n: number, context: string): Promise<void> {
  const { ids, messages } = await eventIds(env.nc);
  const twice = ids.length - new Set(ids).size;
  assert.is(twice, 0, `no event twice on EVENTS (${ids.length} events in ${messages} messages)\n${context}`);
  assert.is(ids.length, n, `every event on EVENTS\n${context}`);
  const sink = await startTestPipeline(env.nats.url, { actors: ["clickhouse-sink-events"], env: { SLUICE_SINK_BATCH_MS: "100" } });
  try {
    const rows = await waitFor(() => sink.scalar("SELECT count() FROM sluice.events"), (r) => r >= n, 120_000, 500);
    // What the sink still has in hand would show as more rows: let it settle, then count again.
    await waitFor(() => sink.scalar("SELECT count() FROM sluice.events"), (r) => r === rows, 10_000, 1_000);
    assert.is(await sink.scalar("SELECT count() FROM sluice.events"), n, "one row per event without FINAL");
    assert.is(await sink.scalar("SELECT count() FROM sluice.events FINAL"), n, "and with FINAL");
    assert.is(await sink.scalar("SELECT uniqExact(event_id) FROM sluice.events"), n);
  } finally {
    await sink.cleanup();
  }
}

const N = 6_000;
const readings = () => validReadings(N, Date.UTC(2026, 10, 27, 10), 20);

test("the stale holder wakes after the new owner stored the same events: its batch is refused, it stops, nothing is stored twice", async () => {
  const env = await startEnv();
  try {
    // A stops before a batch well into the feed, with earlier batches stored.
    const a = env.start(400);
    await waitFor(async () => a.output, (o) => /runs task iot/.test(o), 60_000, 100);
    await feed(env, readings(), a);
    const b = env.start(-1);
    // B takes A's tasks once A's membership expires, restores and stores every event.
    await waitFor(() => eventCount(env.nc), (n) => n >= N, 120_000, 500);
    assert.match(b.output, /runs task iot/);
    a.child.kill("SIGCONT");
    // A's publish goes out with the last sequence A knew; B has written since: refused, and A's lease check stops the task.
    await waitFor(async () => a.output, (o) => /validate: .*task iot: lease of instance .* is lost/.test(o), 60_000, 200);
    await kill(a);
    await assertOnce(env, N, `--- A\n${a.output}\n--- B\n${b.output}`);
  } finally {
    await env.close();
  }
});

test("the stale holder's batch lands after the new owner's restore read and before its publish: the owner learns it and publishes only the rest", async () => {
  const env = await startEnv();
  try {
    const a = env.start(400);
    await waitFor(async () => a.output, (o) => /runs task iot/.test(o), 60_000, 100);
    await feed(env, readings(), a);
    const before = await rawLastSeq(env.nc);
    assert.ok(before >= N, "RAW holds every reading");
    // B also stops before its first batch to events.iot.*: after its restore read, before its publish.
    const b = env.start(0);
    await waitFor(async () => b.output, (o) => /STALLED/.test(o), 120_000, 100);
    const stored = await eventCount(env.nc);
    a.child.kill("SIGCONT");
    // A's batch lands (nobody wrote on its subjects since it knew them); its next lease check stops it.
    await waitFor(async () => a.output, (o) => /task iot: lease of instance .* is lost/.test(o), 60_000, 100);
    await kill(a);
    assert.ok(await eventCount(env.nc) > stored, `the stale holder's batch was stored\n${a.output}`);
    b.child.kill("SIGCONT");
    await waitFor(() => eventCount(env.nc), (n) => n >= N, 120_000, 500);
    await assertOnce(env, N, `--- A\n${a.output}\n--- B\n${b.output}`);
    assert.match(b.output, /holds a batch another writer stored/, `B's publish was refused and B learned the stale batch\n--- A\n${a.output}\n--- B\n${b.output}`);
  } finally {
    await env.close();
  }
});

test.run();
