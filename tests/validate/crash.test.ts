// validate is a keyed actor: its tasks read RAW in order from checkpoints. These tests kill a real
// `sluice actor validate` process with SIGKILL and check that what it leaves on EVENTS and DQ is
// what one uninterrupted pass of its handler gives over the same RAW messages.
import { eventsOf } from "../../actors/runtime/delivery.ts";
import { eventMsgId } from "../../subjects/identity.ts";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { createGenerator } from "../../actors/generate/index.ts";
import { keyedBuckets } from "../../actors/runtime/keyed/ownership.ts";
import { validateDefinition } from "../../actors/validate/index.ts";
import { SchemaRegistry } from "../../subjects/registry/index.ts";
import { TEST_PII_KEYS } from "../harness/keyring.ts";
import { trace } from "@opentelemetry/api";
import type { Inbound, Outbound } from "../../actors/runtime/actor.ts";
import { HEADERS } from "../../subjects/catalog.ts";
import { ensureStreams } from "../../subjects/setup.ts";
import { DEFAULT_PARTITIONS, loadConfig } from "../../config/index.ts";
import { streamOverrides } from "../../actors/pipeline.ts";
import { NatsServer } from "../harness/nats-server.ts";
import { publishAll, streamCount } from "../harness/pipeline.ts";
import { SluiceProcess } from "../harness/sluice-process.ts";
import { waitFor } from "../harness/wait.ts";
import { readStream } from "../harness/keyed-replay.ts";
import type { TestMessage } from "../harness/events.ts";

const test = suite("validate: SIGKILL and restart give the uninterrupted EVENTS and DQ");
const text = (data: Uint8Array | string) => (typeof data === "string" ? data : new TextDecoder().decode(data));

/**
 * The events on EVENTS, a batch message's one by one: subject, the event's own id (a batched
 * event's is the one it would have alone), body and warnings (only a single-event message carries them).
 */
async function readEvents(nc: NatsConnection): Promise<Array<{ subject: string; msgId: string; body: string; warnings: string }>> {
  const out: Array<{ subject: string; msgId: string; body: string; warnings: string }> = [];
  for (const m of await readStream(nc, "EVENTS")) {
    for (const e of eventsOf(m.subject, m.seq, m.headers, m.data)) {
      const body = text(e.data);
      const { source, key, event_id } = JSON.parse(body) as { source: string; key: string; event_id: string };
      out.push({ subject: m.subject, msgId: e.index === undefined ? m.headers?.get(HEADERS.msgId) ?? "" : eventMsgId(source, key, event_id), body, warnings: e.index === undefined ? m.headers?.get(HEADERS.dqWarnings) ?? "" : "" });
    }
  }
  return out;
}

/** An EVENTS message as compared: subject, id, body and the data-quality warnings it carries. */
type Stored = [subject: string, msgId: string, body: string, warnings: string];
const keyOf = (body: string) => {
  const e = JSON.parse(body) as { source: string; key: string };
  return `${e.source}/${e.key}`;
};

interface Expected {
  /** source/key → its events in order. */
  readonly events: Map<string, Stored[]>;
  /** DQ msgId → body. */
  readonly dq: Map<string, string>;
}

/**
 * What one uninterrupted validate publishes for what RAW holds now: the keyed definition's own
 * handler over each task's messages in stored order, in one batch, with no runner between.
 */
async function expected(nc: NatsConnection): Promise<Expected> {
  // Started as the runner starts it: the registry's schemas (the shipped v2 protects PII), the children's keyring, the reference buckets.
  const registry = await SchemaRegistry.open(nc);
  const def = validateDefinition({ partitions: DEFAULT_PARTITIONS, schemas: registry, keyring: { path: "", inline: TEST_PII_KEYS } });
  const stopped = new AbortController();
  await def.start!({
    actor: "validate", nc, log: console, signal: stopped.signal, tracer: trace.getTracer("test"),
    kv: (bucket, opts) => new Kvm(nc).create(bucket, opts),
    objectStore: () => Promise.reject(new Error("validate opens no object store")),
    use: () => Promise.reject(new Error("validate was given its schemas")),
  });
  try {
    return handled(def, await readStream(nc, "RAW"));
  } finally {
    stopped.abort();
    await def.stop?.();
    await registry.close();
  }
}

