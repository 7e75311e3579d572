import { suite } from "uvu";
import * as assert from "uvu/assert";
import { publishAll } from "../harness/pipeline.ts";
import { boundedShuffle, finalRows, flush, readings, sameRows, settle, startEnv, startWindow } from "./helpers.ts";

const SENSORS = 24;
const test = suite("windows: shuffled input through the pipeline");

async function run(order: "sorted" | "shuffled"): Promise<string[]> {
  const env = await startEnv();
  const window = await startWindow(env);
  try {
    const input = readings(SENSORS, 12);
    // 24 sensors per 10 s step: a shift of up to 10 places is under 5 s of event time, inside
    // iot's 5 s out-of-orderness bound, across all partitions at once.
    const messages = order === "sorted" ? input : boundedShuffle(input, 10);
    await publishAll(env.nc, [...messages, ...flush(SENSORS)]);
    await settle(env, input.length + SENSORS);
    return await finalRows(env);
  } finally {
    await window.cleanup();
    await env.close();
  }
}

test("bounded disorder gives the same rows as sorted input, every kind", async () => {
  const sorted = await run("sorted");
  const shuffled = await run("shuffled");
  const kinds = new Set(sorted.map((r) => (JSON.parse(r) as { kind: string }).kind));
  assert.equal([...kinds].sort(), ["hopping", "session", "tumbling"], "all three window kinds are in the results");
  assert.ok(sorted.some((r) => /"key":"site=/.test(r) && /"distinct_count":"?[1-9]/.test(r)), "site groups with distinct sensor counts");
  assert.ok(sorted.length > 500, `${sorted.length} rows`);
  const diff = sameRows(sorted, shuffled);
  assert.is(diff, undefined, diff);
});

test.run();
