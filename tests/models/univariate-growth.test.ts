// The detector's state grows with the data it has seen, and snapshots written before it did
// (every buffer allocated up front and zero-padded) restore and continue exactly as they would have.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createUnivariateDetector, type UnivariateSnapshot } from "../../models/anomaly/index.ts";

const FIVE_MIN = 300_000;
const T0 = Date.UTC(2024, 0, 1);
const END = 2000;
// The series the fixture was written with (a cycle, a little jitter, one spike).
const value = (i: number) => 10 + 3 * Math.sin(i / 20) + ((i * 7919) % 13) / 5 + (i === 1700 ? 25 : 0);
const sha = (x: unknown) => createHash("sha256").update(JSON.stringify(x)).digest("hex");

/**
 * Written by the detector as it was when every ring and histogram was allocated in full: a
 * snapshot after `cut` points (300: rings partly filled; 1500: the raw scale's ring wrapped) and
 * the hash of every result it went on to give up to point 2000 (sha256 of the JSON of the
 * `update` results), written with the detector of commit 2e0e56e.
 */
const fixture = JSON.parse(readFileSync(new URL("./fixtures/univariate-v5-head.json", import.meta.url), "utf8")) as Array<{ cut: number; snapshot: UnivariateSnapshot; continuation: string }>;

for (const { cut, snapshot, continuation } of fixture) {
  test(`a zero-padded snapshot after ${cut} points restores and continues with the same scores and explanations`, () => {
    const d = createUnivariateDetector();
    d.restore(structuredClone(snapshot));
    const results = [];
    for (let i = cut; i < END; i++) results.push(d.update(T0 + i * FIVE_MIN, value(i)));
    assert.is(sha(results), continuation);
  });

  test(`the same run without a restore gives what the zero-padded snapshot continued with (${cut} points)`, () => {
    const d = createUnivariateDetector();
    for (let i = 0; i < cut; i++) d.update(T0 + i * FIVE_MIN, value(i));
    // Through JSON, as a checkpoint goes: the grown-as-needed snapshot continues identically too.
    const again = createUnivariateDetector();
    again.restore(JSON.parse(JSON.stringify(d.snapshot())));
    const results = [];
    for (let i = cut; i < END; i++) results.push(again.update(T0 + i * FIVE_MIN, value(i)));
    assert.is(sha(results), continuation);
  });
}

test("a few points cost a few values, and a full history no more than the zero-padded snapshot held", () => {
  const d = createUnivariateDetector();
  for (let i = 0; i < 5; i++) d.update(T0 + i * FIVE_MIN, value(i));
  const early = JSON.stringify(d.snapshot()).length;
  assert.ok(early < 2_000, `snapshot after 5 points: ${early} bytes`);
  for (let i = 5; i < 1500; i++) d.update(T0 + i * FIVE_MIN, value(i));
  const full = JSON.stringify(d.snapshot()).length;
  const padded = JSON.stringify(fixture.find((f) => f.cut === 1500)!.snapshot).length;
  assert.ok(full <= padded, `snapshot after 1500 points: ${full} bytes, zero-padded ${padded}`);
});

test.run();