function handled(def: ReturnType<typeof validateDefinition>, raw: JsMsg[]): Expected {
  const events = new Map<string, Stored[]>();
  const dq = new Map<string, string>();
  for (const task of def.reads.tasks) {
    const prefix = String(task.filter).slice(0, -1);
    const inputs: Inbound[] = raw.filter((m) => m.subject.startsWith(prefix)).map((m) => {
      const headers = new Map<string, string>();
      if (m.headers) for (const k of m.headers.keys()) headers.set(k, m.headers.get(k));
      return { subject: m.subject, stream: "RAW", seq: m.seq, deliveries: 1, timestampMs: Number(m.timestampNanos / 1_000_000n), headers, data: m.data, traceId: "" };
    });
    const seen = new Set<string>();
    def.handle(def.createState(task), inputs, {
      emit: (_input, o: Outbound) => {
        // EVENTS keeps the first of a repeated id.
        if (seen.has(o.msgId!)) return;
        seen.add(o.msgId!);
        const body = text(o.data);
        const list = events.get(keyOf(body)) ?? [];
        list.push([o.subject, o.msgId!, body, o.headers?.[HEADERS.dqWarnings] ?? ""]);
        events.set(keyOf(body), list);
      },
      emitUnbound: (o) => void dq.set(o.msgId!, text(o.data)),
      reject: () => undefined,
      scope: `${def.fingerprint}.${task.id}`,
      log: console,
    });
  }
  return { events, dq };
}

async function storedEvents(nc: NatsConnection): Promise<{ byKey: Map<string, Stored[]>; ids: string[] }> {
  const byKey = new Map<string, Stored[]>();
  const ids: string[] = [];
  for (const m of await readEvents(nc)) {
    const id = m.msgId;
    ids.push(id);
    const list = byKey.get(keyOf(m.body)) ?? [];
    list.push([m.subject, id, m.body, m.warnings]);
    byKey.set(keyOf(m.body), list);
  }
  return { byKey, ids };
}

interface Env {
  nc: NatsConnection;
  env: Record<string, string>;
  procs: SluiceProcess[];
  close(): Promise<void>;
}

