import { suite } from "uvu";
import * as assert from "uvu/assert";
import { jetstream } from "@nats-io/jetstream";
import { waitFor } from "../harness/wait.ts";
import { defineActor } from "../../actors/runtime/actor.ts";
import { runActor } from "../../actors/runtime/run.ts";
import { createLogger } from "../../actors/runtime/log.ts";
import { judgeStuck, metricsFor, type ActorMetrics } from "../../actors/runtime/metrics.ts";
import { seconds } from "../../subjects/catalog.ts";
import { testConsumer } from "./fixtures.ts";
import { withBroker, type BrokerContext } from "../harness/broker.ts";

const test = suite<BrokerContext>("stuck consumers");
const log = createLogger("error");
let counter = 0;

withBroker(test);

const T0 = 1_800_000_000_000;
function fresh(over: Partial<ActorMetrics>): ActorMetrics {
  return Object.assign(metricsFor(`unit-${++counter}`), { stuckAfterMs: 90_000, lastProgressAt: T0 }, over);
}

test("work without an ack for longer than 3 × ack_wait is stuck; idle time and recent acks are not", () => {
  const backlog = fresh({ pending: 500 });
  judgeStuck(backlog, T0 + 90_000);
  assert.is(backlog.stuck, 0, "exactly at the limit");
  judgeStuck(backlog, T0 + 90_001);
  assert.is(backlog.stuck, 1);

  const inHand = fresh({ inFlight: 3 });
  judgeStuck(inHand, T0 + 120_000);
  assert.is(inHand.stuck, 1, "a batch in hand that never finishes");

  const idle = fresh({ held: 40 });
  judgeStuck(idle, T0 + 3_600_000);
  assert.is(idle.stuck, 0, "held messages alone wait for a watermark");
  assert.is(idle.lastProgressAt, T0 + 3_600_000, "idle time counts as progress");
  idle.pending = 10;
  judgeStuck(idle, T0 + 3_600_000 + 60_000);
  assert.is(idle.stuck, 0, "work that arrived after an idle hour gets its full 3 × ack_wait");

  const recovered = fresh({ pending: 5, stuck: 1 });
  recovered.lastProgressAt = T0 + 100_000;
  judgeStuck(recovered, T0 + 110_000);
  assert.is(recovered.stuck, 0, "an ack clears it");
});

test("a handler that hangs with a backlog behind it is reported stuck after 3 × ack_wait, and clears when it moves", async ({ nc }) => {
  const { def, subject, name } = testConsumer("stuck", ++counter, { ack_wait: seconds(1), max_deliver: -1 });
  const js = jetstream(nc);
  for (let i = 0; i < 20; i++) await js.publish(subject, `${i}`);
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let hung = false;
  const actor = defineActor({
    name, consumes: def, emits: [], batch: { max_messages: 5, max_wait_ms: 10 },
    async handle() {
      if (hung) return;
      hung = true;
      await released;
    },
  });
  const m = metricsFor(name);
  const controller = new AbortController();
  const running = runActor(actor, { nc, log, signal: controller.signal });
  try {
    const started = Date.now();
    await waitFor(async () => m.inFlight, (n) => n > 0, 5_000, 50);
    assert.is(m.stuckAfterMs, 3_000);
    const stuck = await waitFor(async () => m.stuck, (s) => s === 1, 8_000, 100);
    const after = Date.now() - started;
    assert.is(stuck, 1);
    assert.ok(after >= 3_000, `reported after ${after} ms, before 3 × ack_wait`);
    assert.ok(m.pending + m.inFlight > 0);
    release();
    assert.is(await waitFor(async () => m.stuck, (s) => s === 0, 8_000, 100), 0);
    await waitFor(async () => m.acked, (n) => n >= 20, 10_000, 100);
  } finally {
    release();
    controller.abort();
    await running;
  }
});

test.run();
