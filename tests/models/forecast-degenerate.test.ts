import { test } from "uvu";
import * as assert from "uvu/assert";
import { createForecaster, MIN_HISTORY, type Forecast } from "../../models/forecast/index.ts";
import { fitHistory } from "../../api/forecast.ts";

const MINUTE = 60_000;

function forecastOf(values: number[], level = 0.8): Forecast | null {
  const f = createForecaster({ horizon: 12, level });
  values.forEach((v, i) => f.update(i * MINUTE, v));
  return f.forecast();
}

/** Every interval contains its mean, has a width above `least` and does not narrow with the horizon. */
function assertHonest(out: Forecast, least: number, what: string) {
  out.mean.forEach((y, k) => {
    const width = out.upper[k] - out.lower[k];
    assert.ok(out.lower[k] < y && y < out.upper[k], `${what}, step ${k + 1}: ${out.lower[k]} < ${y} < ${out.upper[k]}`);
    assert.ok(width > least, `${what}, step ${k + 1}: width ${width}, expected above ${least}`);
    if (k > 0) assert.ok(width >= out.upper[k - 1] - out.lower[k - 1] - 1e-9, `${what}, step ${k + 1}: narrower than step ${k}`);
  });
}

test("no history or one point: no forecast; the API's fit is null, which /v1/forecast answers 404 naming the 2 windows needed", () => {
  assert.is(MIN_HISTORY, 2);
  assert.is(forecastOf([]), null);
  assert.is(forecastOf([5]), null);
  assert.is(fitHistory([], 12), null);
  assert.is(fitHistory([[0, 5]], 12), null);
});

test("two points: an interval as wide as the t distribution with one degree of freedom makes it", () => {
  const out = forecastOf([5, 7]);
  assert.ok(out);
  // One change of 2 is all the evidence: the 80% half-width is about 3 such changes.
  assertHonest(out, 2 * 2, "two points");
  const served = fitHistory([[0, 5], [MINUTE, 7]], 12);
  assert.ok(served);
  assert.ok(served.forecast.upper[0] - served.forecast.lower[0] > 4, `served width ${served.forecast.upper[0] - served.forecast.lower[0]}`);
});

test("a few points: wide intervals, wider at 95% than at 80%", () => {
  const few = [5, 7, 6, 8, 5];
  const at80 = forecastOf(few, 0.8);
  const at95 = forecastOf(few, 0.95);
  assert.ok(at80 && at95);
  assertHonest(at80, 2, "five points at 80%");
  assert.ok(at95.upper[0] - at95.lower[0] > at80.upper[0] - at80.lower[0], "95% wider than 80%");
});

test("a short constant history: no spread seen, still an interval of at least 10% of its level", () => {
  const out = forecastOf(new Array(10).fill(3));
  assert.ok(out);
  out.mean.forEach((y) => assert.ok(Math.abs(y - 3) < 1e-9, `mean ${y}`));
  assertHonest(out, 2 * 0.1 * 3, "ten points of 3");
});

test("a long constant history, and one of zeros: never a zero-width interval", () => {
  const flat = forecastOf(new Array(1000).fill(50));
  assert.ok(flat);
  assertHonest(flat, 0.05, "1000 points of 50");
  const zeros = forecastOf(new Array(1000).fill(0));
  assert.ok(zeros);
  assertHonest(zeros, 1, "1000 zeros");
});

test.run();
