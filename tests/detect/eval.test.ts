import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { SyntheticEvalReport } from "../../actors/detect/index.ts";

const bin = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));

// Thresholds were chosen on seed 1; seed 2 checks they were not fitted to it.
for (const seed of [1, 2]) {
  test(`sluice eval synthetic on seed ${seed}: F1 ≥ 0.9 on IoT and transactions`, () => {
    const out = spawnSync(process.execPath, [bin, "eval", "synthetic", "--seed", String(seed), "--format", "json"], { encoding: "utf8", timeout: 120_000 });
    assert.is(out.status, 0, out.stderr);
    const report = JSON.parse(out.stdout) as SyntheticEvalReport;
    const { iot, txn, social } = report.sources;
    assert.ok(iot && txn && social, "every source is reported");
    assert.ok(iot.episodes >= 30 && txn.episodes >= 100, `enough episodes to measure: iot ${iot.episodes}, txn ${txn.episodes}`);
    assert.ok(iot.f1 >= 0.9, `seed ${seed}: iot F1 ${iot.f1.toFixed(3)} (precision ${iot.precision.toFixed(3)}, recall ${iot.recall.toFixed(3)})`);
    assert.ok(txn.f1 >= 0.9, `seed ${seed}: txn F1 ${txn.f1.toFixed(3)} (precision ${txn.precision.toFixed(3)}, recall ${txn.recall.toFixed(3)})`);
    for (const kind of ["spike", "level_shift", "stuck"]) assert.ok(iot.kinds[kind]?.episodes > 0, `iot has ${kind} episodes`);
  });
}

test("sluice eval synthetic prints a table; bad flags are usage errors", () => {
  const out = spawnSync(process.execPath, [bin, "eval", "synthetic", "--events", "5000", "--sources", "txn"], { encoding: "utf8", timeout: 60_000 });
  assert.is(out.status, 0, out.stderr);
  assert.match(out.stdout, /source\s+events\s+episodes\s+found\s+alerts\s+false\s+precision\s+recall\s+F1/);
  assert.match(out.stdout, /^txn\s+\d+/m);
  const bad = spawnSync(process.execPath, [bin, "eval", "synthetic", "--anomaly-rate", "0"], { encoding: "utf8" });
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /--anomaly-rate/);
  const nab = spawnSync(process.execPath, [bin, "eval", "nab"], { encoding: "utf8" });
  assert.is(nab.status, 2);
  assert.match(nab.stderr, /--data DIR/);
});

test.run();
