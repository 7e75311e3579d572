// Recomputes every window of the in-order stream by brute force (all values kept, two-pass
// statistics, sorted quantiles) and checks the engine's rows against it, so a wrongly regenerated
// golden file cannot go unnoticed.
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { WindowResult } from "../../windowing/index.ts";
import { readSteps, run, scenario, type Step } from "./harness.ts";

interface Expected {
  values: number[];
  sensors: Set<string>;
}

const METRICS = ["temperature", "humidity"] as const;

function bruteForce(steps: Step[]): Map<string, Expected> {
  const out = new Map<string, Expected>();
  const add = (kind: string, key: string, metric: string, start: number, end: number, value: number, sensor: string) => {
    const id = JSON.stringify([kind, key, metric, start, end]);
    const e = out.get(id) ?? { values: [], sensors: new Set<string>() };
    e.values.push(value);
    e.sensors.add(sensor);
    out.set(id, e);
  };
  const events = steps.filter((s) => s.key !== "zz-end");
  for (const s of events) {
    const t = s.t ?? 0;
    const p = s.payload ?? {};
    for (const m of METRICS) {
      const v = p[m];
      if (typeof v !== "number") continue;
      const minute = Math.floor(t / 60_000) * 60_000;
      add("tumbling", s.key ?? "", m, minute, minute + 60_000, v, String(p.sensor_id));
      add("tumbling", `site=${p.site}`, m, minute, minute + 60_000, v, String(p.sensor_id));
      for (const start of [minute - 60_000, minute]) add("hopping", `site=${p.site}`, m, start, start + 120_000, v, String(p.sensor_id));
    }
  }
  const bySensor = new Map<string, Step[]>();
  for (const s of events) bySensor.set(s.key ?? "", [...(bySensor.get(s.key ?? "") ?? []), s]);
  for (const [key, list] of bySensor) {
    list.sort((a, b) => (a.t ?? 0) - (b.t ?? 0));
    let start = -Infinity;
    let end = -Infinity;
    let members: Step[] = [];
    const flush = () => {
      for (const s of members) {
        for (const m of METRICS) {
          const v = s.payload?.[m];
          if (typeof v === "number") add("session", key, m, start, end, v, key);
        }
      }
    };
    for (const s of list) {
      const t = s.t ?? 0;
      if (t < end) {
        members.push(s);
        end = Math.min(t + 20_000, start + 120_000);
      } else {
        flush();
        members = [s];
        start = t;
        end = t + 20_000;
      }
    }
    flush();
  }
  return out;
}

test("in-order rows equal a brute-force recomputation of every window", () => {
  const steps = readSteps("in-order");
  const expected = bruteForce(steps);
  const rows = run(scenario("in-order").config, steps).flatMap((o) => (o.type === "window" ? [o.row] : []));
  const byId = new Map<string, WindowResult>(rows.map((r) => [JSON.stringify([r.kind, r.key, r.metric, r.window_start, r.window_end]), r]));
  assert.is(byId.size, rows.length, "one row per window and metric");
  assert.equal([...byId.keys()].sort(), [...expected.keys()].sort());
  const close = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol;
  for (const [id, e] of expected) {
    const r = byId.get(id) as WindowResult;
    const n = e.values.length;
    const sum = e.values.reduce((a, b) => a + b, 0);
    const mean = sum / n;
    const sd = Math.sqrt(e.values.reduce((a, x) => a + (x - mean) ** 2, 0) / n);
    const sorted = [...e.values].sort((a, b) => a - b);
    assert.is(r.count, n, id);
    assert.ok(close(r.sum, sum, 1e-9) && close(r.mean, mean, 1e-9) && close(r.stddev, sd, 1e-9), `${id}: ${JSON.stringify(r)}`);
    assert.is(r.min, sorted[0], id);
    assert.is(r.max, sorted[n - 1], id);
    for (const [q, got] of [[0.5, r.p50], [0.95, r.p95], [0.99, r.p99]] as const) {
      const want = sorted[Math.floor(q * (n - 1))];
      assert.ok(close(got, want, want * 0.0101), `${id} p${q * 100}: ${got} vs ${want}`);
    }
    assert.is(r.distinct_count, r.key.startsWith("site=") ? e.sensors.size : null, id);
  }
});

test.run();
