// The two shortcuts the engine takes for speed, checked against what they replace: the sketch that
// keeps its own bins against @datadog/sketches-js's DDSketch, and hopping windows that share panes
// against a brute-force recomputation of every window (with a size that is not a multiple of the
// slide, so panes are narrower than the slide), and against a restart at many cut points.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Buffer } from "node:buffer";
import { DDSketch } from "@datadog/sketches-js";
import { createWindowEngine, defaultWindowConfig, type Output, type WindowConfig, type WindowResult } from "../../windowing/index.ts";
import { addDistinct, countDistinct, newDistinct } from "../../windowing/distinct.ts";
import { decodeSketch, encodeSketch, mergeSketch, newSketch } from "../../windowing/sketch.ts";
import { apply, prng, type Step } from "./harness.ts";

const QUANTILES = [0, 0.01, 0.1, 0.5, 0.9, 0.95, 0.99, 1];

function values(seed: number, n: number): number[] {
  const rand = prng(seed);
  return Array.from({ length: n }, () => {
    const r = rand();
    if (r < 0.1) return 0;
    if (r < 0.3) return -(rand() * 10 ** (rand() * 5 - 1));
    return rand() * 10 ** (rand() * 6 - 2);
  });
}

test("the sketch answers every quantile exactly as the library's DDSketch of the same values", () => {
  for (let seed = 1; seed <= 40; seed++) {
    const xs = values(seed, seed * 25);
    const library = new DDSketch({ relativeAccuracy: 0.01 });
    const left = newSketch(0.01);
    const right = newSketch(0.01);
    xs.forEach((x, i) => {
      library.accept(x);
      (i % 3 === 0 ? left : right).accept(x);
    });
    mergeSketch(left, right);
    for (const q of QUANTILES) assert.ok(Object.is(left.getValueAtQuantile(q), library.getValueAtQuantile(q)), `seed ${seed} q ${q}`);
    assert.is(left.count, library.count);
  }
});

test("a sketch encoded by the library (a snapshot of before) decodes to the same quantiles, and ours round-trips byte for byte", () => {
  const xs = values(7, 800);
  const library = new DDSketch({ relativeAccuracy: 0.01 });
  const ours = newSketch(0.01);
  for (const x of xs) {
    library.accept(x);
    ours.accept(x);
  }
  const fromLibrary = decodeSketch(Buffer.from(library.toProto()).toString("base64"), 0.01);
  for (const q of QUANTILES) assert.ok(Object.is(fromLibrary.getValueAtQuantile(q), library.getValueAtQuantile(q)), `q ${q}`);
  const text = encodeSketch(ours);
  assert.is(encodeSketch(decodeSketch(text, 0.01)), text);
  assert.ok(text.length < Buffer.from(library.toProto()).toString("base64").length, "only the bins in use are written");
});

// 50 s windows every 15 s: panes of gcd = 5 s, ten per window, three per slide.
const config: WindowConfig = {
  ...defaultWindowConfig,
  distinctExactLimit: 4,
  hllPrecision: 8,
  partitions: 2,
  sources: {
    iot: {
      outOfOrdernessMs: 4_000,
      allowedLatenessMs: 30_000,
      idleTimeoutMs: 10_000,
      groups: [{ name: "sensor" }, { name: "site", field: "site", distinct: "sensor_id" }],
      metrics: [{ name: "temperature", field: "temperature" }],
      windows: [{ kind: "hopping", sizeMs: 50_000, slideMs: 15_000, groups: ["site"] }],
    },
  },
};

/** Readings of 9 sensors on 2 sites, shuffled within the out-of-orderness bound (so none is late), then one far ahead. */
function stream(): Step[] {
  const rand = prng(11);
  const base = Date.UTC(2026, 10, 27, 10, 0, 0);
  const events: Step[] = [];
  for (let i = 0; i < 600; i++) {
    const sensor = `s${i % 9}`;
    const t = base + i * 700;
    events.push({ now: 0, p: i % 2, id: `e${i}`, t, key: sensor, payload: { sensor_id: sensor, site: i % 9 < 5 ? "a" : "b", temperature: (rand() - 0.2) * 30 } });
  }
  const shuffled = events.map((e, i) => ({ e, k: i + rand() * 4 })).sort((a, b) => a.k - b.k).map(({ e }) => e);
  const end = base + 600 * 700 + 600_000;
  const closing = [0, 1].map((p): Step => ({ now: 0, p, id: `end${p}`, t: end, key: "s0", payload: { sensor_id: "s0", site: "a", temperature: 1 } }));
  return [...shuffled, ...closing].map((s, i) => ({ ...s, now: Date.UTC(2026, 10, 27, 10, 0, 0) + i * 700 }));
}

const rowsOf = (outs: Output[]): WindowResult[] => outs.flatMap((o) => (o.type === "window" ? [o.row] : []));

test("hopping windows built from panes equal a brute-force recomputation of each window", () => {
  const steps = stream();
  const engine = createWindowEngine(config);
  const rows = rowsOf(steps.flatMap((s) => apply(engine, s)));
  const events = steps.filter((s) => !String(s.id).startsWith("end"));
  assert.ok(rows.length > 50, `${rows.length} rows`);
  for (const r of rows) {
    const site = r.key.slice("site=".length);
    const inside = events.filter((s) => s.payload?.site === site && (s.t as number) >= r.window_start && (s.t as number) < r.window_end);
    const library = new DDSketch({ relativeAccuracy: 0.01 });
    for (const s of inside) library.accept(s.payload?.temperature as number);
    const clamp = (v: number) => Math.min(r.max, Math.max(r.min, v));
    const at = `${r.key} ${r.window_start}-${r.window_end}`;
    assert.is(r.count, inside.length, at);
    assert.is(r.p50, clamp(library.getValueAtQuantile(0.5)), `${at} p50`);
    assert.is(r.p95, clamp(library.getValueAtQuantile(0.95)), `${at} p95`);
    assert.is(r.p99, clamp(library.getValueAtQuantile(0.99)), `${at} p99`);
    // Site a has 5 sensors, over the exact limit of 4: its windows count with the HyperLogLog.
    let distinct = newDistinct();
    for (const s of inside) distinct = addDistinct(distinct, String(s.payload?.sensor_id), { exactLimit: config.distinctExactLimit, precision: config.hllPrecision });
    assert.is(r.distinct_count, countDistinct(distinct), `${at} distinct`);
  }
});

test("hopping windows from panes: a snapshot at any point restores to the same output", () => {
  const steps = stream();
  const first = createWindowEngine(config);
  const reference = JSON.stringify(steps.flatMap((s) => apply(first, s)));
  for (let cut = 20; cut < steps.length; cut += 97) {
    const a = createWindowEngine(config);
    const out = steps.slice(0, cut).flatMap((s) => apply(a, s));
    const b = createWindowEngine(config);
    b.restore(JSON.parse(JSON.stringify(a.snapshot())));
    assert.is(JSON.stringify([...out, ...steps.slice(cut).flatMap((s) => apply(b, s))]), reference, `restart after step ${cut}`);
  }
});

test.run();
