// The memory benchmark with marks seconds apart instead of minutes: `sluice up` runs, stores the
// generator's events, and its RSS is read at each mark.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { main as memory } from "../../bench/memory.ts";

const test = suite("bench: memory");

test("memory: RSS of sluice up at each mark, with rows stored by the last", async () => {
  // The last mark late enough for a loaded machine to have started every actor and stored a batch.
  const s = await memory({ rate: 50, atSeconds: [3, 30] });
  const marks = s.marks as Array<{ at_s: number; rss_mb: number; rows: number; backlog: number }>;
  assert.is(marks.length, 2);
  assert.ok(marks[0].at_s >= 3 && marks[1].at_s >= 30, `marks at ${marks.map((m) => m.at_s).join(", ")} s`);
  for (const m of marks) assert.ok(m.rss_mb > 0, `rss ${m.rss_mb}`);
  assert.ok(marks[1].rows > 0, "sluice up stored no generated event by the last mark");
  assert.is(s.baseline, marks[0].rss_mb);
  assert.is(s.rss_mb, marks[1].rss_mb);
});

test.run();
