// /v1/predict keeps a detector per series in an LRU; an evicted series' detector must give its
// WebAssembly scan memory back when it is evicted, not when the collector gets to it.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createApp } from "../../api/app.ts";
import { noveltyMemory } from "../../models/anomaly/novelty.ts";

const HELD = 3;

// Each test counts blocks against the count before it; an earlier test's app, once collected,
// would give its held series' blocks back in the middle of a later count.
const apps: unknown[] = [];

function app() {
  const a = createApp({
    rows: async () => {
      throw new Error("/v1/predict reads no table");
    },
    metrics: () => new Map(),
    pingNats: async () => undefined,
    pingClickHouse: async () => undefined,
    maxSeries: HELD,
  });
  apps.push(a);
  return a;
}

/** Enough points for every scale's scan to hold kernel memory (the 16-step scale needs 16 × 16 + 16). */
const points = (offset: number) => Array.from({ length: 1_200 }, (_, i) => ({ timestamp: 1_767_225_600_000 + i * 60_000, value: 20 + Math.sin((i + offset) / 9) + (i % 7) / 10 }));

async function post(a: ReturnType<typeof app>, series: string, offset: number): Promise<void> {
  const res = await a.request("/v1/predict", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ series, points: points(offset) }) });
  assert.is(res.status, 200, await res.clone().text());
  await res.arrayBuffer();
}

test("series evicted from /v1/predict's detectors release their scan memory: blocks held stay at what the held series need", async () => {
  const a = app();
  const before = noveltyMemory().blocks;
  for (let k = 0; k < HELD; k++) await post(a, `warm-${k}`, k);
  const held = noveltyMemory().blocks - before;
  // Three scales per detector, each holding at least one block.
  assert.ok(held >= 3 * HELD, `the held series hold kernel blocks (${held})`);
  const bytes = noveltyMemory().bytes;
  for (let k = 0; k < 40; k++) await post(a, `s-${k}`, k);
  assert.is(noveltyMemory().blocks - before, held, "after 40 evictions the same number of blocks is in use");
  assert.is(noveltyMemory().bytes, bytes, "freed blocks are reused: the kernel's memory did not grow");
});

test("concurrent requests for more series than are held: no detector is released while a queued request still scores with it", async () => {
  const a = app();
  const before = noveltyMemory().blocks;
  for (let k = 0; k < HELD; k++) await post(a, `warm-${k}`, k);
  const held = noveltyMemory().blocks - before;
  // Twice the held series at once: each waits in the scoring queue (depth 8) behind the first.
  await Promise.all(Array.from({ length: 2 * HELD }, (_, k) => post(a, `burst-${k}`, k)));
  assert.is(noveltyMemory().blocks - before, held, "after the burst only the held series' blocks are in use");
});

test.run();
