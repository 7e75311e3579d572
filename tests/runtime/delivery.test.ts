import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import { NatsServer } from "../harness/nats-server.ts";
import { withDeadline } from "../../nats/deadline.ts";
import { deliveryOf } from "../../actors/runtime/delivery.ts";

const test = suite<{ nats: NatsServer; nc: NatsConnection }>("deliveryOf: a delivery's sequence, count and stream time");

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
  await (await jetstreamManager(ctx.nc)).streams.add({ name: "D", subjects: ["d.>"] });
  const js = jetstream(ctx.nc);
  for (let i = 0; i < 300; i++) await js.publish(`d.k${i % 3}`, `${i}`);
});
test.after(async (ctx) => {
  await ctx.nc?.close();
  await ctx.nats?.stop();
});

const exact = (m: JsMsg) => ({ seq: m.seq, deliveries: m.info.deliveryCount, timestampMs: Number(m.timestampNanos / 1_000_000n) });

async function read(messages: AsyncIterable<JsMsg>, n: number, each: (m: JsMsg) => void): Promise<void> {
  let seen = 0;
  for await (const m of messages) {
    each(m);
    if (++seen === n) break;
  }
}

test("ordered and durable deliveries: the same as nats.js's getters (BigInt milliseconds)", async ({ nc }) => {
  const js = jetstream(nc);
  const ordered = await (await js.consumers.get("D")).consume();
  const got: unknown[] = [];
  const want: unknown[] = [];
  await withDeadline(() => read(ordered, 300, (m) => { got.push(deliveryOf(m)); want.push(exact(m)); }), { what: "ordered consumer of D" });
  await ordered.close();
  assert.equal(got, want);
  assert.equal(got.map((d) => (d as { seq: number }).seq), Array.from({ length: 300 }, (_, i) => i + 1));

  await (await jetstreamManager(nc)).consumers.add("D", { durable_name: "dd", ack_policy: AckPolicy.Explicit, ack_wait: 500_000_000 });
  const durable = await (await js.consumers.get("D", "dd")).consume();
  const redelivered: unknown[] = [];
  // Unacked, so the first 10 come back after ack_wait with a delivery count of 2.
  await withDeadline(() => read(durable, 310, (m) => {
    const d = deliveryOf(m);
    assert.equal(d, exact(m));
    if (d.deliveries > 1) redelivered.push(d.seq);
    else if (d.seq > 10) m.ack();
  }), { what: "durable consumer of D", timeoutMs: 20_000 });
  await durable.close();
  assert.equal(redelivered, Array.from({ length: 10 }, (_, i) => i + 1), "the redeliveries count 2");
});

test("milliseconds at and around millisecond boundaries equal the exact BigInt division", () => {
  // Times where a double of the nanoseconds rounds across a millisecond: the slow path must decide.
  const base = 1_764_284_400_123n * 1_000_000n;
  const cases: bigint[] = [];
  for (const ms of [0n, 1n, 2n, 999n]) for (let d = -600n; d <= 600n; d += 1n) cases.push(base + ms * 1_000_000n + d);
  for (let i = 0n; i < 20_000n; i++) cases.push(base + i * 7_919_333n);
  for (const ns of cases) {
    const text = ns.toString();
    const fake = { info: { streamSequence: 1, deliveryCount: 1, timestampNanos: parseInt(text, 10) }, timestampNanos: ns } as unknown as JsMsg;
    assert.is(deliveryOf(fake).timestampMs, Number(ns / 1_000_000n), `at ${text} ns`);
  }
});

test.run();
