import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Kvm } from "@nats-io/kv";
import { SluiceProcess } from "../harness/sluice-process.ts";
import { publishAll } from "../harness/pipeline.ts";
import { waitFor } from "../harness/wait.ts";
import { keyedBuckets, parseLease } from "../../actors/runtime/keyed/ownership.ts";
import { finalRows, flush, publishInChunks, readings, sameRows, settle, startEnv, startWindow, type Env } from "./helpers.ts";

const SENSORS = 24;
const input = readings(SENSORS, 20);
const test = suite("windows: SIGKILL and resume");

async function publishInput(env: Env): Promise<void> {
  // About ten seconds of traffic, so the kill lands after checkpoints and before the end.
  await publishInChunks(env.nc, input, 100, 350);
  await publishAll(env.nc, flush(SENSORS));
}

test("a window process killed with SIGKILL mid-stream and restarted gives the uninterrupted rows", async () => {
  let expected: string[];
  {
    const env = await startEnv();
    const window = await startWindow(env);
    try {
      await publishInput(env);
      await settle(env, input.length + SENSORS);
      expected = await finalRows(env);
    } finally {
      await window.cleanup();
      await env.close();
    }
  }

  const env = await startEnv();
  const processEnv = { NATS_URL: env.nats.url, SLUICE_STATE_DIR: env.pipeline.stateDir, SLUICE_LOG_LEVEL: "info" };
  const first = SluiceProcess.start(["actor", "window"], processEnv);
  let second: SluiceProcess | undefined;
  try {
    // Traffic starts once the process runs its tasks (a loaded machine can take seconds to start
    // it), so the first checkpoints (5 s after a task starts, at a batch) come mid-stream.
    const started = await waitFor(async () => first.output, (out) => /runs task p0/.test(out), 30_000, 100);
    assert.match(started, /runs task p0/, "the first process started its tasks");
    // A checkpoint counts once a lease points at it (the object is written first, then the pointer moved).
    const leases = await new Kvm(env.nc).open(keyedBuckets("window").leases);
    const checkpointed = async () => {
      for await (const key of await leases.keys()) {
        const entry = await leases.get(key);
        if (entry?.operation === "PUT" && parseLease(entry.string()).checkpoint) return true;
      }
      return false;
    };
    let killedAfter: number | undefined;
    let aggBefore = 0;
    // Paced as publishInput is; killed after the first chunk that finds a checkpoint made current.
    for (let i = 0; i < input.length; i += 100) {
      await publishInChunks(env.nc, input.slice(i, i + 100), 100, 350);
      if (killedAfter === undefined && (await checkpointed())) {
        await first.kill("SIGKILL");
        killedAfter = i + 100;
        aggBefore = await env.pipeline.scalar("SELECT count() FROM sluice.window_aggregates");
      }
    }
    await publishAll(env.nc, flush(SENSORS));
    assert.ok(killedAfter !== undefined && killedAfter < input.length, `killed after a checkpoint, before the end of the input (after message ${killedAfter} of ${input.length}): ${first.output}`);
    const restarted = SluiceProcess.start(["actor", "window"], processEnv);
    second = restarted;
    // Settled only counts once the new process works: before, AGG merely stands still.
    const resuming = await waitFor(async () => restarted.output, (out) => /resuming after EVENTS sequence \d+/.test(out), 30_000, 100);
    assert.match(resuming, /resuming after EVENTS sequence \d+/, `the new process resumed from a checkpoint:\n${resuming}`);
    await settle(env, input.length + SENSORS, 60_000);
    const resumed = await finalRows(env);
    assert.ok(aggBefore < resumed.length, `killed mid-stream (${aggBefore} rows stored before the kill, ${resumed.length} at the end)`);
    const diff = sameRows(expected, resumed);
    assert.is(diff, undefined, diff);
  } finally {
    await first.kill("SIGKILL");
    await second?.kill("SIGTERM");
    await env.close();
  }
});

test.run();