async function startEnv(): Promise<Env> {
  const nats = await NatsServer.start();
  const stateDir = mkdtempSync(join(tmpdir(), "sluice-validate-"));
  const nc = await connect({ servers: nats.url });
  // The streams as `sluice actor` expects them, so the children find them as they would create them.
  await ensureStreams(await jetstreamManager(nc), streamOverrides(loadConfig({ SLUICE_STATE_DIR: stateDir })));
  const procs: SluiceProcess[] = [];
  return {
    nc, procs,
    env: { NATS_URL: nats.url, SLUICE_STATE_DIR: stateDir, SLUICE_LOG_LEVEL: "info" },
    async close() {
      for (const p of procs) await p.kill("SIGKILL");
      await nc.close();
      await nats.stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** Checkpointed RAW position of each validate task (0: none yet). */
async function checkpoints(nc: NatsConnection): Promise<Record<string, number>> {
  // create() binds the bucket the runner made (same config).
  const kv = await new Kvm(nc).create(keyedBuckets("validate").leases, { history: 1 });
  const out: Record<string, number> = {};
  for (const task of ["iot", "txn", "social", "other"]) {
    const entry = await kv.get(task);
    const value = entry?.value.length ? (JSON.parse(entry.string()) as { checkpoint?: { seq: number } }) : undefined;
    out[task] = value?.checkpoint?.seq ?? 0;
  }
  return out;
}

/** Events `n` × 50 ms apart, ending a few minutes before now: fresh enough for most expectations, with anomalies for the rest. */
const generated = (seed: number, n: number): TestMessage[] =>
  createGenerator({ seed, runId: `r${seed}`, startTime: Date.now() - 180_000 - n * 50, sources: ["iot", "txn", "social"], anomalyRate: 0.05, intervalMs: 50, entities: { iot: 20, txn: 50, social: 40 } })
    .take(n)
    .map((e) => ({ subject: e.subject, body: JSON.stringify(e.payload) }));

/**
 * The SIGKILL test's environment, its restarted validate running, while the file's other tests
 * run: its DQ counts go out only once stream time has passed the minute of the kill, and those
 * tests use up most of the wait for that minute to end.
 */
let killed: { env: Env; minuteOver: number } | undefined;

test("SIGKILL mid-backlog and restart (checked in the file's last test, once the minute of the kill is over)", async () => {
  const env = await startEnv();
  try {
    const first = generated(11, 3_000);
    // Unknown sources and broken payloads as well: the `other` task and dead letters take part.
    const broken: TestMessage[] = [{ subject: "raw.bogus.x", body: "{}" }, { subject: "raw.iot", body: "{}" }, { subject: "raw.iot.s-1", body: "{" }];
    // One event id under two keys, before and after the kill: event_id_unique fails once.
    const repeat = (key: string): TestMessage => ({ subject: `raw.iot.${key}`, body: JSON.stringify({ sensor_id: key, ts: new Date(Date.now() - 60_000).toISOString(), temperature: 20, event_id: "repeat-1" }) });
    await publishAll(env.nc, [...first, ...broken, repeat("dq-a")]);
    const a = SluiceProcess.start(["actor", "validate"], env.env);
    env.procs.push(a);
    await waitFor(() => streamCount(env.nc, "EVENTS").catch(() => 0), (n) => n >= first.length - 50, 30_000);
    // Past the first checkpoint interval (5 s): the next batch writes a checkpoint, so the restart restores state.
    await sleep(5_500);
    const backlog = generated(12, 25_000);
    await publishAll(env.nc, [...backlog, repeat("dq-b")]);
    const total = first.length + backlog.length;
    const at = await waitFor(() => streamCount(env.nc, "EVENTS"), (n) => n >= first.length + 3_000, 60_000, 20);
    // A checkpoint is written after a batch, and the write takes a moment: wait for it, not longer.
    const saved = await waitFor(() => checkpoints(env.nc), (c) => c.iot > 0, 10_000, 20);
    await a.kill("SIGKILL");
    const killedAt = await streamCount(env.nc, "EVENTS");
    assert.ok(killedAt < total - 1_000, `killed mid-backlog: EVENTS ${killedAt} (seen ${at}) of about ${total}\n${a.output}`);
    assert.ok(saved.iot > 0, `a checkpoint was written before the kill: ${JSON.stringify(saved)}\n${a.output}`);

    const b = SluiceProcess.start(["actor", "validate"], env.env);
    env.procs.push(b);
    // A minute's DQ counts go out once a message of a later minute (stream time) arrives: one per task.
    const now = Date.now();
    killed = { env, minuteOver: now - (now % 60_000) + 60_000 + 300 };
  } catch (err) {
    await env.close();
    throw err;
  }
});

test("the gate's unique and monotonic state survives SIGKILL: a repeat of an id and a step back seen before the kill are caught after it", async () => {
  const env = await startEnv();
  try {
    const reading = (key: string, eventId: string, ts: string) => ({ subject: `raw.iot.${key}`, body: JSON.stringify({ sensor_id: key, ts, temperature: 20, event_id: eventId }) });
    const now = Date.now();
    const iso = (ago: number) => new Date(now - ago).toISOString();
    const a = SluiceProcess.start(["actor", "validate"], env.env);
    env.procs.push(a);
    await publishAll(env.nc, [reading("s-a", "dup-1", iso(10_000))]);
    await waitFor(() => streamCount(env.nc, "EVENTS").catch(() => 0), (n) => n >= 1, 30_000);
    await sleep(5_500);
    // This batch comes after the checkpoint interval, so a checkpoint covering both follows it.
    await publishAll(env.nc, [reading("s-c", "filler-1", iso(10_000))]);
    const seqOfFiller = (await (await jetstreamManager(env.nc)).streams.info("RAW")).state.last_seq;
    await waitFor(() => checkpoints(env.nc), (c) => c.iot >= seqOfFiller, 10_000, 100);
    await a.kill("SIGKILL");

    const b = SluiceProcess.start(["actor", "validate"], env.env);
    env.procs.push(b);
    // Another key with the same event id (a new event on EVENTS, a repeat for event_id_unique), and s-a going back in time.
    await publishAll(env.nc, [reading("s-b", "dup-1", iso(9_000)), reading("s-a", "back-1", iso(20_000))]);
    await waitFor(() => streamCount(env.nc, "EVENTS"), (n) => n >= 4, 30_000);
    const warnings = Object.fromEntries((await readEvents(env.nc)).map((m) => {
      const e = JSON.parse(m.body) as { key: string; event_id: string };
      return [`${e.key}/${e.event_id}`, m.warnings];
    }));
    assert.equal(warnings, { "s-a/dup-1": "", "s-c/filler-1": "", "s-b/dup-1": "event_id_unique", "s-a/back-1": "event_time_in_order" },
      `s-b repeats an id seen before the kill, s-a's back-1 steps back from a time seen before it\n${b.output}`);
  } finally {
    await env.close();
  }
});

test("two validate instances split the tasks; one leaving mid-stream hands its tasks over without a gap, a duplicate or a reordering", async () => {
  const env = await startEnv();
  try {
    const input = [...generated(21, 9_000), { subject: "raw.bogus.z", body: "{}" }];
    const a = SluiceProcess.start(["actor", "validate"], env.env);
    env.procs.push(a);
    await publishAll(env.nc, input.slice(0, 3_000));
    await waitFor(() => streamCount(env.nc, "EVENTS").catch(() => 0), (n) => n > 0, 30_000);
    const b = SluiceProcess.start(["actor", "validate"], env.env);
    env.procs.push(b);
    await waitFor(async () => b.output, (o) => /runs task/.test(o), 15_000, 100);
    await publishAll(env.nc, input.slice(3_000, 6_000));
    await a.kill("SIGTERM");
    await publishAll(env.nc, input.slice(6_000));
    const want = await expected(env.nc);
    const wantEvents = [...want.events.values()].reduce((n, l) => n + l.length, 0);
    await waitFor(() => streamCount(env.nc, "EVENTS"), (n) => n >= wantEvents, 60_000);
    await sleep(1_000);
    assert.match(a.output, /runs task/);
    const got = await storedEvents(env.nc);
    assert.is(new Set(got.ids).size, got.ids.length, "no event twice on EVENTS");
    assert.is(got.ids.length, wantEvents, `${a.output}\n---\n${b.output}`);
    for (const [key, events] of want.events) assert.equal(got.byKey.get(key), events, `events of ${key} in order`);
    const dq = await readStream(env.nc, "DQ");
    assert.equal(new Map(dq.map((m) => [m.headers?.get(HEADERS.msgId) ?? "", m.string()])), want.dq);
  } finally {
    await env.close();
  }
});

test("SIGKILL mid-backlog and restart: EVENTS per key in the uninterrupted order with no duplicate, DQ counts exactly those of one pass", async () => {
  assert.ok(killed, "the SIGKILL test left its environment running (it failed before its restart)");
  const { env, minuteOver } = killed;
  try {
    await sleep(Math.max(0, minuteOver - Date.now()));
    await publishAll(env.nc, [...generated(13, 30), { subject: "raw.bogus.y", body: "{}" }]);
    const want = await expected(env.nc);
    const wantEvents = [...want.events.values()].reduce((n, l) => n + l.length, 0);
    assert.ok(want.dq.size > 10, `DQ reports to compare: ${want.dq.size}`);
    await waitFor(() => streamCount(env.nc, "EVENTS"), (n) => n >= wantEvents, 60_000);
    await waitFor(() => streamCount(env.nc, "DQ"), (n) => n >= want.dq.size, 30_000);
    await sleep(1_500);

    const got = await storedEvents(env.nc);
    assert.is(new Set(got.ids).size, got.ids.length, "no event twice on EVENTS");
    assert.is(got.ids.length, wantEvents);
    for (const [key, events] of want.events) assert.equal(got.byKey.get(key), events, `events of ${key} in order`);

    const dq = await readStream(env.nc, "DQ");
    const dqIds = dq.map((m) => m.headers?.get(HEADERS.msgId) ?? "");
    assert.is(new Set(dqIds).size, dqIds.length, "no DQ report twice");
    assert.equal(new Map(dq.map((m) => [m.headers?.get(HEADERS.msgId) ?? "", m.string()])), want.dq, "DQ reports (ids and counts) of one pass");
    const failed = [...want.dq.values()].reduce((n, b) => n + (JSON.parse(b) as { failed: number }).failed, 0);
    assert.ok(failed > 0, "some expectations failed, so counts of failures are compared too");
  } finally {
    await env.close();
  }
});

test.run();
