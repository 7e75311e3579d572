import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { waitFor } from "../harness/wait.ts";
import { defineActor } from "../../actors/runtime/actor.ts";
import { runActor } from "../../actors/runtime/run.ts";
import { createLogger } from "../../actors/runtime/log.ts";
import { metricsFor } from "../../actors/runtime/metrics.ts";
import { parseMaxDeliveryAdvisory } from "../../actors/runtime/max-deliver.ts";
import { seconds } from "../../subjects/catalog.ts";
import { storedOn, testConsumer } from "./fixtures.ts";
import { withBroker, type BrokerContext } from "../harness/broker.ts";

const test = suite<BrokerContext>("max_deliver without a handler error");
const log = createLogger("error");
let counter = 0;

withBroker(test);

/** A promise the test resolves: a handler awaiting it hangs past ack_wait, as a crashed process would leave its delivery. */
function gate(): { wait: Promise<void>; open: () => void; opened: () => boolean } {
  let open!: () => void;
  let isOpen = false;
  const wait = new Promise<void>((resolve) => (open = () => ((isOpen = true), resolve())));
  return { wait, open, opened: () => isOpen };
}

test("a message whose last delivery ends without an error is dead-lettered from the advisory with the last recorded error", async ({ nc }) => {
  const { def, subject, name, source } = testConsumer("md", ++counter, { ack_wait: seconds(1), max_deliver: 3 });
  const { seq } = await jetstream(nc).publish(subject, `{"target":true}`);
  const hang = gate();
  const seen: number[] = [];
  const actor = defineActor({
    name, consumes: def, emits: [], batch: { max_messages: 1, max_wait_ms: 10 },
    async handle(batch) {
      for (const m of batch) {
        seen.push(m.deliveries);
        if (m.deliveries < def.max_deliver) throw new Error("enrichment service timed out");
        if (!hang.opened()) await hang.wait;
      }
    },
  });
  const controller = new AbortController();
  const running = runActor(actor, { nc, log, signal: controller.signal });
  const dead = await waitFor(() => storedOn(nc, "DLQ", `dlq.${name}.>`), (d) => d.length > 0, 15_000, 200);
  hang.open();
  controller.abort();
  await running;
  assert.equal(seen.slice(0, 3), [1, 2, 3]);
  assert.is(dead.length, 1);
  const letter = dead[0];
  assert.is(letter.subject, `dlq.${name}.${source}`);
  assert.is(letter.data, `{"target":true}`);
  assert.is(letter.headers.get("Sluice-Error-Code"), "max_deliver");
  assert.is(letter.headers.get("Sluice-Stream-Seq"), String(seq));
  assert.is(letter.headers.get("Sluice-Deliveries"), "3");
  assert.is(letter.headers.get("Nats-Msg-Id"), `dlq:${name}:RAW:${seq}`);
  assert.match(letter.headers.get("Sluice-Reason")!, /ended without a handler error.*last error: enrichment service timed out/);
  assert.is(metricsFor(name).deadLettered, 1);
});

test("two instances hear one advisory for a message no handler failed on: exactly one dead letter", async ({ nc }) => {
  const { def, subject, name } = testConsumer("md", ++counter, { ack_wait: seconds(1), max_deliver: 3 });
  // One message only: deliveries buffered behind a hanging handler expire too, and would (rightly) reach max_deliver as well.
  const { seq } = await jetstream(nc).publish(subject, "stuck forever");
  const hang = gate();
  const actor = defineActor({
    name, consumes: def, emits: [], batch: { max_messages: 1, max_wait_ms: 10 },
    async handle() {
      if (!hang.opened()) await hang.wait;
    },
  });
  const controller = new AbortController();
  const other = await connect({ servers: nc.getServer() });
  const a = runActor(actor, { nc, log, signal: controller.signal });
  const b = runActor(actor, { nc: other, log, signal: controller.signal });
  try {
    await waitFor(() => storedOn(nc, "DLQ", `dlq.${name}.>`), (d) => d.length > 0, 15_000, 200);
    // Both instances heard the advisory (core subscriptions on two connections); give the slower one time to write.
    await new Promise((r) => setTimeout(r, 1_500));
    const dead = await storedOn(nc, "DLQ", `dlq.${name}.>`);
    assert.is(dead.length, 1, `dead letters: ${dead.map((d) => d.headers.get("Nats-Msg-Id")).join(", ")}`);
    assert.is(dead[0].headers.get("Sluice-Error-Code"), "max_deliver");
    assert.is(dead[0].headers.get("Sluice-Stream-Seq"), String(seq));
    assert.match(dead[0].headers.get("Sluice-Reason")!, /no handler error recorded/);
  } finally {
    hang.open();
    controller.abort();
    await Promise.all([a, b]);
    await other.close();
  }
});

test("an advisory without a stream sequence is recognised as such", () => {
  const enc = new TextEncoder();
  assert.equal(parseMaxDeliveryAdvisory(enc.encode(`{"type":"io.nats.jetstream.advisory.v1.max_deliver","stream":"RAW","consumer":"validate","stream_seq":42,"deliveries":5}`)), { seq: 42, deliveries: 5 });
  assert.is(parseMaxDeliveryAdvisory(enc.encode(`{"stream":"RAW"}`)), undefined);
  assert.is(parseMaxDeliveryAdvisory(enc.encode(`not json`)), undefined);
});

test.run();
