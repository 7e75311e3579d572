import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { readNabCsv } from "../../models/anomaly/index.ts";
import { newNovelty, pushNovelty, type NoveltyConfig } from "../../models/anomaly/novelty.ts";
import { bruteForceNoveltyDistances } from "./brute-force.ts";
import { FINGERPRINT_SERIES, NAB_DATA, fingerprint, readFingerprints } from "./nab-fingerprint.ts";

const want = readFingerprints();

for (const path of FINGERPRINT_SERIES) {
  test(`${path}: every score and explanation as recorded, also across a snapshot and restore`, () => {
    const got = fingerprint(path);
    assert.equal(got.alerts, want[path].alerts);
    assert.is(got.sha256, want[path].sha256);
    assert.is(fingerprint(path, Math.floor(got.rows / 2)).sha256, want[path].sha256);
  });
}

function bruteForceAgrees(values: number[], cfg: NoveltyConfig): void {
  const state = newNovelty(cfg);
  const history: number[] = [];
  values.forEach((x, i) => {
    history.push(x);
    const got = pushNovelty(cfg, state, x);
    const filled = Math.min(history.length, cfg.capacity + 16);
    const wanted = bruteForceNoveltyDistances(history, cfg, filled);
    assert.equal(got, wanted, `point ${i}`);
  });
}

test("the pruned scan finds the brute-force nearest neighbour on a real series at the detector's settings", () => {
  const { values } = readNabCsv(join(NAB_DATA, "realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv"));
  bruteForceAgrees(values, { step: 1, lengths: [8, 12, 16], capacity: 1000 });
});

test("and on counts that are mostly zero, where exact repeats end the scan early", () => {
  let seed = 17;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  // Bursts of posts between long silences, and a stretch where the count sticks at 3.
  const values = Array.from({ length: 1_500 }, (_, i) => (i >= 900 && i < 960 ? 3 : random() < 0.15 ? Math.floor(1 + 4 * random()) : 0));
  bruteForceAgrees(values, { step: 1, lengths: [8, 12, 16], capacity: 300 });
});

test.run();
