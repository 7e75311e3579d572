import { suite } from "uvu";
import * as assert from "uvu/assert";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { waitFor } from "../harness/wait.ts";
import { defineActor, type Inbound } from "../../actors/runtime/actor.ts";
import { RetryableError } from "../../actors/runtime/errors.ts";
import { runActor } from "../../actors/runtime/run.ts";
import { createLogger } from "../../actors/runtime/log.ts";
import { metricsFor } from "../../actors/runtime/metrics.ts";
import { handleIsolating } from "../../actors/runtime/plan.ts";
import { seconds } from "../../subjects/catalog.ts";
import { storedOn, testConsumer } from "./fixtures.ts";
import { withBroker, type BrokerContext } from "../harness/broker.ts";

const test = suite<BrokerContext>("poison isolation");
const log = createLogger("error");
let counter = 0;

withBroker(test);

const inbound = (seq: number): Inbound => ({ subject: "raw.iot.k", stream: "RAW", seq, deliveries: 1, timestampMs: 0, headers: new Map(), data: new Uint8Array(), traceId: "" });

test("bisection leaves exactly the failing messages failed and keeps every completed part's decisions", async () => {
  const batch = Array.from({ length: 16 }, (_, i) => inbound(i + 1));
  const poison = new Set([5, 12]);
  let calls = 0;
  const { plan, failed, firstError } = await handleIsolating(batch, (part, ctx) => {
    calls++;
    for (const m of part) {
      // Emitted before the throw: a failed attempt's decisions must not count.
      ctx.emit(m, { subject: "agg.iot.copy", data: "x" });
      if (poison.has(m.seq)) throw new Error(`bad message ${m.seq}`);
    }
  }, log);
  assert.equal([...failed.keys()].map((m) => m.seq), [5, 12]);
  assert.equal(failed.get(batch[4])!.message, "bad message 5");
  assert.is(firstError?.message, "bad message 5");
  assert.equal([...plan.bound.keys()].map((m) => m.seq).sort((a, b) => a - b), batch.map((m) => m.seq).filter((s) => !poison.has(s)));
  assert.ok([...plan.bound.values()].every((outs) => outs.length === 1), "each output once");
  assert.ok(calls <= 1 + 2 * 2 * Math.log2(16), `${calls} handler calls`);
});

test("a RetryableError is not bisected: it fails the whole batch at once", async () => {
  let calls = 0;
  try {
    await handleIsolating([inbound(1), inbound(2)], () => {
      calls++;
      throw new RetryableError("ClickHouse unavailable");
    }, log);
    assert.unreachable("RetryableError expected");
  } catch (err) {
    assert.is((err as Error).name, "RetryableError");
  }
  assert.is(calls, 1);
});

test("one throwing message in a batch of 1000: 999 outputs stored exactly once, one dead letter", async ({ nc }) => {
  const { def, subject, name } = testConsumer("iso", ++counter, { ack_wait: seconds(5), max_deliver: 3, max_ack_pending: 2_000 });
  const js = jetstream(nc);
  const seqs: number[] = [];
  for (let i = 0; i < 1000; i++) seqs.push((await js.publish(subject, `{"i":${i}}`)).seq);
  const poison = seqs[617];
  const batchSizes: number[] = [];
  const actor = defineActor({
    name, consumes: def, emits: ["AGG"], batch: { max_messages: 1000, max_wait_ms: 2_000 },
    handle(batch, ctx) {
      batchSizes.push(batch.length);
      for (const m of batch) {
        if (m.seq === poison) throw new Error(`cannot enrich seq ${m.seq}`);
        ctx.emit(m, { subject: `agg.${name}.copy`, data: m.data, msgId: `${name}-${m.seq}` });
      }
    },
  });
  const controller = new AbortController();
  const running = runActor(actor, { nc, log, signal: controller.signal });
  const m = metricsFor(name);
  await waitFor(async () => m.acked === 999 && m.deadLettered === 1, Boolean, 20_000, 100);
  controller.abort();
  await running;

  assert.is(batchSizes[0], 1000, "the whole backlog came as one batch");
  const copies = await storedOn(nc, "AGG", `agg.${name}.>`);
  const ids = new Set(copies.map((c) => c.headers.get("Nats-Msg-Id")));
  assert.is(copies.length, 999);
  assert.is(ids.size, 999);
  assert.not.ok(ids.has(`${name}-${poison}`));
  const dead = await storedOn(nc, "DLQ", `dlq.${name}.>`);
  assert.is(dead.length, 1);
  assert.is(dead[0].headers.get("Sluice-Stream-Seq"), String(poison));
  assert.is(dead[0].headers.get("Sluice-Error-Code"), "max_deliver");
  assert.match(dead[0].headers.get("Sluice-Reason")!, /cannot enrich seq/);
  const info = await (await jetstreamManager(nc)).consumers.info("RAW", name);
  assert.is(info.num_ack_pending, 0);
  assert.is(info.num_pending, 0);
});

test.run();
