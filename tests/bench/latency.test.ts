// The latency benchmark on a tiny input: it finds a maximum, publishes at half of it, and sees
// every published reading as a row; the percentiles are ordered. Their size is not asserted.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { main as latency } from "../../bench/latency.ts";

const test = suite("bench: latency");

test("latency: every reading published at half the maximum is seen as a row, p50 ≤ p90 ≤ p99 ≤ max", async () => {
  const s = await latency({ events: 400, seconds: 2 });
  assert.ok(Number(s.measured) > 0, "nothing was published at half the maximum");
  assert.ok(Number(s.rate) > 0 && Number(s.rate) <= Number(s.events_per_s), `rate ${String(s.rate)} vs maximum ${String(s.events_per_s)}`);
  const [p50, p90, p99, max] = [s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms].map(Number);
  assert.ok(p50 >= 0 && p50 <= p90 && p90 <= p99 && p99 <= max, `p50 ${p50}, p90 ${p90}, p99 ${p99}, max ${max}`);
});

test.run();
