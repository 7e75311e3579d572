import { test } from "uvu";
import * as assert from "uvu/assert";
import { createRelationDetector, FeatureVectorError, SnapshotError } from "../../models/anomaly/index.ts";

function lcg(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 16807) % 2147483647) / 2147483647 - 0.5;
}

/** Temperature on a daily swing, humidity falling as it rises, pressure on its own: 2,000 readings. */
function habit(noise: () => number): number[][] {
  return Array.from({ length: 2_000 }, (_, i) => {
    const t = 20 + 5 * Math.sin((2 * Math.PI * i) / 1440) + 0.3 * noise();
    return [t, 80 - 2 * (t - 20) + 0.3 * noise(), 1013 + 2 * noise()];
  });
}

test("a reading off the relation is surprising and names the feature the others predict worst", () => {
  const d = createRelationDetector({ featureNames: ["temperature", "humidity", "pressure"] });
  const readings = habit(lcg(3));
  let usual = 0;
  readings.forEach((r, i) => {
    const { explanation } = d.update(i * 60_000, r);
    if (i > 500) usual = Math.max(usual, explanation.surprise);
  });
  // Humidity 6 above what goes with a temperature of 20 (80), inside humidity's own range (70..90).
  const odd = d.update(2_000 * 60_000, [20, 86, 1013]);
  assert.ok(odd.explanation.surprise > usual + 3, `surprise ${odd.explanation.surprise} against at most ${usual} on the habit`);
  assert.ok(["humidity", "temperature"].includes(String(odd.explanation.feature)), `named ${String(odd.explanation.feature)}`);
  assert.not.equal(odd.explanation.feature, "pressure");
  assert.ok(odd.explanation.expected.high < (odd.explanation.feature === "humidity" ? 86 : 20) || odd.explanation.expected.low > (odd.explanation.feature === "humidity" ? 86 : 20), "the observed value is outside the expected range");
});

test("a snapshot through JSON carries on with the same scores; vectors of another length are refused", () => {
  const readings = habit(lcg(5));
  const a = createRelationDetector();
  readings.slice(0, 1_000).forEach((r, i) => a.update(i, r));
  const b = createRelationDetector();
  b.restore(JSON.parse(JSON.stringify(a.snapshot())));
  readings.slice(1_000).forEach((r, i) => assert.equal(b.update(1_000 + i, r), a.update(1_000 + i, r)));
  assert.throws(() => a.update(5_000, [1, 2]), (e: unknown) => e instanceof FeatureVectorError);
  assert.throws(() => b.restore({ version: 2 } as never), (e: unknown) => e instanceof SnapshotError);
});

test("warm-up and a constant feature score 0 and do not break the inversion", () => {
  const d = createRelationDetector({ warmup: 50 });
  for (let i = 0; i < 300; i++) {
    const r = d.update(i, [i % 7, 3, (i % 7) * 2 + 1]);
    if (i < 50) assert.is(r.score, 0);
    assert.ok(Number.isFinite(r.score) && r.score >= 0 && r.score <= 1, `score ${r.score} at ${i}`);
  }
});

test.run();
