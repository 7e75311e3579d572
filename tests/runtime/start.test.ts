import { suite } from "uvu";
import * as assert from "uvu/assert";
import { waitFor } from "../harness/wait.ts";
import { createLogger } from "../../actors/runtime/log.ts";
import { defineActor, serviceKey, type StartContext } from "../../actors/runtime/actor.ts";
import { runActor } from "../../actors/runtime/run.ts";
import { keyedActor } from "../../actors/runtime/keyed/run.ts";
import { OpenServices } from "../../actors/services.ts";
import { counter } from "./keyed-counter.ts";
import { testConsumer } from "./fixtures.ts";
import { withBroker, type BrokerContext } from "../harness/broker.ts";

const test = suite<BrokerContext>("runtime: what an actor gets at start");
const log = createLogger("error");
const GREETING = serviceKey<{ hello: string }>("greeting");
const OTHER = serviceKey<number>("other");

withBroker(test);

/** What start saw: the service it declared, the refusal of one it did not, a KV bucket it opened and wrote. */
async function probe(ctx: StartContext): Promise<string[]> {
  const seen: string[] = [`actor ${ctx.actor}`, `greeting ${(await ctx.use(GREETING)).hello}`];
  const refused = await ctx.use(OTHER).then(() => "given", (err: Error) => `${err.name}: ${err.message}`);
  seen.push(`other ${refused}`);
  const kv = await ctx.kv(`start-test-${ctx.actor}`, { history: 1 });
  await kv.put("k", "v");
  seen.push(`kv ${(await kv.get("k"))?.string()}`);
  seen.push(`signal ${ctx.signal.aborted ? "aborted" : "live"}`, `tracer ${typeof ctx.tracer.startSpan}`);
  return seen;
}

const expected = (actor: string) => [
  `actor ${actor}`,
  "greeting hi",
  `other ServiceUnavailableError: service other is not in the actor's declared needs (asked for by actor ${actor})`,
  "kv v",
  "signal live",
  "tracer function",
];

test("a durable actor's start gets the services it declared, a KV bucket on request, its signal and tracer", async ({ nc }) => {
  const services = new OpenServices().provide(GREETING, { hello: "hi" });
  const { def } = testConsumer("start", 1);
  let seen: string[] | undefined;
  const controller = new AbortController();
  const actor = defineActor({
    name: "start-durable",
    consumes: def,
    emits: [],
    batch: { max_messages: 10, max_wait_ms: 10 },
    needs: [GREETING],
    async start(ctx) {
      seen = await probe(ctx);
    },
    handle() {},
  });
  const running = runActor(actor, { nc, log, signal: controller.signal, services });
  await waitFor(async () => seen, Boolean, 10_000, 50);
  controller.abort();
  await running;
  assert.equal(seen, expected("start-durable"));
});

test("a keyed actor's start gets the same, before its tasks run", async ({ nc }) => {
  const services = new OpenServices().provide(GREETING, { hello: "hi" });
  let seen: string[] | undefined;
  const controller = new AbortController();
  const def = { ...counter({ label: "a" }), needs: [GREETING], start: async (ctx: StartContext) => void (seen = await probe(ctx)) };
  const running = keyedActor(def, { rebalanceMs: 50 }).run({ nc, log, signal: controller.signal, services });
  await waitFor(async () => seen, Boolean, 10_000, 50);
  controller.abort();
  await running;
  assert.equal(seen, expected("ktest"));
});

test("without services, a declared need is refused by name; the actor fails to start", async ({ nc }) => {
  let refused: string | undefined;
  const controller = new AbortController();
  const def = {
    ...counter({ label: "b" }),
    needs: [GREETING],
    start: async (ctx: StartContext) => {
      refused = await ctx.use(GREETING).then(() => "given", (err: Error) => err.message);
      throw new Error("cannot start");
    },
  };
  const outcome = await keyedActor(def).run({ nc, log, signal: controller.signal }).then(() => "returned", (err: Error) => err.message);
  assert.is(outcome, "cannot start");
  assert.is(refused, "service greeting is not provided: this process runs its actors without services (asked for by actor ktest)");
});

test.run();
