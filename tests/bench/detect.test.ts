// The detect benchmark on a tiny input (see throughput.test.ts): it runs end to end and counts
// what it was given; speed is not asserted.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { main as detect } from "../../bench/detect.ts";

const test = suite("bench: detect stage");

test("detect: the detector, detection in process and the detect actor each handle every input", async () => {
  const s = await detect({ points: 2_000, events: 400 });
  assert.is(s.events, 400);
  assert.is(s.points, 2_000);
  for (const f of ["events_per_s", "baseline", "ratio", "univariate_points_per_s", "in_process_events_per_s", "parse_per_s"]) assert.ok(Number(s[f]) > 0, `${f} = ${String(s[f])}`);
});

test("detect --in-process-only: the detector and detection in process, no broker", async () => {
  const s = await detect({ points: 2_000, events: 400, inProcessOnly: true });
  assert.is(s.name, "detect-in-process");
  assert.is(s.events, 400);
  for (const f of ["events_per_s", "baseline", "ratio", "univariate_points_per_s", "in_process_events_per_cpu_s"]) assert.ok(Number(s[f]) > 0, `${f} = ${String(s[f])}`);
});

test.run();
