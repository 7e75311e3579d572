import { suite } from "uvu";
import * as assert from "uvu/assert";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { withBroker, type BrokerContext } from "../harness/broker.ts";
import { streamMessages } from "../harness/run-snapshot.ts";
import { waitFor } from "../harness/wait.ts";
import { createLogger } from "../../actors/runtime/log.ts";
import { defineKeyedActor } from "../../actors/runtime/keyed/actor.ts";
import { keyedActor } from "../../actors/runtime/keyed/run.ts";
import { keyedBuckets, type LeaseValue } from "../../actors/runtime/keyed/ownership.ts";
import { metricsFor } from "../../actors/runtime/metrics.ts";

const test = suite<BrokerContext>("keyed runtime: a refused PubAck, and the position after the last batch");
withBroker(test);
const log = createLogger("error", () => undefined);

const decoder = new TextDecoder();
const MESSAGES = 400;
const REFUSED_SEQ = 250;

/**
 * Counts its messages and publishes the running count per message. While `refuse` is set, the
 * output of the message at REFUSED_SEQ goes to a subject no stream holds: its PubAck is a refusal.
 */
function pipelined(refuse: boolean, name = "kpipe") {
  return defineKeyedActor<{ count: number }>({
    name,
    reads: { mode: "keyed", stream: "EVENTS", tasks: [{ id: "p0", filter: "events.kpipe.0" }] },
    emits: ["AGG"],
    batch: { max_messages: 10, max_wait_ms: 5 },
    fingerprint: "f1",
    createState: () => ({ count: 0 }),
    snapshot: (s) => ({ ...s }),
    restore: (_task, snap) => ({ ...(snap as { count: number }) }),
    handle(state, batch, ctx) {
      for (const m of batch) {
        state.count++;
        const subject = refuse && m.seq === REFUSED_SEQ ? "nostream.kpipe" : "agg.kpipe.p0";
        ctx.emit(m, { subject, data: JSON.stringify({ seq: m.seq, count: state.count, body: decoder.decode(m.data) }), msgId: `${ctx.scope}:${m.seq}` });
      }
    },
  });
}

test("a refused PubAck: the position never passes it, and the rerun stores each output once with the counts of one uninterrupted pass", async ({ nc }) => {
  const js = jetstream(nc);
  await Promise.all(Array.from({ length: MESSAGES }, (_, i) => js.publish("events.kpipe.0", `${i + 1}`)));

  const first = new AbortController();
  const failed = await keyedActor(pipelined(true), { rebalanceMs: 50, checkpointEveryMs: 30 })
    .run({ nc, log, signal: first.signal })
    .then(() => undefined, (err: unknown) => err);
  assert.ok(failed instanceof Error && /kpipe task p0 failed/.test(failed.message), `the task fails on the refusal: ${String(failed)}`);
  const leases = await new Kvm(nc).open(keyedBuckets("kpipe").leases);
  const lease = JSON.parse((await leases.get("p0"))!.string()) as LeaseValue;
  assert.ok((lease.checkpoint?.seq ?? 0) < REFUSED_SEQ, `the checkpoint (${lease.checkpoint?.seq}) is before the refused message`);

  const second = new AbortController();
  const running = keyedActor(pipelined(false), { rebalanceMs: 50, checkpointEveryMs: 30, memberTtlMs: 500 }).run({ nc, log, signal: second.signal });
  try {
    const out = await waitFor(() => streamMessages(nc, "AGG"), (m) => m.length >= MESSAGES, 30_000, 100);
    const bodies = out.map((m) => JSON.parse(m.data) as { seq: number; count: number });
    assert.is(bodies.length, MESSAGES, "one output per message (a repeated one is dropped by its id)");
    assert.equal([...bodies].sort((a, b) => a.seq - b.seq).map((b) => [b.seq, b.count]), Array.from({ length: MESSAGES }, (_, i) => [i + 1, i + 1]),
      "every count as one pass gives it: no message folded twice or skipped");
  } finally {
    second.abort();
    await running;
  }
});

test("the last batch is settled once its PubAcks are in, with no later message: nothing stays in flight", async ({ nc }) => {
  const js = jetstream(nc);
  await Promise.all(Array.from({ length: 95 }, (_, i) => js.publish("events.kpipe.0", `${i + 1}`)));
  const before = (await streamMessages(nc, "EVENTS")).length;
  const controller = new AbortController();
  const running = keyedActor(pipelined(false, "kidle"), { rebalanceMs: 50, checkpointEveryMs: 60_000 }).run({ nc, log, signal: controller.signal });
  try {
    const m = metricsFor("kidle");
    const settled = await waitFor(async () => ({ acked: m.acked, inFlight: m.inFlight }), (s) => s.acked === before && s.inFlight === 0, 20_000, 50);
    assert.equal(settled, { acked: before, inFlight: 0 }, "every message acknowledged as stored while the task waits for more");
  } finally {
    controller.abort();
    await running;
  }
});

test.run();
