import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import { gunzipSync } from "node:zlib";
import { NatsServer } from "../harness/nats-server.ts";
import { streamMessages } from "../harness/run-snapshot.ts";
import { probeRead, waitFor } from "../harness/wait.ts";
import { ensureStreams } from "../../subjects/setup.ts";
import { keyedBuckets, type LeaseValue } from "../../actors/runtime/keyed/ownership.ts";
import type { Checkpoint } from "../../actors/runtime/keyed/checkpoint.ts";
import type { CounterOutput } from "./keyed-counter.ts";

const WORKER = fileURLToPath(new URL("./keyed-worker.ts", import.meta.url));
const test = suite<{ nats: NatsServer; nc: NatsConnection; workers: Worker[] }>("keyed runtime: a stalled instance that wakes up after a takeover writes nothing");

interface Worker {
  child: ChildProcess;
  output: string;
}

function startWorker(url: string, label: string): Worker {
  const child = spawn(process.execPath, ["--import", "tsx", WORKER], { env: { ...process.env, NATS_URL: url, KTEST_LABEL: label }, stdio: ["ignore", "pipe", "pipe"] });
  const w: Worker = { child, output: "" };
  child.stdout!.on("data", (d) => (w.output += d));
  child.stderr!.on("data", (d) => (w.output += d));
  return w;
}

async function stopWorker(w: Worker): Promise<void> {
  if (w.child.exitCode !== null || w.child.signalCode !== null) return;
  const exited = new Promise((resolve) => w.child.once("exit", resolve));
  w.child.kill("SIGCONT");
  w.child.kill("SIGKILL");
  await exited;
}

