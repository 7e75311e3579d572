import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Kvm } from "@nats-io/kv";
import { SluiceProcess } from "../harness/sluice-process.ts";
import { publishAll } from "../harness/pipeline.ts";
import { waitFor } from "../harness/wait.ts";
import { keyedBuckets, type LeaseValue } from "../../actors/runtime/keyed/ownership.ts";
import { finalRows, flush, publishInChunks, readings, sameRows, settle, startEnv, startWindow } from "./helpers.ts";

const SENSORS = 24;
const input = readings(SENSORS, 16);
const test = suite("windows: one instance equals two");

test("two window instances, joining and leaving mid-stream, give the rows of one", async () => {
  let single: string[];
  {
    const env = await startEnv();
    const window = await startWindow(env);
    try {
      await publishAll(env.nc, [...input, ...flush(SENSORS)]);
      await settle(env, input.length + SENSORS);
      single = await finalRows(env);
    } finally {
      await window.cleanup();
      await env.close();
    }
  }

  const env = await startEnv();
  const processEnv = { NATS_URL: env.nats.url, SLUICE_STATE_DIR: env.pipeline.stateDir, SLUICE_LOG_LEVEL: "info" };
  const a = SluiceProcess.start(["actor", "window"], processEnv);
  let b: SluiceProcess | undefined;
  try {
    const half = Math.floor(input.length / 2);
    await publishInChunks(env.nc, input.slice(0, half), 200, 200);
    b = SluiceProcess.start(["actor", "window"], processEnv);
    const leases = await new Kvm(env.nc).open(keyedBuckets("window").leases);
    const holders = async () => {
      const owners = new Set<string>();
      for await (const key of await leases.keys()) owners.add(String((JSON.parse((await leases.get(key))!.string()) as LeaseValue).holder));
      return owners.size;
    };
    // A hand-over is a final checkpoint, a release and an acquire; on a loaded machine the second
    // process alone can take seconds to start.
    const owners = await waitFor(holders, (n) => n === 2, 20_000, 250);
    assert.is(owners, 2, `both instances own tasks after the join:\n${a.output}\n${b.output}`);
    await publishInChunks(env.nc, input.slice(half), 200, 200);
    // The first instance leaves cleanly; its tasks move to the second.
    await a.kill("SIGTERM");
    await publishAll(env.nc, flush(SENSORS));
    await settle(env, input.length + SENSORS);
    const two = await finalRows(env);
    assert.match(b.output, /runs task/);
    const diff = sameRows(single, two);
    assert.is(diff, undefined, diff);
  } finally {
    await a.kill("SIGKILL");
    await b?.kill("SIGTERM");
    await env.close();
  }
});

test.run();
