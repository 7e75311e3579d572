// Issue 15: the pipeline on a 3-node JetStream cluster (SLUICE_REPLICAS=3) while a producer
// publishes, with a SIGKILL of the JetStream meta leader and then of RAW's stream leader (each
// restarted on its store once a new leader serves), against a fault-free reference run of the
// same input on one server (cluster-run.ts: referenceRun). Every message JetStream acknowledged
// to the producer must be exactly once on EVENTS and in sluice.events (with and without FINAL),
// in both runs, and the windows must equal the reference's.
// SLUICE_CLUSTER_EVENTS sets the input size (`npm run test:cluster` runs a larger one).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { surfaceHookErrors } from "../harness/hooks.ts";
import type { NatsConnection } from "@nats-io/transport-node";
import type { NatsCluster } from "../harness/nats-cluster.ts";
import type { IdentifiedMessage } from "../harness/acked-producer.ts";
import { diffRows } from "../harness/run-snapshot.ts";
import { clusterInput, referenceRun, runOnCluster, untilAcked, type RunResult } from "../harness/cluster-run.ts";

const EVENTS = Number(process.env.SLUICE_CLUSTER_EVENTS || 1_200);

interface Ctx {
  input: IdentifiedMessage[];
  clean: RunResult;
  faulted: RunResult;
}

const SUITE = "cluster failover: leaders killed under load lose and double nothing acknowledged";
const test = surfaceHookErrors(suite<Ctx>(SUITE), SUITE);

/** Kills the meta leader, then RAW's stream leader, each once the producer is a quarter further; restarts each once a new leader serves. */
async function killLeaders(cluster: NatsCluster, probe: NatsConnection, acked: () => number, fault: (what: string) => void): Promise<void> {
  await untilAcked(acked, EVENTS / 4);
  const meta = await cluster.metaLeader();
  const rawBefore = await cluster.streamLeader(probe, "RAW");
  await cluster.kill(meta);
  const newMeta = await cluster.metaLeader(60_000, meta);
  fault(`SIGKILL meta leader ${meta} at ${acked()} acked (RAW leader was ${rawBefore}); new meta leader ${newMeta}`);
  await cluster.restart(meta);
  await cluster.allCurrent();
  fault(`${meta} restarted on its store, every meta peer current at ${acked()} acked`);

  await untilAcked(acked, EVENTS / 2);
  const raw = await cluster.streamLeader(probe, "RAW", { current: 2 });
  await cluster.kill(raw);
  const newRaw = await cluster.streamLeader(probe, "RAW", { not: raw });
  fault(`SIGKILL RAW leader ${raw} at ${acked()} acked; new RAW leader ${newRaw}`);
  await cluster.restart(raw);
  await cluster.allCurrent();
  fault(`${raw} restarted on its store at ${acked()} acked`);
}

test.before(async (ctx) => {
  ctx.input = clusterInput(EVENTS);
  try {
    ctx.clean = await referenceRun(ctx.input);
    ctx.faulted = await runOnCluster("faulted", ctx.input, killLeaders, ctx.clean);
  } catch (err) {
    // uvu would end the suite on a failed hook without saying why.
    console.error(`cluster failover run failed: ${(err as Error).stack}`);
    throw err;
  }
});

test("every message was acknowledged to the producer and both runs came to rest", ({ clean, faulted, input }) => {
  for (const run of [clean, faulted]) {
    assert.is(run.producer.acked.size, input.length, `${run.label}: acked`);
    assert.is(run.unquiet, undefined, `${run.label} run never came to rest: ${run.unquiet}`);
  }
  assert.is(faulted.faults.length, 4, `every fault struck: ${faulted.faults.join("; ")}`);
});

test("EVENTS holds every acknowledged message once", ({ clean, faulted }) => {
  for (const run of [clean, faulted]) {
    assert.is(new Set(run.eventIds).size, run.eventIds.length, `${run.label}: ${run.eventIds.length - new Set(run.eventIds).size} Nats-Msg-Ids twice on EVENTS`);
    assert.is(run.eventIds.length, run.producer.acked.size, `${run.label}: EVENTS events vs acknowledged`);
  }
});

test("sluice.events: each acknowledged message exactly once, with and without FINAL", ({ clean, faulted }) => {
  for (const run of [clean, faulted]) {
    const acked = [...run.producer.acked].sort();
    assert.equal(run.finalIds, acked, `${run.label}: FINAL event ids are the acknowledged ids`);
    assert.is(run.rowsWithoutFinal, acked.length, `${run.label}: rows without FINAL (a row stored twice counts twice)`);
  }
});

test("sluice.windows: the faulted run's windows equal the fault-free run's", ({ clean, faulted }) => {
  assert.ok(clean.windows.length > 0, "the fault-free run closed windows to compare");
  const diff = diffRows(clean.windows, faulted.windows);
  assert.ok(diff === undefined, `sluice.windows differs:\n${diff}`);
});

test.run();
