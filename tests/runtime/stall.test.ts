import { suite } from "uvu";
import * as assert from "uvu/assert";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection, type Payload, type RequestOptions } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { streamMessages } from "../harness/run-snapshot.ts";
import { waitFor } from "../harness/wait.ts";
import { withBroker, type BrokerContext } from "../harness/broker.ts";
import { createLogger } from "../../actors/runtime/log.ts";
import { keyedActor } from "../../actors/runtime/keyed/run.ts";
import { supervise } from "../../actors/runtime/supervisor.ts";
import { metricsFor } from "../../actors/runtime/metrics.ts";
import { keyedBuckets } from "../../actors/runtime/keyed/ownership.ts";
import { withDeadline } from "../../nats/deadline.ts";
import { eventLoopDelay, eventLoopDelayText, STALL_MS } from "../../otel/event-loop.ts";
import { parseStallMetrics } from "../../bench/stall.ts";
import { counter, type CounterOutput } from "./keyed-counter.ts";

/**
 * A process-wide stall (seen as every keyed actor of `sluice up --rate 2000` failing at once on a
 * loaded machine): the event loop blocked for longer than a broker call's 5 s timeout, while the
 * broker answered in time. Here the stall is this process busy-waiting, injected right where it
 * hurts — just after a lease request was written to the socket, or just before — against a real
 * nats-server.
 */
const test = suite<BrokerContext>("a process-wide stall longer than a broker call's timeout");
const STALL_FOR_MS = 7_000;

withBroker(test);

function busyFor(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // stalled
  }
}

type Moment = "after the request was sent" | "before the request was sent";

/**
 * Makes the next request on `nc` whose subject names `bucket` stall the whole process: either
 * once nats.js has written it to the socket (its flush is a microtask queued before this one), or
 * before that flush runs. Resolves when the stall has happened.
 */
function stallOnNextRequest(nc: NatsConnection, bucket: string, moment: Moment): Promise<string> {
  const original = nc.request.bind(nc);
  return new Promise((resolve) => {
    nc.request = ((subject: string, payload?: Payload, opts?: RequestOptions) => {
      const reply = original(subject, payload, opts);
      if (!subject.includes(bucket)) return reply;
      nc.request = original;
      if (moment === "before the request was sent") busyFor(STALL_FOR_MS);
      else queueMicrotask(() => busyFor(STALL_FOR_MS));
      resolve(subject);
      return reply;
    }) as NatsConnection["request"];
  });
}

async function outputs(nc: NatsConnection): Promise<CounterOutput[]> {
  return (await streamMessages(nc, "AGG")).map((m) => JSON.parse(m.data) as CounterOutput);
}

async function publish(nc: NatsConnection, p: number, n: number): Promise<void> {
  const js = jetstream(nc);
  for (let i = 0; i < n; i++) await withDeadline(js.publish(`events.ktest.${p}`, "1"), { what: `publish to events.ktest.${p}` });
}

test("a keyed actor rides out stalls of 7 s around its lease calls: no restart, every input answered once, in order", async ({ nats, nc }) => {
  // The actor's own connection, so the injected stall hooks only the runtime's requests.
  const actorNc = await connect({ servers: nats.url });
  const controller = new AbortController();
  const restartsBefore = metricsFor("ktest").restarts;
  const errors: string[] = [];
  const log = { ...createLogger("error"), error: (m: string) => void errors.push(m) };
  const running = supervise(keyedActor(counter({ label: "stall" }), { rebalanceMs: 200, checkpointEveryMs: 60_000 }), { nc: actorNc, log, signal: controller.signal });
  const leases = keyedBuckets("ktest").leases;
  let published = 0;
  const caughtUp = async () => {
    const outs = await outputs(nc);
    return outs.length === published;
  };
  try {
    await publish(nc, 0, 5);
    await publish(nc, 1, 5);
    published = 10;
    assert.ok(await waitFor(caughtUp, Boolean, 30_000, 100), "the actor answered the first inputs");
    for (const moment of ["after the request was sent", "before the request was sent"] as const) {
      const stalled = stallOnNextRequest(actorNc, leases, moment);
      // A batch for p0: its lease is read back before its outputs are published.
      await publish(nc, 0, 1);
      published++;
      const subject = await withDeadline(stalled, { what: "the stall on a lease request", timeoutMs: 30_000 });
      assert.ok(subject.length > 0);
      await publish(nc, 0, 3);
      await publish(nc, 1, 3);
      published += 6;
      assert.ok(await waitFor(caughtUp, Boolean, 30_000, 100), `the actor answered every input after the stall ${moment}`);
    }
    assert.is(metricsFor("ktest").restarts - restartsBefore, 0, `the actor restarted after a stall; it logged: ${errors.join(" | ")}`);
    const outs = await outputs(nc);
    for (const task of ["p0", "p1"]) {
      const counts = outs.filter((o) => o.task === task).map((o) => o.count);
      assert.equal(counts, counts.map((_, i) => i + 1), `${task}: one output per input, counted in order`);
    }
  } finally {
    controller.abort();
    await running;
    await actorNc.close();
  }
});

