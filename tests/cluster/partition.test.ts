// Issue 15: one node of the 3-node cluster cut off while the producer publishes and the pipeline
// runs: RAW's stream leader is stopped (SIGSTOP) for longer than JetStream's election timeout, so
// the other two elect a new leader and go on, then let go (SIGCONT) and must step down and catch
// up; then the node the pipeline is connected to is stopped, and the pipeline must move to another
// node while it is. Every acknowledged message must be exactly once on EVENTS and in sluice.events
// (with and without FINAL), and the windows must equal a fault-free run's (on one server, see
// cluster-run.ts: referenceRun; the window actor reads
// keyed, with no durable to say it is behind: without the reference a run between owners would
// look finished). SLUICE_CLUSTER_EVENTS sets the input size (`npm run test:cluster`).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { surfaceHookErrors } from "../harness/hooks.ts";
import type { NatsConnection } from "@nats-io/transport-node";
import type { NatsCluster } from "../harness/nats-cluster.ts";
import { clusterInput, referenceRun, runOnCluster, untilAcked, type RunResult } from "../harness/cluster-run.ts";
import type { TestPipeline } from "../harness/pipeline.ts";
import { waitFor } from "../harness/wait.ts";
import { diffRows } from "../harness/run-snapshot.ts";

const EVENTS = Number(process.env.SLUICE_CLUSTER_EVENTS || 1_200);
/** nats-server elects a new RAFT leader after 2–5 s without heartbeats; 12 s is well past that. */
const PAUSE_MS = 12_000;

const SUITE = "cluster partition: a stopped stream leader loses and doubles nothing acknowledged";
const test = surfaceHookErrors(suite<{ run: RunResult; clean: RunResult; inputSize: number }>(SUITE), SUITE);

/**
 * RAW's leader stopped for {@link PAUSE_MS} and resumed; then the node the pipeline's connection
 * is on stopped until the pipeline has moved to another node (nats/connect.ts pings a server
 * that stops answering), or 60 s.
 */
async function pauseNodes(cluster: NatsCluster, probe: NatsConnection, acked: () => number, fault: (what: string) => void, pipeline: TestPipeline): Promise<void> {
  await untilAcked(acked, EVENTS / 3);
  const leader = await cluster.streamLeader(probe, "RAW", { current: 2 });
  cluster.pause(leader);
  const next = await cluster.streamLeader(probe, "RAW", { not: leader, timeoutMs: 30_000 });
  fault(`SIGSTOP RAW leader ${leader} at ${acked()} acked; new RAW leader ${next}`);
  await new Promise((r) => setTimeout(r, PAUSE_MS));
  cluster.resume(leader);
  await cluster.allCurrent();
  fault(`SIGCONT ${leader} after ${PAUSE_MS / 1000} s at ${acked()} acked; every meta peer current`);

  await untilAcked(acked, (2 * EVENTS) / 3);
  const onNode = pipeline.nc.info?.server_name ?? "";
  const pausedAt = Date.now();
  cluster.pause(onNode);
  const now = await waitFor(async () => pipeline.nc.info?.server_name ?? "", (n) => n !== "" && n !== onNode, 60_000, 250);
  fault(`SIGSTOP ${onNode}, the pipeline's server, at ${acked()} acked: ${now !== onNode ? `the pipeline moved to ${now}` : "the pipeline stayed on it"} after ${((Date.now() - pausedAt) / 1000).toFixed(1)} s`);
  cluster.resume(onNode);
  await cluster.allCurrent();
  fault(`SIGCONT ${onNode}; every meta peer current`);
}

test.before(async (ctx) => {
  const input = clusterInput(EVENTS);
  ctx.inputSize = input.length;
  try {
    ctx.clean = await referenceRun(input);
    ctx.run = await runOnCluster("partitioned", input, pauseNodes, ctx.clean);
  } catch (err) {
    // uvu would end the suite on a failed hook without saying why.
    console.error(`cluster partition run failed: ${(err as Error).stack}`);
    throw err;
  }
});

test("every message was acknowledged and the run came to rest after the fault", ({ run, inputSize }) => {
  assert.is(run.producer.acked.size, inputSize);
  assert.is(run.unquiet, undefined, `never came to rest: ${run.unquiet}`);
  assert.is(run.faults.length, 4, `the faults struck: ${run.faults.join("; ")}`);
});

test("the pipeline left a node that stopped answering for another one while it was stopped", ({ run }) => {
  assert.match(run.faults[2], /the pipeline moved to n\d/, run.faults[2]);
});

test("EVENTS holds every acknowledged message once", ({ run }) => {
  assert.is(new Set(run.eventIds).size, run.eventIds.length, `${run.eventIds.length - new Set(run.eventIds).size} Nats-Msg-Ids twice on EVENTS`);
  assert.is(run.eventIds.length, run.producer.acked.size);
});

test("sluice.events: each acknowledged message exactly once, with and without FINAL", ({ run }) => {
  assert.equal(run.finalIds, [...run.producer.acked].sort(), "FINAL event ids are the acknowledged ids");
  assert.is(run.rowsWithoutFinal, run.producer.acked.size, "rows without FINAL (a row stored twice counts twice)");
});

test("sluice.windows: the partitioned run's windows equal the fault-free run's", ({ run, clean }) => {
  assert.ok(clean.windows.length > 0, "the fault-free run closed windows to compare");
  const diff = diffRows(clean.windows, run.windows, ["fault-free", "partitioned"]);
  assert.ok(diff === undefined, `sluice.windows differs:\n${diff}`);
});

test.run();
