import { suite } from "uvu";
import * as assert from "uvu/assert";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { NatsServer } from "../harness/nats-server.ts";
import { waitFor } from "../harness/wait.ts";
import { ensureStreams } from "../../subjects/setup.ts";
import { createLogger } from "../../actors/runtime/log.ts";
import { windowActor, windowDefinition } from "../../actors/window/index.ts";
import { keyedBuckets } from "../../actors/runtime/keyed/ownership.ts";

const test = suite<{ nats: NatsServer; nc: NatsConnection }>("windows: a broker that stops answering cannot wedge shutdown");
const log = createLogger("error");

test.before(async (ctx) => {
  ctx.nats = await NatsServer.start();
  ctx.nc = await connect({ servers: ctx.nats.url });
  await ensureStreams(await jetstreamManager(ctx.nc));
});
test.after(async (ctx) => {
  if (ctx.nats?.pid) process.kill(ctx.nats.pid, "SIGCONT");
  await ctx.nc?.close().catch(() => undefined);
  await ctx.nats?.stop();
});

test("abort while nats-server is stopped (SIGSTOP) mid-rebalance: run() returns within the shutdown budget", async ({ nats, nc }) => {
  const controller = new AbortController();
  const opts = { partitions: 2, rebalanceMs: 50, shutdownBudgetMs: 1_000 };
  const actor = windowActor(opts);
  const tasks = windowDefinition(opts).reads.tasks.length;
  const running = actor.run({ nc, log, signal: controller.signal });
  const leases = await new Kvm(nc).open(keyedBuckets("window").leases);
  const held = await waitFor(async () => {
    let n = 0;
    for await (const _ of await leases.keys()) n++;
    return n;
  }, (n) => n === tasks, 10_000, 100);
  assert.is(held, tasks, "the instance took the leases of p0, p1 and the group shards");

  process.kill(nats.pid!, "SIGSTOP");
  // Several rebalance rounds: the loop is now inside a members keys() that will never be answered.
  await sleep(300);
  const started = Date.now();
  controller.abort();
  const outcome = await Promise.race([running.then(() => "returned", (err: unknown) => `threw ${String(err)}`), sleep(8_000).then(() => "hung")]);
  const tookMs = Date.now() - started;
  process.kill(nats.pid!, "SIGCONT");
  assert.is(outcome, "returned", `run() after abort with the broker stopped: ${outcome} (${tookMs} ms)`);
  assert.ok(tookMs < 2_500, `returned in ${tookMs} ms (budget 1000 ms)`);
});

test.run();
