import { test } from "uvu";
import * as assert from "uvu/assert";
import { ConfigError, loadConfig } from "../../config/index.ts";

test("SLUICE_EVENTS_BATCH: batched EVENTS unless off; anything else is refused naming the variable", () => {
  assert.is(loadConfig({}).batchEvents, true);
  assert.is(loadConfig({ SLUICE_EVENTS_BATCH: "" }).batchEvents, true);
  assert.is(loadConfig({ SLUICE_EVENTS_BATCH: "on" }).batchEvents, true);
  assert.is(loadConfig({ SLUICE_EVENTS_BATCH: "off" }).batchEvents, false);
  assert.throws(() => loadConfig({ SLUICE_EVENTS_BATCH: "yes" }), (err: unknown) => err instanceof ConfigError && /SLUICE_EVENTS_BATCH="yes": expected on or off/.test(err.message));
});

test.run();
