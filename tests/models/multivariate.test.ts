import { test } from "uvu";
import * as assert from "uvu/assert";
import { createMultivariateDetector, FeatureVectorError, type MultivariateResult } from "../../models/anomaly/index.ts";
import { FIVE_MIN, gaussian, seededRandom, T0 } from "./synthetic.ts";

/** Three correlated features: cpu, memory follows cpu, latency follows both. */
function vectors(seed: number, n: number): number[][] {
  const random = seededRandom(seed);
  return Array.from({ length: n }, () => {
    const cpu = 40 + 5 * gaussian(random);
    const mem = 0.8 * cpu + 2 * gaussian(random);
    const latency = 100 + cpu + mem + 3 * gaussian(random);
    return [cpu, mem, latency];
  });
}

test("finds an outlier vector and names the feature that moved", () => {
  for (const seed of [1, 2, 3]) {
    const d = createMultivariateDetector({ featureNames: ["cpu", "mem", "latency"] });
    const data = vectors(seed, 3000);
    const at = 2500;
    data[at] = [data[at][0], data[at][1], data[at][2] + 60];
    const results: MultivariateResult[] = data.map((v, i) => d.update(T0 + i * FIVE_MIN, v));
    const normal = results.slice(1000, at).map((r) => r.score).sort((a, b) => a - b);
    const p99 = normal[Math.floor(0.99 * normal.length)];
    assert.ok(results[at].score > 0.8, `seed ${seed}: outlier scored ${results[at].score}`);
    assert.ok(results[at].score > p99 + 0.2, `seed ${seed}: outlier ${results[at].score} vs normal p99 ${p99}`);
    assert.is(results[at].explanation.feature, "latency");
    assert.ok(results[at].explanation.observed > results[at].explanation.expected.high);
  }
});

test("scores are in [0, 1], 0 while the reservoir fills", () => {
  const d = createMultivariateDetector({ warmup: 100 });
  const results = vectors(4, 600).map((v, i) => d.update(T0 + i * FIVE_MIN, v));
  assert.ok(results.slice(0, 100).every((r) => r.score === 0 && r.explanation.signal === "warmup"));
  assert.ok(results.every((r) => r.score >= 0 && r.score <= 1));
});

test("snapshot -> JSON -> restore mid-stream gives identical later scores", () => {
  const data = vectors(5, 1500);
  const a = createMultivariateDetector();
  const b = createMultivariateDetector();
  data.slice(0, 777).forEach((v, i) => a.update(T0 + i * FIVE_MIN, v));
  b.restore(JSON.parse(JSON.stringify(a.snapshot())));
  for (let i = 777; i < data.length; i++) {
    assert.equal(b.update(T0 + i * FIVE_MIN, data[i]), a.update(T0 + i * FIVE_MIN, data[i]), `vector ${i}`);
  }
});

test("state size does not grow with the number of vectors", () => {
  const d = createMultivariateDetector();
  const data = vectors(6, 5000);
  const sizes: number[] = [];
  data.forEach((v, i) => {
    d.update(T0 + i * FIVE_MIN, v);
    if (i === 1000 || i === 4999) sizes.push(JSON.stringify(d.snapshot()).length);
  });
  assert.ok(Math.abs(sizes[1] - sizes[0]) < 0.1 * sizes[0], `sizes ${sizes}`);
});

test("a vector of another length is rejected", () => {
  const d = createMultivariateDetector();
  d.update(T0, [1, 2, 3]);
  assert.throws(() => d.update(T0 + FIVE_MIN, [1, 2]), (e: Error) => e instanceof FeatureVectorError && /expected 3/.test(e.message));
});

test.run();
