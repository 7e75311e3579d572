// The window and detect benchmarks on a tiny input (see throughput.test.ts): they run end to end
// and count what they were given; speed is not asserted.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { main as windows } from "../../bench/windows.ts";
import { main as detect } from "../../bench/detect.ts";

const test = suite("bench: window and detect stages");

test("windows: the window actor folds every reading into AGG results, the whole pipeline stores every reading", async () => {
  const s = await windows({ events: 800 });
  assert.ok(Number(s.events) >= 800, `events ${String(s.events)}`);
  assert.ok(Number(s.agg_results) > 0, "no window results in AGG");
  for (const f of ["events_per_s", "baseline", "ratio", "pipeline_events_per_s", "pipeline_ratio"]) assert.ok(Number(s[f]) > 0, `${f} = ${String(s[f])}`);
});

test("detect: the detector, detection in process and the detect actor each handle every input", async () => {
  const s = await detect({ points: 2_000, events: 400 });
  assert.is(s.events, 400);
  assert.is(s.points, 2_000);
  for (const f of ["events_per_s", "baseline", "ratio", "univariate_points_per_s", "in_process_events_per_s", "parse_per_s"]) assert.ok(Number(s[f]) > 0, `${f} = ${String(s[f])}`);
});

test.run();