test("a broker that answers nothing for 6.5 s while the tasks are idle: the members read times out, the actor keeps its tasks", async ({ nats, nc }) => {
  const actorNc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  const controller = new AbortController();
  const restartsBefore = metricsFor("ktest").restarts;
  const logged: string[] = [];
  const log = { ...createLogger("error"), warn: (m: string) => void logged.push(m), error: (m: string) => void logged.push(m) };
  const running = supervise(keyedActor(counter({ label: "frozen" }), { rebalanceMs: 100, checkpointEveryMs: 60_000 }), { nc: actorNc, log, signal: controller.signal });
  const before = (await outputs(nc)).length;
  try {
    await publish(nc, 0, 2);
    await publish(nc, 1, 2);
    assert.ok(await waitFor(async () => (await outputs(nc)).length === before + 4, Boolean, 30_000, 100), "the actor answered the first inputs");
    process.kill(nats.pid!, "SIGSTOP");
    try {
      // The fault: longer than a broker call's 5 s deadline.
      await sleep(6_500);
    } finally {
      process.kill(nats.pid!, "SIGCONT");
    }
    const timedOut = await waitFor(async () => logged.some((m) => m.includes("no answer from NATS")), Boolean, 20_000, 100);
    assert.ok(timedOut, `a broker call timed out while the server was stopped; logged: ${logged.join(" | ")}`);
    await publish(nc, 0, 2);
    await publish(nc, 1, 2);
    assert.ok(await waitFor(async () => (await outputs(nc)).length === before + 8, Boolean, 30_000, 100), "the actor answered the inputs after the broker came back");
    assert.is(metricsFor("ktest").restarts - restartsBefore, 0, `the actor restarted; it logged: ${logged.join(" | ")}`);
  } finally {
    controller.abort();
    await running;
    await actorNc.close();
  }
});

/**
 * A call under a deadline of `timeoutMs` whose process stalls for `stallMs` starting `stallAfterMs`
 * in, and whose broker answers `answerAfterMs` after the stall ended; resolves with what the call gave.
 */
async function callThroughStall(opts: { timeoutMs: number; stallAfterMs: number; stallMs: number; answerAfterMs: number }): Promise<string> {
  let answer!: (value: string) => void;
  const reply = new Promise<string>((resolve) => (answer = resolve));
  const call = withDeadline(reply, { what: "a request across a stall", timeoutMs: opts.timeoutMs });
  call.catch(() => undefined);
  setTimeout(() => {
    busyFor(opts.stallMs);
    setTimeout(() => answer("answered"), opts.answerAfterMs);
  }, opts.stallAfterMs);
  return call;
}

test("a call whose request could only leave once a stall ended gets a fresh deadline from then on", async () => {
  // The process stalls past the deadline; the broker hears the request only afterwards and answers 200 ms later.
  assert.is(await callThroughStall({ timeoutMs: 1_000, stallAfterMs: 0, stallMs: 2_500, answerAfterMs: 200 }), "answered");
});

test("a stall that ended before the deadline still gives the call back the time it took", async () => {
  // 2 s of the 2.5 s lost to a stall; the answer needs 1 s of the broker's time after it.
  assert.is(await callThroughStall({ timeoutMs: 2_500, stallAfterMs: 100, stallMs: 2_000, answerAfterMs: 1_000 }), "answered");
});

test("a call nobody answers still fails after its deadline plus the stall", async () => {
  const started = Date.now();
  const call = withDeadline(new Promise<never>(() => undefined), { what: "a request nobody answers", timeoutMs: 500 });
  const err = await call.then(() => undefined, (e: Error) => e);
  assert.match(err?.message ?? "", /a request nobody answers: no answer from NATS within 500 ms/);
  assert.ok(Date.now() - started < 5_000, `failed after ${Date.now() - started} ms`);
});

test("the event-loop lag metric reports a stall", async () => {
  const before = eventLoopDelay();
  // Let the probe take its first sample, then block the loop past the stall threshold.
  await new Promise((r) => setTimeout(r, 250));
  busyFor(STALL_MS + 500);
  const after = await waitFor(async () => eventLoopDelay(), (d) => d.stalls > before.stalls, 10_000, 50);
  assert.ok(after.stalls > before.stalls, "the stall was counted");
  assert.ok(after.longestStallMs >= STALL_MS + 300, `longest stall ${after.longestStallMs} ms`);
  const text = eventLoopDelayText(after);
  assert.match(text, new RegExp(`^sluice_event_loop_stalls_total ${after.stalls}$`, "m"));
  assert.match(text, /^sluice_event_loop_longest_stall_seconds (\d+\.\d{3})$/m);
  assert.ok(Number(text.match(/^sluice_event_loop_longest_stall_seconds (\S+)$/m)![1]) >= (STALL_MS + 300) / 1000);
});

test("bench:stall reads the event-loop series as /metrics prints them", () => {
  const text = `# TYPE sluice_actor_restarts_total counter\n${eventLoopDelayText({ p50Ms: 12, p99Ms: 800, maxMs: 2_345, stalls: 3, longestStallMs: 6_789 })}`;
  assert.equal(parseStallMetrics(text), { stalls: 3, longestStallS: 6.789, windowMaxS: 2.345 });
  assert.is(parseStallMetrics("not sluice"), undefined);
});

test.run();
