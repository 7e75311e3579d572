import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { backtest, BacktestError, createForecaster, detectPeriod, ForecastSnapshotError } from "../../models/forecast/index.ts";
import { readNabCsv } from "../../models/anomaly/nab.ts";
import { FIVE_MIN, gaussian, PER_DAY, seasonalSeries, seededRandom, T0 } from "./synthetic.ts";

const repo = new URL("../..", import.meta.url).pathname;

test("autocorrelation finds the daily period of a seasonal series and none in white noise", () => {
  assert.is(detectPeriod(seasonalSeries(1, 8), 1008), PER_DAY);
  const random = seededRandom(2);
  assert.is(detectPeriod(Array.from({ length: 2000 }, () => gaussian(random)), 1008), 1);
});

test("a seasonal series gets a seasonal model whose forecast follows the cycle, with intervals around it", () => {
  const values = seasonalSeries(3, 10);
  const f = createForecaster({ horizon: 24 });
  values.forEach((v, i) => f.update(T0 + i * FIVE_MIN, v));
  const out = f.forecast();
  assert.ok(out);
  assert.ok(out.model.period === PER_DAY && out.model.kind !== "naive" && out.model.kind !== "ses", out.model.kind);
  assert.is(out.mean.length, 24);
  assert.is(out.timestamps[0], T0 + values.length * FIVE_MIN);
  out.mean.forEach((y, k) => {
    const truth = 50 + 20 * Math.sin((2 * Math.PI * (values.length + k)) / PER_DAY);
    assert.ok(Math.abs(y - truth) < 1.5, `step ${k + 1}: forecast ${y}, cycle ${truth}`);
    assert.ok(out.lower[k] < y && y < out.upper[k]);
    assert.ok(out.upper[k] - out.lower[k] < 8, `interval width ${out.upper[k] - out.lower[k]}`);
  });
});

test("a trending series gets a trend model", () => {
  const random = seededRandom(4);
  const f = createForecaster({ horizon: 6 });
  for (let i = 0; i < 1500; i++) f.update(T0 + i * FIVE_MIN, 10 + 0.5 * i + 0.3 * gaussian(random));
  const out = f.forecast();
  assert.ok(out);
  assert.ok(["damped-trend", "lag-regression", "theta"].includes(out.model.kind), out.model.kind);
  assert.ok(Math.abs(out.mean[5] - (10 + 0.5 * 1505)) < 3, `forecast ${out.mean[5]}`);
});

test("backtest: beats seasonal naive on a noisy seasonal series and its 80% intervals cover about 80%", () => {
  const values = seasonalSeries(5, 14);
  const r = backtest(values, { horizon: 12, origins: 20, period: PER_DAY });
  assert.is(r.origins.length, 20);
  assert.ok(r.origins.every((o) => o.at >= values.length / 2 && o.at + 12 <= values.length));
  assert.ok(r.mase < 1, `MASE ${r.mase}`);
  assert.ok(r.relativeMae < 1, `relative MAE ${r.relativeMae}`);
  assert.ok(r.coverage > 0.65 && r.coverage < 0.95, `coverage ${r.coverage}`);
});

test("backtest on a NAB series uses only the past of each origin", () => {
  const { values } = readNabCsv(join(repo, "../shared/nab/data/realTraffic/occupancy_6005.csv"));
  const r = backtest(values, { horizon: 12, origins: 5, period: PER_DAY });
  assert.ok(Number.isFinite(r.mase) && r.mase > 0 && r.mase < 1.5, `MASE ${r.mase}`);
  // Changing the future after an origin cannot change that origin's model.
  const tampered = [...values];
  const at = r.origins[0].at;
  for (let i = at + 12; i < tampered.length; i++) tampered[i] = 1e6;
  const again = backtest(tampered.slice(0, values.length), { horizon: 12, origins: 5, period: PER_DAY });
  assert.is(again.origins[0].kind, r.origins[0].kind);
  assert.is(again.origins[0].mae, r.origins[0].mae);
});

test("backtest rejects a series too short for its origins", () => {
  assert.throws(() => backtest([1, 2, 3], { horizon: 12, origins: 3 }), (e: Error) => e instanceof BacktestError);
});

test("snapshot -> JSON -> restore gives the same later forecasts", () => {
  const values = seasonalSeries(6, 6);
  const a = createForecaster({ refitEvery: 100 });
  const b = createForecaster({ refitEvery: 100 });
  values.slice(0, 1000).forEach((v, i) => a.update(T0 + i * FIVE_MIN, v));
  a.forecast();
  b.restore(JSON.parse(JSON.stringify(a.snapshot())));
  for (let i = 1000; i < values.length; i++) {
    a.update(T0 + i * FIVE_MIN, values[i]);
    b.update(T0 + i * FIVE_MIN, values[i]);
    if (i % 97 === 0) assert.equal(b.forecast(), a.forecast(), `point ${i}`);
  }
  assert.throws(() => b.restore({ version: 9 } as never), (e: Error) => e instanceof ForecastSnapshotError);
});

test("history is bounded", () => {
  const f = createForecaster({ maxHistory: 500 });
  const values = seasonalSeries(7, 5);
  values.forEach((v, i) => f.update(T0 + i * FIVE_MIN, v));
  const snap = f.snapshot() as unknown as { values: number[]; times: number[] };
  assert.is(snap.values.length, 500);
  assert.is(snap.times.length, 500);
});

test("the model is a weighted combination: weights sum to 1, heaviest first, and its kind is the heaviest member's", () => {
  const values = seasonalSeries(8, 8);
  const f = createForecaster({ horizon: 24, period: PER_DAY });
  values.forEach((v, i) => f.update(T0 + i * FIVE_MIN, v));
  const out = f.forecast();
  assert.ok(out);
  const { members } = out.model;
  assert.ok(members.length >= 1);
  assert.ok(Math.abs(members.reduce((a, m) => a + m.weight, 0) - 1) < 1e-9);
  members.forEach((m, i) => i > 0 && assert.ok(m.weight <= members[i - 1].weight));
  assert.is(out.model.kind, members[0].kind);
  assert.is(out.model.period, members[0].period);
});

test("between refits the fitted model forecasts from the latest points: a level shift moves the next forecast", () => {
  const random = seededRandom(9);
  const f = createForecaster({ horizon: 6, refitEvery: 10_000 });
  for (let i = 0; i < 600; i++) f.update(T0 + i * FIVE_MIN, 10 + 0.1 * gaussian(random));
  const before = f.forecast();
  for (let i = 600; i < 620; i++) f.update(T0 + i * FIVE_MIN, 30 + 0.1 * gaussian(random));
  const after = f.forecast();
  assert.ok(before && after);
  assert.equal(after.model, before.model, "no refit in between");
  assert.ok(Math.abs(before.mean[0] - 10) < 1, `before ${before.mean[0]}`);
  // Smoothing weights fitted on the quiet stretch move the level most of the way in 20 points.
  assert.ok(after.mean[0] > 15, `after the shift ${after.mean[0]}`);
});

test.run();
