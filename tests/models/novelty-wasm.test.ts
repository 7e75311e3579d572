import { test } from "uvu";
import * as assert from "uvu/assert";
import { newNovelty, noveltyMemory, pushNovelty, releaseNovelty, type NoveltyConfig } from "../../models/anomaly/novelty.ts";
import { createUnivariateDetector } from "../../models/anomaly/index.ts";
import { createDetection } from "../../actors/detect/index.ts";
import { assemble, moduleSource, MODULE_FILE } from "../../models/anomaly/wasm/build.ts";
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { bruteForceNoveltyDistances } from "./brute-force.ts";
import { NOVELTY_HASH_SERIES, noveltyHash } from "./novelty-hash.ts";

test("the committed WebAssembly scan is what its .wat assembles to (rebuild: node --import tsx models/anomaly/wasm/build.ts)", async () => {
  const committed = readFileSync(MODULE_FILE, "utf8");
  assert.is(committed, moduleSource(await assemble()));
});

/** Pushes `values`, comparing with the brute-force nearest neighbour at each point listed in `checkAt` (every point when absent). */
function agreesWithBruteForce(values: number[], cfg: NoveltyConfig, checkAt?: Set<number>): void {
  const state = newNovelty(cfg);
  const history: number[] = [];
  values.forEach((x, i) => {
    history.push(x);
    const got = pushNovelty(cfg, state, x);
    if (checkAt && !checkAt.has(i)) return;
    const filled = Math.min(history.length, cfg.capacity + cfg.lengths[cfg.lengths.length - 1]);
    assert.equal(got, bruteForceNoveltyDistances(history, cfg, filled), `point ${i}`);
  });
}

test("every count of lags (odd, even, fewer than eight) and one or two lengths agree with the brute force", () => {
  let seed = 5;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const values = Array.from({ length: 400 }, (_, i) => Math.sin(i / 7) + random());
  for (const capacity of [9, 10, 17, 23, 64]) {
    agreesWithBruteForce(values, { step: 1, lengths: [4], capacity });
    agreesWithBruteForce(values, { step: 1, lengths: [2, 7], capacity });
    agreesWithBruteForce(values, { step: 1, lengths: [3, 5, 6, 9], capacity });
  }
});

test("a memory longer than the scan's first page of WebAssembly memory (8,000 values) grows it", () => {
  let seed = 11;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const values = Array.from({ length: 8_400 }, () => random());
  agreesWithBruteForce(values, { step: 1, lengths: [8, 12, 16], capacity: 8_200 }, new Set([8_397, 8_398, 8_399]));
});

test("a released state keeps its history: the next push rebuilds the scan, distances as the brute force's", () => {
  const cfg: NoveltyConfig = { step: 1, lengths: [8, 12, 16], capacity: 64 };
  let seed = 23;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const state = newNovelty(cfg);
  const history: number[] = [];
  for (let i = 0; i < 300; i++) {
    const x = Math.sin(i / 5) + random();
    history.push(x);
    // Released before it wraps, while it wraps, and after.
    if (i === 40 || i === 80 || i === 200) releaseNovelty(state);
    const got = pushNovelty(cfg, state, x);
    assert.equal(got, bruteForceNoveltyDistances(history, cfg, Math.min(history.length, cfg.capacity + 16)), `point ${i}`);
  }
});

test("released detectors give their memory back: dropping and releasing many keys does not grow the kernel's memory", () => {
  const feed = () => {
    const d = createUnivariateDetector();
    for (let i = 0; i < 1_100; i++) d.updateScore(i * 1000, Math.sin(i / 9) + (i % 5));
    d.release();
  };
  feed();
  const { blocks, bytes } = noveltyMemory();
  for (let k = 0; k < 40; k++) feed();
  assert.is(noveltyMemory().blocks, blocks, "every block of a released detector is free again");
  assert.is(noveltyMemory().bytes, bytes, "freed blocks are reused, so memory does not grow");
});

test("the detect scorers release an evicted key's detectors", () => {
  const detection = createDetection({ maxKeys: { iot: 2 } });
  const before = noveltyMemory().blocks;
  for (let i = 0; i < 3_000; i++) {
    const sensor = `s-${Math.floor(i / 300)}`;
    const payload = { temperature: 20 + Math.sin(i / 7), humidity: 50 + (i % 3) };
    detection.observe({ event_id: `e-${i}`, source: "iot", key: sensor, schema_version: 1, event_time: i * 1000, ingest_time: i * 1000, payload, raw_subject: "raw.iot", raw_seq: i + 1 }, "");
  }
  // Ten sensors came and went; two are held, each with two metrics at three scales.
  assert.ok(noveltyMemory().blocks - before <= 2 * 2 * 3, `blocks held ${noveltyMemory().blocks - before}`);
});

test("pattern lengths the scan cannot take are refused with what is allowed", () => {
  for (const lengths of [[1], [8, 8], [12, 8], [2, 3, 4, 5, 6]]) {
    assert.throws(() => pushNovelty({ step: 1, lengths, capacity: 10 }, newNovelty({ step: 1, lengths, capacity: 10 }), 1), /ascending integers from 2/);
  }
});

test(`under Deno the scan returns the same distances and hints as under Node (${NOVELTY_HASH_SERIES}, three scales)`, () => {
  const result = spawnSync("npx", ["deno", "run", "--allow-read", "--allow-env", "--config", "deno-compatible.json", "tests/models/novelty-hash.ts"], {
    env: { ...process.env, DENO_NO_UPDATE_CHECK: "1" },
    encoding: "utf8",
    timeout: 120_000,
  });
  assert.is(result.status, 0, `${result.stdout}\n${result.stderr}`);
  assert.is(result.stdout.trim(), noveltyHash());
});

test.run();
