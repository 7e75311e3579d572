// The EVENTS batch format (subjects/event-batch.ts): its codec, how the keyed runtime packs a
// handler batch's outputs, and how the durable runtime acks and dead-letters the events of one message.
import { suite } from "uvu";
import { propagation } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import * as assert from "uvu/assert";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { waitFor } from "../harness/wait.ts";
import { withDeadline } from "../../nats/deadline.ts";
import { defineActor, type Inbound } from "../../actors/runtime/actor.ts";
import { PoisonError, RetryableError } from "../../actors/runtime/errors.ts";
import { runActor } from "../../actors/runtime/run.ts";
import { createLogger } from "../../actors/runtime/log.ts";
import { metricsFor } from "../../actors/runtime/metrics.ts";
import { eventsOf, eventsOrWhole, spanContextOf, traceparentOf } from "../../actors/runtime/delivery.ts";
import { packOutputs, StoredBatches } from "../../actors/runtime/keyed/batched-outputs.ts";
import { positionsBefore } from "../../actors/runtime/keyed/fence.ts";
import { addRow } from "../../lake/cut.ts";
import { RecentIds } from "../../actors/validate/recent-ids.ts";
import { batchMsgId, decodeInputSeqs, encodeEventBatch, EVENTS_HEADER, EventBatchError, INPUT_SEQS_HEADER, InputSeqsWriter, rawRangeOfBatchId } from "../../subjects/event-batch.ts";
import { storedOn, testConsumer } from "./fixtures.ts";
import { withBroker, type BrokerContext } from "../harness/broker.ts";

const test = suite<BrokerContext>("EVENTS batches");
const log = createLogger("error");
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

withBroker(test);
// Without an SDK nothing injects trace headers: the outputs' traceparent is what this test reads.
propagation.setGlobalPropagator(new W3CTraceContextPropagator());

const headersOf = (h: Record<string, string>) => ({ keys: () => Object.keys(h), get: (k: string) => h[k] ?? "" });
const input = (seq: number): Inbound => ({ subject: "raw.iot.k", stream: "RAW", seq, deliveries: 1, timestampMs: 0, headers: new Map(), data: new Uint8Array(), traceId: "" });

test("a batch body decodes to its events with their own traceparents; a message without the header is one event", () => {
  const body = encodeEventBatch([{ traceparent: TRACE, json: `{"a":1}` }, { traceparent: undefined, json: `{"b":"x y"}` }]);
  const events = eventsOf("events.iot.0", 7, headersOf({ [EVENTS_HEADER]: "2" }), body);
  assert.equal(events.map((e) => [e.index, e.traceparent, text(e.data)]), [[0, TRACE, `{"a":1}`], [1, undefined, `{"b":"x y"}`]]);
  assert.is(events[0].headers?.get("traceparent"), TRACE);
  const single = eventsOf("events.iot.0", 8, headersOf({ traceparent: TRACE }), new TextEncoder().encode(`{"a":1}`));
  assert.equal(single.map((e) => [e.index, text(e.data)]), [[undefined, `{"a":1}`]]);
  assert.is(traceparentOf(spanContextOf(TRACE)!), TRACE);
});

test("a batch whose header disagrees with its body is refused, and read whole by the runtime (the handler dead-letters it)", () => {
  const body = encodeEventBatch([{ traceparent: undefined, json: `{"a":1}` }]);
  assert.throws(() => eventsOf("events.iot.0", 9, headersOf({ [EVENTS_HEADER]: "2" }), body), (e: unknown) => e instanceof EventBatchError && /says 2 events, the body holds 1/.test((e as Error).message));
  const whole = eventsOrWhole("events.iot.0", 9, headersOf({ [EVENTS_HEADER]: "2" }), body);
  assert.is(whole.length, 1);
  assert.is(whole[0].index, undefined);
});

