// The memory benchmark with marks seconds apart instead of minutes: `sluice up` runs, stores the
// events, and its RSS is read at each mark, split by who holds it.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { main as memory, parseProcessMemory } from "../../bench/memory.ts";
import { processMemoryText } from "../../otel/memory.ts";

const test = suite("bench: memory");

interface MarkFields {
  at_s: number; rss_mb: number; rows: number; backlog: number;
  file_mb: number; heap_used_mb: number; heap_total_mb: number; array_buffers_mb: number; engine_mb: number; other_mb: number;
}

test("the breakdown reads back what /metrics prints", () => {
  const memory = { rss: 500 * 2 ** 20, rssAnon: 300 * 2 ** 20, rssFile: 200 * 2 ** 20, heapUsed: 100 * 2 ** 20, heapTotal: 150 * 2 ** 20, external: 20 * 2 ** 20, arrayBuffers: 18 * 2 ** 20 };
  assert.equal(parseProcessMemory(`# HELP x\nsluice_actor_held{actor="a"} 3\n${processMemoryText(memory)}`), memory);
});

const checkMarks = (s: Record<string, unknown>) => {
  const marks = s.marks as MarkFields[];
  assert.is(marks.length, 2);
  assert.ok(marks[0].at_s >= 3 && marks[1].at_s >= 30, `marks at ${marks.map((m) => m.at_s).join(", ")} s`);
  for (const m of marks) assert.ok(m.rss_mb > 0, `rss ${m.rss_mb}`);
  assert.ok(marks[1].rows > 0, "sluice up stored no event by the last mark");
  assert.is(s.baseline, marks[0].rss_mb);
  assert.is(s.rss_mb, marks[1].rss_mb);
  // By the last mark the API answers /metrics and the engine its system.metrics.
  const last = marks[1];
  assert.ok(last.heap_total_mb >= last.heap_used_mb && last.heap_used_mb > 0, `heap ${last.heap_used_mb} / ${last.heap_total_mb} MB`);
  assert.ok(last.file_mb > 0 && last.file_mb < last.rss_mb, `file-backed ${last.file_mb} of ${last.rss_mb} MB`);
  assert.ok(last.engine_mb > 0, `engine ${last.engine_mb} MB`);
};

test("memory: RSS of sluice up at each mark, with rows stored by the last", async () => {
  // The last mark late enough for a loaded machine to have started every actor and stored a batch.
  const s = await memory({ rate: 50, atSeconds: [3, 30] });
  assert.is(s.keys, null);
  checkMarks(s);
});

test("memory --keys: the bench publishes readings from that many sensors to sluice up --no-generate", async () => {
  const s = await memory({ rate: 50, atSeconds: [3, 30], keys: 500 });
  assert.is(s.keys, 500);
  checkMarks(s);
});

test.run();
