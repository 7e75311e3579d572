import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { DiscardPolicy, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../harness/nats-server.ts";
import { AckedPublisher, PublishRefusedError } from "../../nats/publish.ts";
import { storedOn } from "./fixtures.ts";

const test = suite<{ nats: NatsServer; nc: NatsConnection; jsm: JetStreamManager }>("acked publisher");

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
  ctx.jsm = await jetstreamManager(ctx.nc);
});
test.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.nats?.stop();
});

test("a batch in flight: each publish resolves with its own PubAck, a repeated msgId as duplicate, headers stored", async ({ nc, jsm }) => {
  await jsm.streams.add({ name: "P1", subjects: ["p1.>"] });
  const publisher = new AckedPublisher(nc, { what: "test" });
  try {
    const acks = await Promise.all(Array.from({ length: 2_000 }, (_, i) => publisher.publish(`p1.k${i % 7}`, `{"i":${i}}`, { msgId: `m-${i}` })));
    assert.equal(acks.map((a) => a.seq), Array.from({ length: 2_000 }, (_, i) => i + 1), "PubAcks matched to their publishes, in order");
    assert.ok(acks.every((a) => a.stream === "P1" && !a.duplicate));
    const h = headers();
    h.set("Sluice-Test", "kept");
    const again = await publisher.publish("p1.k0", `{"i":0}`, { msgId: "m-0", headers: h });
    assert.is(again.duplicate, true, "the same msgId within the duplicate window");
    assert.is(again.seq, 1);
    const fresh = await publisher.publish("p1.h", "x", { msgId: "h-1", headers: h });
    const [stored] = await storedOn(nc, "P1", "p1.h");
    assert.is(stored.seq, fresh.seq);
    assert.is(stored.headers.get("Sluice-Test"), "kept");
    assert.is(stored.headers.get("Nats-Msg-Id"), "h-1");
    assert.is(publisher.inFlight, 0);
  } finally {
    publisher.close();
  }
});

test("a refusal, a subject no stream holds, and no answer at all each reject only their own publish", async ({ nc, jsm }) => {
  await jsm.streams.add({ name: "P2", subjects: ["p2.>"], discard: DiscardPolicy.New, max_msgs: 1 });
  // A core subscriber that never answers: the publish has a listener, so no "no responders" status.
  const silent = nc.subscribe("silent.x", { callback: () => undefined });
  await nc.flush();
  const publisher = new AckedPublisher(nc, { what: "test", timeoutMs: 300 });
  try {
    const [first, full, nowhere, unanswered] = await Promise.allSettled([
      publisher.publish("p2.a", "1"),
      publisher.publish("p2.a", "2"),
      publisher.publish("nostream.a", "3"),
      publisher.publish("silent.x", "4"),
    ]);
    assert.is(first.status, "fulfilled");
    assert.is(full.status, "rejected");
    const refused = (full as PromiseRejectedResult).reason as PublishRefusedError;
    assert.is(refused.name, "PublishRefusedError");
    assert.is(refused.subject, "p2.a");
    assert.match(refused.message, /maximum messages/i);
    assert.is(((nowhere as PromiseRejectedResult).reason as PublishRefusedError).code, 503, "no stream on the subject");
    const timeout = (unanswered as PromiseRejectedResult).reason as Error & { what: string };
    assert.is(timeout.name, "RetryableError", "no answer within the timeout is retryable");
    assert.match(timeout.what, /silent\.x/);
    assert.is(publisher.inFlight, 0);
  } finally {
    silent.unsubscribe();
    publisher.close();
  }
});

test("PubAcks that arrived while the process was busy past their deadline are read before anything times out", async ({ nc, jsm }) => {
  await jsm.streams.add({ name: "P4", subjects: ["p4.>"] });
  const publisher = new AckedPublisher(nc, { what: "test", timeoutMs: 300 });
  try {
    const acks = Array.from({ length: 50 }, (_, i) => publisher.publish(`p4.k${i}`, `${i}`));
    // From a setImmediate callback (the publishes are on the wire, no answer read yet), a batch
    // handled on a loaded machine: the answers come in meanwhile, the deadline passes, and the
    // event loop's next turn runs its timers before it reads the socket.
    await new Promise<void>((resolve) => setImmediate(() => {
      const until = Date.now() + 2_000;
      while (Date.now() < until) {
        // busy
      }
      resolve();
    }));
    const results = await Promise.allSettled(acks);
    const rejected = results.filter((r) => r.status === "rejected");
    assert.is(rejected.length, 0, `timed out although answered: ${rejected.map((r) => String((r as PromiseRejectedResult).reason)).slice(0, 2).join("; ")}`);
  } finally {
    publisher.close();
  }
});

test("an abort rejects what is in flight and every later publish", async ({ nc, jsm }) => {
  await jsm.streams.add({ name: "P3", subjects: ["p3.>"] });
  const silent = nc.subscribe("silent.y", { callback: () => undefined });
  await nc.flush();
  const controller = new AbortController();
  const publisher = new AckedPublisher(nc, { what: "test", signal: controller.signal });
  try {
    const pending = publisher.publish("silent.y", "1");
    controller.abort();
    const err = await pending.then(() => undefined, (e: Error) => e);
    assert.is(err?.name, "AbortError");
    const later = await publisher.publish("p3.a", "2").then(() => undefined, (e: Error) => e);
    assert.is(later?.name, "AbortError");
    assert.is((await jsm.streams.info("P3")).state.messages, 0, "nothing published after the abort");
  } finally {
    silent.unsubscribe();
    publisher.close();
  }
});

test.run();
