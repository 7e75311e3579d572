import { suite } from "uvu";
import * as assert from "uvu/assert";
import { NatsServer } from "../harness/nats-server.ts";
import { defineActor } from "../../actors/runtime/actor.ts";
import { runActor } from "../../actors/runtime/run.ts";
import { createLogger } from "../../actors/runtime/log.ts";
import { testConsumer } from "./fixtures.ts";
import { withBroker, type BrokerContext } from "../harness/broker.ts";
import { withDeadline } from "../../nats/deadline.ts";

const test = suite<BrokerContext>("runtime against a server that answers nothing");
const log = createLogger("error");
let counter = 0;

withBroker(test);

/** The server keeps its connections open and answers nothing, as a wedged or partitioned broker does. */
async function frozen<T>(nats: NatsServer, fn: () => Promise<T>): Promise<T> {
  process.kill(nats.pid!, "SIGSTOP");
  try {
    return await fn();
  } finally {
    process.kill(nats.pid!, "SIGCONT");
  }
}

const idle = (n: number) => {
  const { def, name } = testConsumer("dl", n);
  return defineActor({ name, consumes: def, emits: [], batch: { max_messages: 10, max_wait_ms: 10 }, handle() {} });
};

test("an answer that arrived while the process was busy past the deadline is read before the deadline fails the call", async ({ nc }) => {
  // The server answers this itself, while this process is busy.
  const call = withDeadline(() => nc.request("$JS.API.INFO", "", { timeout: 10_000 }), { what: "account info", timeoutMs: 300 });
  call.catch(() => undefined);
  // From a setImmediate callback (the request is on the wire, no answer read yet), a batch on a
  // loaded machine: the answer comes in meanwhile, the deadline passes, and the event loop's
  // next turn runs its timers before it reads the socket.
  await new Promise<void>((resolve) => setImmediate(() => {
    const until = Date.now() + 1_500;
    while (Date.now() < until) {
      // busy
    }
    resolve();
  }));
  const answer = await call;
  assert.match(new TextDecoder().decode(answer.data), /"type":"io.nats.jetstream.api.v1.account_info_response"/);
});

test("an abort during setup ends runActor at once, not when the broker answers", async ({ nats, nc }) => {
  const controller = new AbortController();
  const elapsed = await frozen(nats, async () => {
    const running = runActor(idle(++counter), { nc, log, signal: controller.signal });
    await new Promise((r) => setTimeout(r, 300));
    const aborted = Date.now();
    controller.abort();
    await running;
    return Date.now() - aborted;
  });
  assert.ok(elapsed < 500, `runActor returned ${elapsed} ms after the abort`);
});

test("setup that gets no answer fails within its deadline (the supervisor restarts it) instead of hanging", async ({ nats, nc }) => {
  const controller = new AbortController();
  const started = Date.now();
  const err = await frozen(nats, () => runActor(idle(++counter), { nc, log, signal: controller.signal }).then(() => undefined, (e: Error) => e));
  const elapsed = Date.now() - started;
  assert.ok(err, "runActor rejected");
  // Ours (BrokerTimeoutError, 5 s) or nats.js's own request timeout, whichever fires first.
  assert.match(err!.message, /no answer from NATS within 5000 ms|timeout/i);
  assert.ok(elapsed < 8_000, `failed after ${elapsed} ms`);
});

test.run();
