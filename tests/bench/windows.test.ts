// The window benchmark on a tiny input (see throughput.test.ts): it runs end to end and counts
// what it was given; speed is not asserted.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { main as windows } from "../../bench/windows.ts";

const test = suite("bench: window stage");

test("windows: the window actor folds every reading into AGG results, the whole pipeline stores every reading", async () => {
  const s = await windows({ events: 800 });
  assert.ok(Number(s.events) >= 800, `events ${String(s.events)}`);
  assert.ok(Number(s.agg_results) > 0, "no window results in AGG");
  for (const f of ["events_per_s", "baseline", "ratio", "pipeline_events_per_s", "pipeline_ratio"]) assert.ok(Number(s[f]) > 0, `${f} = ${String(s[f])}`);
});

test.run();
