import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import type { ForecastEvalReport } from "../../models/forecast/eval.ts";

const bin = new URL("../../bin/sluice.js", import.meta.url).pathname;
const sluice = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 50_000 });

test("sluice eval forecast --synthetic --seed 1: MASE below 1 against seasonal naive on every source, intervals near their level", () => {
  const run = sluice("eval", "forecast", "--synthetic", "--seed", "1", "--format", "json");
  assert.is(run.status, 0, run.stderr);
  const report = JSON.parse(run.stdout) as ForecastEvalReport;
  assert.is(report.horizon, 12);
  assert.is(report.origins, 10);
  const prefixes = ["iot:temperature:", "txn:amount/5min:", "social:posts/5min:"];
  for (const prefix of prefixes) {
    const series = report.series.filter((s) => s.name.startsWith(prefix));
    assert.ok(series.length >= 3, `${prefix}: ${series.length} series`);
    const mase = series.reduce((a, s) => a + s.mase, 0) / series.length;
    assert.ok(mase > 0 && mase < 1, `${prefix} mean MASE ${mase}`);
  }
  assert.is(report.mean.series, report.series.length);
  assert.ok(report.mean.mase < 1, `mean MASE ${report.mean.mase}`);
  assert.ok(report.mean.mase < report.mean.maseSeasonalNaive, `MASE ${report.mean.mase} vs seasonal naive ${report.mean.maseSeasonalNaive}`);
  assert.ok(report.mean.coverage > 0.7 && report.mean.coverage < 0.9, `coverage ${report.mean.coverage} of 80% intervals`);
});

test("sluice eval forecast needs --data or --synthetic, and a horizon of at least 1", () => {
  const none = sluice("eval", "forecast");
  assert.is(none.status, 2);
  assert.match(none.stderr, /--data DIR .* or --synthetic/);
  const zero = sluice("eval", "forecast", "--synthetic", "--horizon", "0");
  assert.is(zero.status, 2);
  assert.match(zero.stderr, /--horizon 0/);
});

test.run();
