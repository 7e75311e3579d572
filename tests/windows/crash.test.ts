import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Objm } from "@nats-io/obj";
import { SluiceProcess } from "../harness/sluice-process.ts";
import { publishAll } from "../harness/pipeline.ts";
import { waitFor } from "../harness/wait.ts";
import { keyedBuckets } from "../../actors/runtime/keyed/ownership.ts";
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
  let publishing: Promise<void> | undefined;
  try {
    publishing = publishInput(env);
    // Killed once a task has checkpointed (the first ones come 5 s after a task starts; on a loaded
    // machine the process alone can take seconds to start its tasks).
    const checkpoints = await waitFor(async () => (await new Objm(env.nc).open(keyedBuckets("window").state)).list(), (list) => list.length > 0, 20_000, 250);
    await first.kill("SIGKILL");
    assert.ok(checkpoints.length > 0, `checkpoints were written before the kill: ${first.output}`);
    const aggBefore = (await env.pipeline.scalar("SELECT count() FROM sluice.window_aggregates"));
    await publishing;
    second = SluiceProcess.start(["actor", "window"], processEnv);
    await settle(env, input.length + SENSORS, 60_000);
    const resumed = await finalRows(env);
    assert.ok(aggBefore < resumed.length, `killed mid-stream (${aggBefore} rows stored before the kill, ${resumed.length} at the end)`);
    assert.match(second.output, /resuming after EVENTS sequence \d+/, "the new process resumed from a checkpoint");
    const diff = sameRows(expected, resumed);
    assert.is(diff, undefined, diff);
  } finally {
    await first.kill("SIGKILL");
    await second?.kill("SIGTERM");
    // A failed assertion above must be what the run reports, not this publish hitting a closed connection.
    await publishing?.catch(() => undefined);
    await env.close();
  }
});

test.run();
