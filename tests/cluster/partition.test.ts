// Issue 15: one node of the 3-node cluster cut off while the producer publishes and the pipeline
// runs: RAW's stream leader is stopped (SIGSTOP) for longer than JetStream's election timeout, so
// the other two elect a new leader and go on, then let go (SIGCONT) and must step down and catch
// up. Every acknowledged message must be exactly once on EVENTS and in sluice.events (with and
// without FINAL). SLUICE_CLUSTER_EVENTS sets the input size (`npm run test:cluster`).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { NatsConnection } from "@nats-io/transport-node";
import type { NatsCluster } from "../harness/nats-cluster.ts";
import { clusterInput, runOnCluster, untilAcked, type RunResult } from "../harness/cluster-run.ts";

const EVENTS = Number(process.env.SLUICE_CLUSTER_EVENTS || 1_200);
/** nats-server elects a new RAFT leader after 2–5 s without heartbeats; 12 s is well past that. */
const PAUSE_MS = 12_000;

const test = suite<{ run: RunResult; inputSize: number }>("cluster partition: a stopped stream leader loses and doubles nothing acknowledged");

async function pauseRawLeader(cluster: NatsCluster, probe: NatsConnection, acked: () => number, faults: string[]): Promise<void> {
  await untilAcked(acked, EVENTS / 3);
  const leader = await cluster.streamLeader(probe, "RAW", { current: 2 });
  cluster.pause(leader);
  const next = await cluster.streamLeader(probe, "RAW", { not: leader, timeoutMs: 30_000 });
  faults.push(`SIGSTOP RAW leader ${leader} at ${acked()} acked; new RAW leader ${next}`);
  await new Promise((r) => setTimeout(r, PAUSE_MS));
  cluster.resume(leader);
  await cluster.allCurrent();
  faults.push(`SIGCONT ${leader} after ${PAUSE_MS / 1000} s at ${acked()} acked; every meta peer current`);
}

test.before(async (ctx) => {
  const input = clusterInput(EVENTS);
  ctx.inputSize = input.length;
  try {
    ctx.run = await runOnCluster("partitioned", input, pauseRawLeader);
  } catch (err) {
    // uvu would end the suite on a failed hook without saying why.
    console.error(`cluster partition run failed: ${(err as Error).stack}`);
    throw err;
  }
});

test("every message was acknowledged and the run came to rest after the fault", ({ run, inputSize }) => {
  assert.is(run.producer.acked.size, inputSize);
  assert.is(run.unquiet, undefined, `never came to rest: ${run.unquiet}`);
  assert.is(run.faults.length, 2, `the fault struck: ${run.faults.join("; ")}`);
});

test("EVENTS holds every acknowledged message once", ({ run }) => {
  assert.is(new Set(run.eventIds).size, run.eventIds.length, `${run.eventIds.length - new Set(run.eventIds).size} Nats-Msg-Ids twice on EVENTS`);
  assert.is(run.eventIds.length, run.producer.acked.size);
});

test("sluice.events: each acknowledged message exactly once, with and without FINAL", ({ run }) => {
  assert.equal(run.finalIds, [...run.producer.acked].sort(), "FINAL event ids are the acknowledged ids");
  assert.is(run.rowsWithoutFinal, run.producer.acked.size, "rows without FINAL (a row stored twice counts twice)");
});

test.run();
