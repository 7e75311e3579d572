// The end-to-end benchmark with one process per actor (`sluice up --split` as a child) on a tiny
// input: every event becomes a row; speed is not asserted.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { main as pipeline } from "../../bench/pipeline.ts";

const test = suite("bench: pipeline split");

test("split: sluice up --split stores every event, and the summary carries the split figures", async () => {
  const s = await pipeline({ events: 300, modes: ["split"] });
  assert.is(s.events, 300);
  for (const f of ["events_per_s", "baseline", "ratio", "split_events_per_s", "split_ratio"]) assert.ok(Number(s[f]) > 0, `${f} = ${String(s[f])}`);
  assert.is(s.split_events_per_s, s.events_per_s);
});

test.run();
