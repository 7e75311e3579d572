// combinedSurprise folds k per-feature surprises (each Exp(1) under no anomaly) into one: -ln of
// the Gamma(k, 1) upper tail at their sum. The expected values are the closed forms worked out by
// hand, and the tail is checked once more by integrating the Gamma density numerically, which
// shares nothing with the series the code sums.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { combinedSurprise } from "../../actors/detect/txn.ts";

const close = (actual: number, expected: number, what: string, eps = 1e-12) =>
  assert.ok(Math.abs(actual - expected) <= eps, `${what}: ${actual}, expected ${expected}`);

test("one feature: the combined surprise is the feature's own surprise", () => {
  for (const sum of [0, 0.4, 1, 2.5, 17]) close(combinedSurprise(sum, 1), sum, `k=1 sum=${sum}`);
});

test("two features: sum - ln(1 + sum), as P(E1 + E2 >= s) = (1 + s) e^-s", () => {
  // 3 - ln 4
  close(combinedSurprise(3, 2), 1.6137056388801094, "k=2 sum=3");
  // 1 - ln 2
  close(combinedSurprise(1, 2), 0.3068528194400547, "k=2 sum=1");
  for (const sum of [0.2, 5, 12]) close(combinedSurprise(sum, 2), sum - Math.log(1 + sum), `k=2 sum=${sum}`);
});

test("three features: sum - ln(1 + sum + sum²/2)", () => {
  // 2 - ln 5 and 6 - ln 25
  close(combinedSurprise(2, 3), 0.3905620875658997, "k=3 sum=2");
  close(combinedSurprise(6, 3), 2.7811241751317994, "k=3 sum=6");
});

test("no surprise at all is no combined surprise, for any k (the tail at 0 is 1)", () => {
  for (const k of [1, 2, 3, 5]) close(combinedSurprise(0, k), 0, `k=${k} sum=0`);
});

test("the same total spread over more features is less surprising, and never negative", () => {
  for (const sum of [0.5, 3, 9]) {
    let last = Infinity;
    for (let k = 1; k <= 4; k++) {
      const s = combinedSurprise(sum, k);
      assert.ok(s < last, `sum ${sum}: k=${k} gives ${s}, not below k=${k - 1}'s ${last}`);
      assert.ok(s >= 0, `sum ${sum} k=${k}: ${s} is negative`);
      last = s;
    }
  }
});

test("matches -ln of the Gamma(k, 1) tail integrated numerically (Simpson's rule)", () => {
  const factorial = (n: number): number => (n <= 1 ? 1 : n * factorial(n - 1));
  const tail = (s: number, k: number) => {
    const density = (x: number) => (x ** (k - 1) * Math.exp(-x)) / factorial(k - 1);
    const upper = s + 80;
    const n = 20_000;
    const h = (upper - s) / n;
    let acc = density(s) + density(upper);
    for (let i = 1; i < n; i++) acc += (i % 2 === 1 ? 4 : 2) * density(s + i * h);
    return (acc * h) / 3;
  };
  for (const k of [1, 2, 3, 4]) {
    for (const sum of [0.5, 2, 7, 15]) close(combinedSurprise(sum, k), -Math.log(tail(sum, k)), `k=${k} sum=${sum}`, 1e-7);
  }
});

test.run();