test("packing: one message per subject named by its RAW range, cut before an output that goes alone, the same each time", () => {
  const items = [
    { out: { subject: "events.iot.0", data: `{"n":1}` }, input: input(10), batched: true, traceparent: TRACE },
    { out: { subject: "events.iot.1", data: `{"n":2}` }, input: input(11), batched: true },
    { out: { subject: "events.iot.0", data: `{"n":3}`, msgId: "replayed", headers: { "Sluice-Replay-Count": "1" } }, input: input(12), batched: false },
    { out: { subject: "events.iot.0", data: `{"n":4}` }, input: input(13), batched: true },
    { out: { subject: "events.iot.0", data: `{"n":5}` }, input: input(14), batched: true },
  ];
  const packed = packOutputs("fp.iot", items, 1_048_576);
  assert.equal(packed.map((p) => [p.out.subject, p.out.msgId, p.out.headers?.[EVENTS_HEADER]]), [
    ["events.iot.0", batchMsgId("fp.iot", "events.iot.0", 10, 10), "1"],
    ["events.iot.0", "replayed", undefined],
    ["events.iot.1", batchMsgId("fp.iot", "events.iot.1", 11, 11), "1"],
    ["events.iot.0", batchMsgId("fp.iot", "events.iot.0", 13, 14), "2"],
  ]);
  assert.equal(packOutputs("fp.iot", items, 1_048_576).map((p) => p.out.msgId), packed.map((p) => p.out.msgId), "deterministic");
  assert.equal(rawRangeOfBatchId(packed[3].out.msgId), { from: 13, through: 14 });
  // A tiny max_payload: every event in a message of its own, never one over the limit with others.
  const small = packOutputs("fp.iot", items.filter((i) => i.batched), 16_384 + 70);
  assert.is(small.length, 4);
});

test("a stored batch written before Sluice-Input-Seqs: its RAW range marks exactly its subject's inputs as already stored", () => {
  const stored = new StoredBatches();
  stored.add("events.iot.0", batchMsgId("fp.iot", "events.iot.0", 13, 20), undefined, 5);
  stored.add("events.iot.1", "a-single-event-id", undefined, 6);
  assert.ok(stored.holds("events.iot.0", input(13)));
  assert.ok(stored.holds("events.iot.0", input(20)));
  assert.not.ok(stored.holds("events.iot.0", input(21)));
  assert.not.ok(stored.holds("events.iot.1", input(14)));
  stored.forgetBefore(21);
  assert.ok(stored.isEmpty, "a batch that ends before the next input is forgotten");
});

test("a checkpoint's fence stays before a stored batch that names inputs after the checkpoint, so the next restore reads it again", () => {
  const stored = new StoredBatches();
  // A stale holder's batch at EVENTS seq 40 answers RAW 401-438; the holder that learned it checkpoints at 430.
  stored.add("events.iot.2", batchMsgId("fp.iot", "events.iot.2", 401, 438), undefined, 40);
  stored.add("events.iot.1", batchMsgId("fp.iot", "events.iot.1", 401, 420), undefined, 39);
  stored.add("events.iot.2", batchMsgId("fp.iot", "events.iot.2", 439, 450), undefined, 44);
  const unread = stored.firstAfter(430);
  assert.equal([...unread], [["events.iot.2", 40]], "only batches reaching past 430; the first per subject");
  const learned = new Map([["events.iot.1", 41], ["events.iot.2", 45], ["events.iot.3", 12]]);
  assert.equal(positionsBefore(learned, unread), { "events.iot.1": 41, "events.iot.2": 39, "events.iot.3": 12 });
  assert.equal(positionsBefore(learned, stored.firstAfter(450)), Object.fromEntries(learned), "past every stored batch: what was learned");
});

test("Sluice-Input-Seqs names a batch's inputs exactly, on whatever subject: an input whose event moved to another partition is found", () => {
  for (const seqs of [[7], [1, 2, 3, 4, 5], [10, 13, 16, 19, 20, 400, 401, 402, 1_000_000_000], [5, 5, 6]]) {
    const w = new InputSeqsWriter();
    for (const s of seqs) w.add(s);
    const text = w.toString();
    assert.is(w.length, text.length);
    assert.equal(decodeInputSeqs(text, "events.iot.0", 1), seqs, text);
  }
  const dense = new InputSeqsWriter();
  for (let s = 1_000; s < 2_000; s++) dense.add(s);
  assert.ok(dense.length < 12, `a contiguous run is two tokens: ${dense}`);
  assert.throws(() => decodeInputSeqs("1,x*", "events.iot.0", 9), (e: Error) => e instanceof EventBatchError && /events\.iot\.0 \(seq 9\)/.test(e.message));

  // Stored with 4 partitions on events.iot.3; after a change to 2, input 12's event goes to events.iot.1.
  const items = [11, 12, 14].map((seq) => ({ out: { subject: "events.iot.3", data: `{"n":${seq}}` }, input: input(seq), batched: true }));
  const [packed] = packOutputs("fp.iot", items, 1_048_576);
  assert.is(packed.out.headers?.[INPUT_SEQS_HEADER], "b,1,2");
  const stored = new StoredBatches();
  stored.add("events.iot.3", packed.out.msgId, packed.out.headers?.[INPUT_SEQS_HEADER], 40);
  assert.ok(stored.holds("events.iot.1", input(12)), "found on another subject");
  assert.not.ok(stored.holds("events.iot.3", input(13)), "13 is inside the range but not in the batch");
});

