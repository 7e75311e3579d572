import { test } from "uvu";
import * as assert from "uvu/assert";
import { createTxnScorer } from "../../actors/detect/txn.ts";

const HOUR = 3_600_000;

/** One customer's history: many payments at a few merchants, so both local references are learnt. */
function scorerWithHistory() {
  const scorer = createTxnScorer({ maxKeys: 100, threshold: 0.55 });
  let seed = 3;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const gaussian = () => Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
  let t = Date.UTC(2026, 0, 1);
  const levels: Record<string, number> = { "m-grocer": 45, "m-cafe": 12, "m-fuel": 55 };
  for (let i = 0; i < 300; i++) {
    const merchant = Object.keys(levels)[i % 3];
    // Other customers teach each merchant its level; the customer under test pays about 1.5 times it.
    const other = `cus-other-${i % 7}`;
    scorer.observe(other, t, { amount: levels[merchant] * Math.exp(0.4 * gaussian()), currency: "USD", merchant_id: merchant, channel: "online" }, { event_id: `o-${i}`, trace_id: "" }, true);
    t += HOUR * (0.5 + random());
    scorer.observe("cus-1", t, { amount: 1.5 * levels[merchant] * Math.exp(0.4 * gaussian()), currency: "USD", merchant_id: merchant, channel: "online" }, { event_id: `e-${i}`, trace_id: "" }, true);
    t += HOUR * (0.5 + random());
  }
  return { scorer, t };
}

test("an amount where both local references are known is judged by the mean of their deviations, each named in the explanation", () => {
  const { scorer, t } = scorerWithHistory();
  const [finding] = scorer.observe("cus-1", t + HOUR, { amount: 15 * 1.5 * 45, currency: "USD", merchant_id: "m-grocer", channel: "online" }, { event_id: "big", trace_id: "" }, true);
  assert.ok(finding, "a payment 15 times the customer's usual one raises a finding");
  assert.is(finding.signal, "amount-vs-habit");
  const e = finding.explanation as { reference: string; z: number; z_by_reference?: Record<string, number> };
  assert.is(e.reference, "customer-at-merchant");
  assert.ok(e.z_by_reference, JSON.stringify(e));
  const views = Object.values(e.z_by_reference);
  assert.equal(Object.keys(e.z_by_reference).sort(), ["customer-at-merchant", "merchant-for-customer"]);
  assert.ok(views.every((z) => z > 3), `each reference calls it high: ${JSON.stringify(e.z_by_reference)}`);
  assert.ok(Math.abs(e.z - (views[0] + views[1]) / 2) < 1e-12, `z ${e.z} is the mean of ${views.join(", ")}`);
});

test("a merchant the customer has not paid often enough is judged by the merchant-for-customer reference alone", () => {
  const { scorer, t } = scorerWithHistory();
  for (let i = 0; i < 10; i++) scorer.observe(`cus-other-${i}`, t + i, { amount: 80, currency: "USD", merchant_id: "m-new", channel: "online" }, { event_id: `n-${i}`, trace_id: "" }, true);
  const [finding] = scorer.observe("cus-1", t + HOUR, { amount: 80 * 1.5 * 15, currency: "USD", merchant_id: "m-new", channel: "online" }, { event_id: "big-new", trace_id: "" }, true);
  assert.ok(finding);
  const e = finding.explanation as { reference: string; z_by_reference?: unknown };
  assert.is(e.reference, "merchant-for-customer");
  assert.is(e.z_by_reference, undefined);
});

test.run();