test.before(async (ctx) => {
  ctx.workers = [];
  ctx.nats = await NatsServer.start();
  // The probes' connection must outlive a server that stalls under a loaded suite (once the default
  // ten reconnect attempts ran out and every later probe failed with "closed connection").
  ctx.nc = await connect({ servers: ctx.nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  await ensureStreams(await jetstreamManager(ctx.nc));
});
test.after(async (ctx) => {
  for (const w of ctx.workers ?? []) await stopWorker(w);
  await ctx.nc?.close();
  await ctx.nats?.stop();
});

async function publishRound(nc: NatsConnection, perPartition: number): Promise<void> {
  const js = jetstream(nc);
  for (let i = 0; i < perPartition; i++) for (const p of [0, 1]) await js.publish(`events.ktest.${p}`, "1");
}

/** The probes' requests wait longer than nats.js' default 5 s, which a loaded machine reaches. */
const PROBE_REQUEST_MS = 15_000;

/**
 * Who holds each task, read the way the test looks, not the way the runtime does: each try opens
 * its own connection and handle, and a try whose get goes unanswered is made again. (Gets on the
 * probes' long-lived connection kept timing out, 15 s each, three tries in a row, once under load
 * while the connection's stream info requests were answered.)
 */
async function holders(url: string): Promise<Record<string, LeaseValue>> {
  return probeRead("lease holders", async () => {
    const nc = await connect({ servers: url, timeout: PROBE_REQUEST_MS });
    try {
      const leases = await new Kvm(jetstream(nc, { timeout: PROBE_REQUEST_MS })).open(keyedBuckets("ktest").leases);
      const out: Record<string, LeaseValue> = {};
      for (const t of ["p0", "p1"]) {
        const e = await leases.get(t);
        if (e?.operation === "PUT") out[t] = JSON.parse(e.string()) as LeaseValue;
      }
      return out;
    } finally {
      await nc.close().catch(() => undefined);
    }
  });
}

/**
 * AGG's messages, each stream sequence once: a duplicate the actor published has a sequence of its
 * own and is still counted, one the read hands over twice is not (a read once returned 108 for 80
 * inputs under load; the stream's own message count is checked as well).
 */
async function outputs(nc: NatsConnection): Promise<Array<{ msgId: string; out: CounterOutput }>> {
  const messages = await probeRead("AGG outputs", () => streamMessages(nc, "AGG"), { timeoutMs: 40_000 });
  const bySeq = new Map(messages.map((m) => [m.seq, m] as const));
  return [...bySeq.values()].map((m) => ({ msgId: m.msgId ?? "", out: JSON.parse(m.data) as CounterOutput }));
}

test("SIGSTOP past the member TTL, another instance takes over, SIGCONT: the first publishes and checkpoints nothing", async (ctx) => {
  const { nc, nats } = ctx;
  const a = startWorker(nats.url, "A");
  ctx.workers.push(a);
  // The worker creates the bucket; until then open() throws and waitFor retries. Deadlines are
  // generous (a worker is a new tsx process; the suite runs two files at once on 2 cores): each
  // wait ends as soon as its condition holds, and is asserted.
  const heldByA = await waitFor(() => holders(nats.url), (h) => Object.keys(h).length === 2 && h.p0.holder !== null && h.p0.holder === h.p1.holder, 60_000, 100);
  assert.ok(heldByA.p0?.holder && heldByA.p0.holder === heldByA.p1?.holder, `A holds both tasks: ${JSON.stringify(heldByA)}\n${a.output}`);
  const idA = heldByA.p0.holder!;

  await publishRound(nc, 20);
  assert.is((await waitFor(() => outputs(nc), (o) => o.length === 40, 30_000, 100)).length, 40, `A handled the first round:\n${a.output}`);

  // A is idle with a pull outstanding: what is published now reaches A's socket while it sleeps.
  a.child.kill("SIGSTOP");
  await publishRound(nc, 20);
  const b = startWorker(nats.url, "B");
  ctx.workers.push(b);
  const takenByB = await waitFor(() => holders(nats.url), (h) => Object.values(h).length === 2 && Object.values(h).every((v) => v.holder !== null && v.holder !== idA), 60_000, 100);
  assert.ok(Object.values(takenByB).length === 2 && Object.values(takenByB).every((v) => v.holder !== null && v.holder !== idA), `B took both tasks after A's membership expired:\n${b.output}`);
  // B must have handled the second round before A wakes: otherwise A, once back, may rightly win a task and handle some of it.
  assert.ok((await waitFor(() => outputs(nc), (o) => o.length >= 80, 60_000, 100)).length >= 80, `B handled the second round:\n${b.output}`);
  const beforeWake = await holders(nats.url);

  a.child.kill("SIGCONT");
  await waitFor(async () => a.output, (out) => /lease of instance \w+ at revision \d+ is lost/.test(out), 60_000, 100);
  // Time for anything A still had in hand to reach the streams, and for a rebalance between A and B.
  await sleep(2_000);

  const all = await outputs(nc);
  const fromA = all.filter((o) => o.out.label === "A");
  assert.equal(fromA.map((o) => o.out.seq).filter((seq) => seq > 40), [], `A published nothing for the messages that arrived while it was stopped:\n${a.output}`);
  assert.is(all.length, 80, `one output per input: ${all.length}`);
  const stored = await probeRead("AGG info", async () => (await jetstreamManager(nc)).streams.info("AGG"));
  assert.is(stored.state.messages, 80, "AGG stores one output per input");
  assert.is(new Set(all.map((o) => o.msgId)).size, 80, "no msg id twice");
  assert.equal(all.filter((o) => o.out.seq > 40).map((o) => o.out.label), Array(40).fill("B"));

  // Each task's checkpoint is the one its current holder wrote, covering all 80 messages.
  const state = await probeRead("checkpoint bucket", () => new Objm(jetstream(nc, { timeout: PROBE_REQUEST_MS })).open(keyedBuckets("ktest").state));
  const now = await holders(nats.url);
  for (const t of ["p0", "p1"] as const) {
    const pointer = now[t].checkpoint!;
    assert.ok(pointer, `${t} has a checkpoint pointer`);
    const blob = await probeRead(`${t} checkpoint ${pointer.object}`, () => state.getBlob(pointer.object));
    const cp = JSON.parse(gunzipSync(blob!).toString("utf8")) as Checkpoint;
    assert.equal(cp.state, { count: 40, sum: 40 }, `${t}: every message counted once`);
    assert.is(cp.seq, t === "p0" ? 79 : 80);
    if (now[t].holder === idA) assert.ok(pointer.seq >= beforeWake[t].checkpoint!.seq, `${t}: A took it back only by a hand-over from B`);
  }
  assert.match(a.output, /refused to (publish|move the checkpoint)/, a.output);
});

test.run();