test("validate's recent ids: a repeat within the window (stream time) is dropped, after it passes, and the oldest go first past the bound", () => {
  const recent = new RecentIds(600_000, 3);
  assert.not.ok(recent.repeat("a", 0));
  assert.ok(recent.repeat("a", 599_999), "within 10 minutes");
  assert.not.ok(recent.repeat("a", 600_001), "after them");
  const restored = RecentIds.restore(600_000, 3, recent.snapshot());
  assert.ok(restored.repeat("a", 600_002), "the checkpoint keeps them");
  for (const id of ["b", "c", "d"]) restored.repeat(id, 700_000);
  assert.ok(restored.size <= 3);
  assert.not.ok(restored.repeat("a", 700_001), "evicted first past the bound");
});

test("the lake never ends a file inside a batch message", () => {
  const row = (seq: number) => ({ stream: "EVENTS", seq, subject: "events.iot.0", timestampMs: 0, headers: {}, data: new Uint8Array(4) });
  const limits = { maxRows: 2, maxBytes: 1e9 };
  let r = addRow(undefined, row(1), limits, true);
  r = addRow(r.open, row(1), limits, true);
  r = addRow(r.open, row(1), limits, false);
  assert.is(r.complete.length, 1);
  assert.equal(r.complete[0].rows.map((x) => x.seq), [1, 1, 1]);
});

test("durable runtime: a batch message's events are handled one by one; a rejected event is dead-lettered alone under its index, a retried one redelivers the message, which is acked once every event is decided", async ({ nc }) => {
  const { def, subject, name } = testConsumer("evb", 1, { max_deliver: 5 });
  const h = natsHeaders();
  h.set(EVENTS_HEADER, "3");
  const body = encodeEventBatch([{ traceparent: TRACE, json: `{"n":0}` }, { traceparent: undefined, json: `{"n":1}` }, { traceparent: undefined, json: `{"n":2}` }]);
  const ack = await withDeadline(jetstream(nc).publish(subject, body, { headers: h }), { what: "publish the batch" });
  const seen: Array<[number, number | undefined, string, number]> = [];
  const actor = defineActor({
    name, consumes: def, emits: ["AGG", "DLQ"], batch: { max_messages: 100, max_wait_ms: 50 },
    handle(batch, ctx) {
      for (const m of batch) {
        seen.push([m.seq, m.index, text(m.data), m.deliveries]);
        if (m.index === 1) ctx.reject(m, new PoisonError("test", `event ${m.index} of seq ${m.seq} is poison`));
        else if (m.index === 2 && m.deliveries === 1) ctx.retry(m, new RetryableError("not yet", { delayMs: 10 }));
        else ctx.emit(m, { subject: `agg.${name}.copy`, data: m.data, msgId: `${name}-${m.seq}-${m.index}` });
      }
    },
  });
  const controller = new AbortController();
  const running = runActor(actor, { nc, log, signal: controller.signal });
  const jsm = await jetstreamManager(nc);
  await waitFor(async () => {
    const info = await jsm.consumers.info("RAW", name);
    return seen.length >= 6 && info.num_ack_pending === 0 && info.num_pending === 0;
  }, Boolean, 30_000, 100);
  controller.abort();
  await running;

  assert.equal(seen.slice(0, 3).map((s) => [s[1], s[2], s[3]]), [[0, `{"n":0}`, 1], [1, `{"n":1}`, 1], [2, `{"n":2}`, 1]], "the three events, in order, on the first delivery");
  assert.equal(seen.slice(3).map((s) => [s[1], s[3]]), [[0, 2], [1, 2], [2, 2]], "the retry redelivered the whole message");
  const dead = await storedOn(nc, "DLQ", `dlq.${name}.>`);
  assert.is(dead.length, 1, "the poison event once, though it was seen twice");
  assert.is(dead[0].headers.get("Nats-Msg-Id"), `dlq:${name}:RAW:${ack.seq}:1`);
  assert.is(dead[0].headers.get("Sluice-Event-Index"), "1");
  assert.is(dead[0].data, `{"n":1}`, "the event's own bytes, not the batch");
  const copies = await storedOn(nc, "AGG", `agg.${name}.>`);
  assert.equal(copies.map((c) => c.data).sort(), [`{"n":0}`, `{"n":2}`], "each other event's output once");
  assert.ok(copies.find((c) => c.data === `{"n":0}`)!.headers.get("traceparent")?.includes("0af7651916cd43dd8448eb211c80319c"), "an output of a batched event continues that event's trace");
  assert.is(metricsFor(name).received, 6);
});

test.run();
