// Detection's state objects have one shape from construction (numbers where the old state held
// null, typed arrays for the relation model) so V8 compiles the hot paths once; the snapshot JSON
// keeps the layout it had, and a snapshot written before the change restores and continues
// exactly as it did then.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createDetection, toEnvelope, type DetectionSnapshot } from "../../actors/detect/index.ts";
import { createGenerator } from "../../actors/generate/index.ts";
import { createRelationDetector, createUnivariateDetector } from "../../models/anomaly/index.ts";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

/**
 * Written by the detection of commit 9cca077 (state fields starting null): its snapshot after
 * `cut` generated events, then the sha256 of the JSON of every alert it raised on the events
 * from `cut` to `total`, and of its snapshot's JSON at the end.
 */
const fixture = JSON.parse(readFileSync(new URL("./fixtures/detection-9cca077.json", import.meta.url), "utf8")) as {
  seed: number; entities: Record<string, number>; cut: number; total: number; alerts: number; continuation: string; finalState: string; snapshot: DetectionSnapshot;
};

const envelopes = createGenerator({ seed: fixture.seed, sources: ["iot", "social", "txn"], anomalyRate: 0.02, intervalMs: 500, entities: fixture.entities })
  .take(fixture.total)
  .map((e, i) => toEnvelope(e, i + 1));

function continueFrom(detection: ReturnType<typeof createDetection>): { alerts: number; continuation: string; finalState: string } {
  const h = createHash("sha256");
  let alerts = 0;
  for (const e of envelopes.slice(fixture.cut)) {
    for (const a of detection.observe(e, "t")) {
      h.update(JSON.stringify(a));
      alerts++;
    }
  }
  return { alerts, continuation: h.digest("hex"), finalState: sha(JSON.stringify(detection.snapshot())) };
}

test("a snapshot written before the stable shapes restores and continues with the same alerts and end state", () => {
  const d = createDetection({ now: () => 0 });
  d.restore(structuredClone(fixture.snapshot));
  const got = continueFrom(d);
  assert.ok(fixture.alerts > 0, "the fixture's continuation raises alerts");
  assert.equal(got, { alerts: fixture.alerts, continuation: fixture.continuation, finalState: fixture.finalState });
});

test("the same events from the start give the same snapshot JSON at the cut and the same continuation", () => {
  const d = createDetection({ now: () => 0 });
  for (const e of envelopes.slice(0, fixture.cut)) d.observe(e, "t");
  // Hashes, not the strings: a failing comparison of 190 kB strings takes uvu minutes to print.
  assert.is(sha(JSON.stringify(d.snapshot())), sha(JSON.stringify(fixture.snapshot)));
  const again = createDetection({ now: () => 0 });
  again.restore(JSON.parse(JSON.stringify(d.snapshot())));
  assert.equal(continueFrom(again), { alerts: fixture.alerts, continuation: fixture.continuation, finalState: fixture.finalState });
});

test("a fresh detector's snapshot keeps the old layout: null where nothing was seen yet", () => {
  const u = createUnivariateDetector().snapshot() as unknown as Record<string, unknown>;
  assert.equal([u.lastTs, u.prev, u.day, u.week, u.range, u.flat], [null, null, null, null, null, null]);
  const r = createRelationDetector({ featureNames: ["a", "b"] }).snapshot();
  assert.equal([r.dims, r.mean, r.cov], [0, [], []]);
});

test.run();
