// The cost-growth benchmark on a tiny input: one child process per configuration, each storing
// every reading and reporting its memory; the table covers the keys and partitions asked for.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { main as growth, statePerKey } from "../../bench/growth.ts";

const test = suite("bench: growth");

// Two configurations keep the file short: the key counts only change the data, the partition
// count also the pipeline's configuration (SLUICE_PARTITIONS) — both reach the child.
test("growth: the stateful stages' state per key, then a configuration per key count and per partition count, each with its rate and memory", async () => {
  const s = await growth({ events: 300, keys: [5], partitions: [1], atKeys: 5, stateKeys: 20, stateReadings: 5, timeoutMs: 60_000 });
  const stages = s.stage_state as Record<string, number>;
  assert.is(stages.keys, 20);
  for (const field of ["window_bytes_per_key", "window_checkpoint_bytes_per_key", "detect_bytes_per_key", "detect_checkpoint_bytes_per_key"]) assert.ok(stages[field] > 0, `${field} ${stages[field]}`);
  const cases = s.cases as Array<Record<string, number>>;
  assert.equal(cases.map((c) => [c.keys, c.partitions]), [[5, 4], [5, 1]]);
  for (const c of cases) {
    assert.is(c.events, 300);
    assert.ok(c.events_per_s > 0 && c.events_per_cpu_s > 0, `events_per_s ${c.events_per_s}, per CPU-s ${c.events_per_cpu_s}`);
    assert.ok(c.rss_start_mb > 0 && c.rss_peak_mb >= c.rss_start_mb, `rss ${c.rss_start_mb} → peak ${c.rss_peak_mb}`);
    assert.ok(c.heap_end_mb > 0, `heap ${c.heap_end_mb}`);
  }
  assert.is(s.events_per_s, cases[0].events_per_s);
});

test("state per key: the heap difference between successive key counts at 4 partitions, over the keys added", () => {
  const perKey = statePerKey([
    { name: "growth-case", keys: 10_000, partitions: 4, heap_end_mb: 190 },
    { name: "growth-case", keys: 1_000, partitions: 4, heap_end_mb: 100 },
    { name: "growth-case", keys: 10_000, partitions: 1, heap_end_mb: 500 },
    { name: "growth-case", keys: 100_000, partitions: 4, heap_end_mb: 1_090 },
  ]);
  assert.equal(perKey, [
    { from_keys: 1_000, to_keys: 10_000, bytes_per_key: Math.round((90 * 1024 * 1024) / 9_000) },
    { from_keys: 10_000, to_keys: 100_000, bytes_per_key: Math.round((900 * 1024 * 1024) / 90_000) },
  ]);
});

test.run();
