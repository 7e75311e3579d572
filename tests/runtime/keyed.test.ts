import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { NatsServer } from "../harness/nats-server.ts";
import { streamMessages } from "../harness/run-snapshot.ts";
import { waitFor } from "../harness/wait.ts";
import { ensureStreams } from "../../subjects/setup.ts";
import { HEADERS } from "../../subjects/catalog.ts";
import { createLogger } from "../../actors/runtime/log.ts";
import { keyedActor } from "../../actors/runtime/keyed/run.ts";
import { durableAckFloor } from "../../actors/runtime/keyed/upgrade.ts";
import { keyedBuckets, type LeaseValue } from "../../actors/runtime/keyed/ownership.ts";
import { counter, type CounterOutput } from "./keyed-counter.ts";

const test = suite<{ nats: NatsServer; nc: NatsConnection }>("keyed runtime: checkpoints, resume, dead letters");
const log = createLogger("error");

test.before.each(async (ctx) => {
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
  await ensureStreams(await jetstreamManager(ctx.nc));
});
test.after.each(async (ctx) => {
  await ctx.nc?.close();
  await ctx.nats?.stop();
});

async function publish(nc: NatsConnection, p: number, bodies: string[]): Promise<void> {
  const js = jetstream(nc);
  for (const b of bodies) await js.publish(`events.ktest.${p}`, b);
}

async function outputs(nc: NatsConnection): Promise<CounterOutput[]> {
  return (await streamMessages(nc, "AGG")).map((m) => JSON.parse(m.data) as CounterOutput);
}

/** Runs the counter until `until` holds, then stops it (SIGTERM's path: final checkpoint, release). */
async function runUntil(nc: NatsConnection, def: ReturnType<typeof counter>, until: () => Promise<boolean>): Promise<void> {
  const controller = new AbortController();
  const running = keyedActor(def, { rebalanceMs: 50, checkpointEveryMs: 60_000 }).run({ nc, log, signal: controller.signal });
  try {
    assert.ok(await waitFor(until, Boolean, 10_000, 50), "the actor caught up");
  } finally {
    controller.abort();
    await running;
  }
}

const ones = (n: number) => Array.from({ length: n }, () => "1");

test("a stop checkpoints state and position; the next run resumes there: counts go on, nothing is read twice", async ({ nc }) => {
  await publish(nc, 0, ones(30));
  await publish(nc, 1, ones(10));
  await runUntil(nc, counter({ label: "first" }), async () => (await outputs(nc)).length === 40);
  const leases = await new Kvm(nc).open(keyedBuckets("ktest").leases);
  const p0 = JSON.parse((await leases.get("p0"))!.string()) as LeaseValue;
  assert.is(p0.holder, null, "released on stop");
  assert.is(p0.checkpoint?.seq, 30, "p0's checkpoint covers its last message (EVENTS seq 30)");

  await publish(nc, 0, ones(5));
  await runUntil(nc, counter({ label: "second" }), async () => (await outputs(nc)).length === 45);
  const second = (await outputs(nc)).filter((o) => o.label === "second");
  assert.equal(second.map((o) => [o.task, o.seq, o.count]), [41, 42, 43, 44, 45].map((seq, i) => ["p0", seq, 31 + i]), "resumed at seq 41 with p0's count of 30");
});

test("a first start after an earlier deployment folds its messages but publishes only what came after", async ({ nc }) => {
  await publish(nc, 0, ones(30));
  await publish(nc, 0, ["poison"]);
  await publish(nc, 0, ones(9));
  await runUntil(nc, counter({ label: "upgraded", doneThrough: 35 }), async () => (await outputs(nc)).length === 5);
  await new Promise((r) => setTimeout(r, 300));
  const out = await outputs(nc);
  assert.equal(out.map((o) => [o.seq, o.count]), [[36, 35], [37, 36], [38, 37], [39, 38], [40, 39]], "counts include the quiet messages, outputs only after seq 35");
  assert.is((await streamMessages(nc, "DLQ")).length, 0, "the poison message at seq 31 was answered by the earlier deployment");

  // With a checkpoint, the hook is not asked again: everything new is published.
  await publish(nc, 0, ones(2));
  await runUntil(nc, counter({ label: "again", doneThrough: 1_000 }), async () => (await outputs(nc)).length === 7);
});

test("an earlier durable's ack floor is where outputs resume; no durable means a new deployment (0)", async ({ nc }) => {
  const io = { nc, signal: new AbortController().signal };
  assert.is(await durableAckFloor("EVENTS", "legacy")(undefined, io), 0);
  await publish(nc, 0, ones(6));
  const jsm = await jetstreamManager(nc);
  await jsm.consumers.add("EVENTS", { durable_name: "legacy", ack_policy: AckPolicy.Explicit, filter_subject: "events.>" });
  const consumer = await jetstream(nc).consumers.get("EVENTS", "legacy");
  for (let i = 0; i < 4; i++) await (await consumer.next())!.ackAck();
  assert.is(await durableAckFloor("EVENTS", "legacy")(undefined, io), 4);
});

test("a rejected message is a dead letter with the runtime's headers; the task goes on", async ({ nc }) => {
  await publish(nc, 0, ["1", "poison", "2"]);
  await runUntil(nc, counter({ label: "x" }), async () => (await outputs(nc)).length === 2);
  assert.equal((await outputs(nc)).map((o) => o.sum), [1, 3]);
  const [dl] = await waitFor(() => streamMessages(nc, "DLQ"), (m) => m.length === 1, 5_000, 100);
  assert.is(dl.subject, "dlq.ktest.ktest");
  assert.is(dl.msgId, "dlq:ktest:EVENTS:2");
  assert.is(dl.data, "poison");
  const stored = await (await jetstreamManager(nc)).streams.getMessage("DLQ", { seq: dl.seq });
  assert.is(stored!.header.get(HEADERS.errorCode), "not_a_number");
  assert.is(stored!.header.get(HEADERS.streamSequence), "2");
  assert.is(stored!.header.get(HEADERS.originalSubject), "events.ktest.0");
  assert.is(stored!.header.get(HEADERS.actor), "ktest");
});

test("another fingerprint does not restore the checkpoint: the task rebuilds from the stream's start, under other ids", async ({ nc }) => {
  await publish(nc, 0, ones(5));
  await runUntil(nc, counter({ label: "v1" }), async () => (await outputs(nc)).length === 5);
  await runUntil(nc, counter({ label: "v2", fingerprint: "f2" }), async () => (await outputs(nc)).length === 10);
  const all = await streamMessages(nc, "AGG");
  const v2 = all.map((m) => ({ id: m.msgId!, out: JSON.parse(m.data) as CounterOutput })).filter((m) => m.out.label === "v2");
  assert.equal(v2.map((m) => m.out.count), [1, 2, 3, 4, 5], "counted again from the first message");
  assert.ok(v2.every((m) => m.id.startsWith("f2.p0:")), v2.map((m) => m.id).join(", "));
});

test.run();
