import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Objm } from "@nats-io/obj";
import { createGenerator } from "../../actors/generate/index.ts";
import { keyedBuckets } from "../../actors/runtime/keyed/ownership.ts";
import { NatsServer } from "../harness/nats-server.ts";
import { publishAll, streamCount } from "../harness/pipeline.ts";
import { SluiceProcess } from "../harness/sluice-process.ts";
import { waitFor } from "../harness/wait.ts";
import type { TestMessage } from "../harness/events.ts";
import { alertsDiff, alertsOnStream, expectedAlerts } from "./helpers.ts";

const test = suite("detect: keyed tasks, one instance equals two, SIGKILL resumes");

/** iot, txn and social with injected anomalies: every task gets alerts. */
const input: TestMessage[] = createGenerator({ seed: 8, sources: ["iot", "txn", "social"], anomalyRate: 0.05, intervalMs: 250, entities: { iot: 12, txn: 40, social: 30 } })
  .take(4_000)
  .map((e) => ({ subject: e.subject, body: JSON.stringify(e.payload) }));

interface Env {
  nats: NatsServer;
  nc: NatsConnection;
  processEnv: Record<string, string>;
  close(): Promise<void>;
}

/** validate and detect run as child processes, as `sluice actor …` runs them (with trace context on EVENTS). */
async function startEnv(): Promise<Env> {
  const nats = await NatsServer.start();
  const stateDir = mkdtempSync(join(tmpdir(), "sluice-detect-"));
  const processEnv = { NATS_URL: nats.url, SLUICE_STATE_DIR: stateDir, SLUICE_LOG_LEVEL: "info" };
  const validate = SluiceProcess.start(["actor", "validate"], processEnv);
  const nc = await connect({ servers: nats.url });
  await waitFor(() => streamCount(nc, "EVENTS").catch(() => -1), (n) => n >= 0, 30_000);
  return {
    nats, nc, processEnv,
    async close() {
      await validate.kill("SIGTERM");
      await nc.close();
      await nats.stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** About ten seconds of traffic, so instances can join, leave and die while it flows. */
async function publishSlowly(nc: NatsConnection, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i += 150) {
    await publishAll(nc, input.slice(i, Math.min(i + 150, to)));
    await sleep(350);
  }
}

/** Waits until every event is on EVENTS and ALERTS holds as many alerts as expected, and stays so. */
async function settled(env: Env, label: string, ...procs: SluiceProcess[]): Promise<Map<string, string>> {
  await waitFor(() => streamCount(env.nc, "EVENTS"), (n) => n >= input.length, 30_000);
  const expected = await expectedAlerts(env.nc);
  assert.ok(expected.size > 20, `enough alerts to compare: ${expected.size}`);
  const bodies = [...expected.values()].map((b) => JSON.parse(b) as { source: string; trace_id: string });
  for (const source of ["iot", "txn", "social"]) assert.ok(bodies.some((b) => b.source === source), `${source} alerts are compared`);
  assert.ok(bodies.every((b) => /^[0-9a-f]{32}$/.test(b.trace_id)), "each alert carries its event's trace id");
  try {
    await waitFor(() => streamCount(env.nc, "ALERTS"), (n) => n >= expected.size, 60_000);
  } catch (err) {
    throw new Error(`${label}: ALERTS never reached ${expected.size}\n${procs.map((p) => p.output).join("\n---\n")}`, { cause: err });
  }
  await sleep(1_500);
  return expected;
}

test("two detect instances, one joining and one leaving mid-stream, publish exactly the alerts of one", async () => {
  const env = await startEnv();
  const a = SluiceProcess.start(["actor", "detect"], env.processEnv);
  let b: SluiceProcess | undefined;
  try {
    const third = Math.floor(input.length / 3);
    await publishSlowly(env.nc, 0, third);
    b = SluiceProcess.start(["actor", "detect"], env.processEnv);
    await publishSlowly(env.nc, third, 2 * third);
    // The first leaves cleanly; its tasks move to the second.
    await a.kill("SIGTERM");
    await publishSlowly(env.nc, 2 * third, input.length);
    const expected = await settled(env, "two instances", a, b);
    assert.match(b.output, /detect/);
    const diff = alertsDiff(expected, await alertsOnStream(env.nc));
    assert.is(diff, undefined, diff);
  } finally {
    await a.kill("SIGKILL");
    await b?.kill("SIGTERM");
    await env.close();
  }
});

test("a detect process killed with SIGKILL mid-stream and restarted publishes exactly the uninterrupted alerts", async () => {
  const env = await startEnv();
  const first = SluiceProcess.start(["actor", "detect"], env.processEnv);
  let second: SluiceProcess | undefined;
  let publishing: Promise<void> | undefined;
  try {
    // Traffic starts once the process runs its tasks (a loaded machine can take seconds to start
    // it, and a detect that starts late catches up at once), so the first checkpoint comes mid-stream.
    const started = await waitFor(async () => first.output, (out) => /runs task/.test(out), 30_000, 100);
    assert.match(started, /runs task/, "the first process started its tasks");
    publishing = publishSlowly(env.nc, 0, input.length);
    // Killed once a checkpoint exists (written every 5 s of work), however loaded the machine is.
    const objm = new Objm(env.nc);
    const checkpoints = await waitFor(async () => (await objm.open(keyedBuckets("detect").state)).list(), (list) => list.length > 0, 30_000, 200);
    await first.kill("SIGKILL");
    assert.ok(checkpoints.length > 0, `checkpoints were written before the kill:\n${first.output}`);
    const before = await streamCount(env.nc, "ALERTS");
    await publishing;
    second = SluiceProcess.start(["actor", "detect"], env.processEnv);
    const expected = await settled(env, "after SIGKILL", first, second);
    assert.ok(before > 0 && before < expected.size, `killed mid-stream: ${before} of ${expected.size} alerts stored before the kill`);
    const diff = alertsDiff(expected, await alertsOnStream(env.nc));
    assert.is(diff, undefined, diff);
  } finally {
    await first.kill("SIGKILL");
    await second?.kill("SIGTERM");
    // A failed assertion must not close the connection under a publisher that is still running.
    await publishing?.catch(() => undefined);
    await env.close();
  }
});

test.run();
