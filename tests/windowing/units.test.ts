import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Envelope } from "../../subjects/envelope.ts";
import { SOURCES } from "../../subjects/sources.ts";
import { addDistinct, countDistinct, distinctFromJson, distinctToJson, mergeDistinct, newDistinct } from "../../windowing/distinct.ts";
import {
  compileWindowConfig,
  createWindowEngine,
  defaultWindowConfig,
  WindowConfigError,
  WindowInputError,
  type Output,
  type WindowConfig,
  type WindowResult,
} from "../../windowing/index.ts";
import { decodeSketch, encodeSketch, mergeSketch, newSketch } from "../../windowing/sketch.ts";
import { addValue, mergeStats, newStats, statsFromJson, statsToJson, summarize } from "../../windowing/stats.ts";
import { prng } from "./harness.ts";

test("sketch merge keeps negative values (works around DataDog/sketches-js#22)", () => {
  const a = newSketch(0.01);
  const b = newSketch(0.01);
  [-5, -3, 1, 2].forEach((v) => a.accept(v));
  [-40, -30, -20, -10].forEach((v) => b.accept(v));
  mergeSketch(a, b);
  assert.is(a.count, 8);
  assert.ok(Math.abs(a.getValueAtQuantile(0) - -40) <= 0.4, `p0 ${a.getValueAtQuantile(0)}`);
  assert.ok(Math.abs(a.getValueAtQuantile(0.6) - -5) <= 0.05, `p60 ${a.getValueAtQuantile(0.6)}`);
  assert.ok(Math.abs(a.getValueAtQuantile(1) - 2) <= 0.02, `p100 ${a.getValueAtQuantile(1)}`);
});

test("sketch survives encode/decode with identical quantiles", () => {
  const s = newSketch(0.01);
  const rand = prng(1);
  for (let i = 0; i < 500; i++) s.accept(rand() * 200 - 50);
  const back = decodeSketch(encodeSketch(s), 0.01);
  for (const q of [0, 0.01, 0.5, 0.95, 0.99, 1]) assert.is(back.getValueAtQuantile(q), s.getValueAtQuantile(q), `q=${q}`);
  assert.throws(() => decodeSketch(encodeSketch(s), 0.02), /gamma/);
});

test("Welford with Chan merge matches a two-pass mean and population stddev", () => {
  const rand = prng(2);
  const xs = Array.from({ length: 1000 }, () => 1e6 + rand() * 10);
  const whole = newStats(0.01);
  const left = newStats(0.01);
  const right = newStats(0.01);
  xs.forEach((x, i) => {
    addValue(whole, x);
    addValue(i % 3 === 0 ? left : right, x);
  });
  mergeStats(left, right);
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / xs.length);
  for (const s of [summarize(whole), summarize(left)]) {
    assert.is(s.count, 1000);
    assert.ok(Math.abs(s.mean - mean) < 1e-8, `mean ${s.mean} vs ${mean}`);
    assert.ok(Math.abs(s.stddev - sd) < 1e-8, `stddev ${s.stddev} vs ${sd}`);
    assert.ok(Math.abs(s.p50 - 1e6 - 5) < 1e6 * 0.01 + 1);
  }
  const restored = summarize(statsFromJson(JSON.parse(JSON.stringify(statsToJson(whole))), 0.01));
  assert.equal(restored, summarize(whole));
});

test("distinct count: exact up to the limit, then HyperLogLog within its error", () => {
  const opts = { exactLimit: 100, precision: 12 };
  let small = newDistinct();
  for (let i = 0; i < 250; i++) small = addDistinct(small, `c${i % 100}`, opts);
  assert.is(small.kind, "exact");
  assert.is(countDistinct(small), 100);

  let a = newDistinct();
  let b = newDistinct();
  for (let i = 0; i < 20_000; i++) a = addDistinct(a, `customer-${i}`, opts);
  for (let i = 10_000; i < 30_000; i++) b = addDistinct(b, `customer-${i}`, opts);
  assert.is(a.kind, "hll");
  const within = (got: number, want: number) => Math.abs(got - want) / want < 0.05;
  assert.ok(within(countDistinct(a), 20_000), `a ${countDistinct(a)}`);
  let mixed = newDistinct();
  for (let i = 0; i < 50; i++) mixed = addDistinct(mixed, `customer-${i}`, opts);
  assert.ok(within(countDistinct(mergeDistinct(mixed, a, opts)), 20_000), "an exact subset merged with a HLL adds nothing");
  const union = mergeDistinct(a, b, opts);
  assert.ok(within(countDistinct(union), 30_000), `union ${countDistinct(union)}`);
  assert.is(countDistinct(distinctFromJson(JSON.parse(JSON.stringify(distinctToJson(union))))), countDistinct(union));
});

function envelope(source: Envelope["source"], id: string, t: number, key: string, payload: Record<string, unknown>): Envelope {
  return { event_id: id, source, key, schema_version: 1, event_time: t, ingest_time: t, payload, raw_subject: `raw.${source}.${key}`, raw_seq: 0 };
}

const windows = (outs: Output[]): WindowResult[] => outs.flatMap((o) => (o.type === "window" ? [o.row] : []));

test("default config: 1-minute tumbling count/sum/min/max/mean per (source, key) for every metric", () => {
  const compiled = compileWindowConfig(defaultWindowConfig);
  assert.equal(compiled.map((c) => c.source), [...SOURCES]);
  for (const c of compiled) {
    const tumbling = c.specs.find((s) => s.spec.kind === "tumbling" && s.spec.sizeMs === 60_000);
    assert.ok(tumbling, `${c.source} has a 1-minute tumbling window`);
    assert.equal(tumbling.metrics, c.metrics.map((_, i) => i));
    assert.ok(tumbling.groups.some((g) => c.groups[g].field === undefined), `${c.source} groups by the envelope key`);
    assert.ok(c.specs.some((s) => s.spec.kind === "hopping") && c.specs.some((s) => s.spec.kind === "session"));
  }

  const engine = createWindowEngine(defaultWindowConfig);
  const events = [
    envelope("iot", "i1", 1_000, "sensor-7", { sensor_id: "sensor-7", site: "berlin", temperature: 20, battery: 3.1 }),
    envelope("iot", "i2", 2_000, "sensor-7", { sensor_id: "sensor-7", site: "berlin", temperature: 22 }),
    envelope("txn", "t1", 3_000, "cust-1", { customer_id: "cust-1", merchant_id: "m-1", amount: 10.5, currency: "EUR" }),
    envelope("txn", "t2", 4_000, "cust-1", { customer_id: "cust-1", merchant_id: "m-2", amount: 4.5, currency: "EUR" }),
    envelope("social", "p1", 5_000, "user-1", { user_id: "user-1", topic: "rust", text: "hi", likes: 3 }),
  ];
  const closing = (source: Envelope["source"], key: string) => envelope(source, `end-${source}`, 10 * 60_000, key, {});
  const outs = [
    ...events.flatMap((e) => engine.onEvent(e, 0, e.event_time)),
    ...(["iot", "txn", "social"] as const).flatMap((s) => engine.onEvent(closing(s, "x"), 0, 600_000)),
  ];
  const row = (source: string, key: string, metric: string) =>
    windows(outs).find((r) => r.source === source && r.kind === "tumbling" && r.key === key && r.metric === metric);
  const temp = row("iot", "sensor-7", "temperature");
  assert.equal(temp && [temp.window_start, temp.window_end, temp.count, temp.sum, temp.min, temp.max, temp.mean], [0, 60_000, 2, 42, 20, 22, 21]);
  assert.is(row("iot", "sensor-7", "battery")?.count, 1);
  assert.is(row("iot", "site=berlin", "temperature")?.distinct_count, 1);
  const amount = row("txn", "cust-1", "amount");
  assert.equal(amount && [amount.count, amount.sum, amount.min, amount.max, amount.mean, amount.distinct_count], [2, 15, 4.5, 10.5, 7.5, 2]);
  assert.is(row("txn", "merchant=m-1", "amount")?.distinct_count, 1);
  assert.is(row("social", "user-1", "posts")?.count, 1);
  assert.is(row("social", "topic=rust", "likes")?.sum, 3);
});

const small: WindowConfig = {
  ...defaultWindowConfig,
  sources: {
    iot: {
      outOfOrdernessMs: 1_000,
      allowedLatenessMs: 0,
      idleTimeoutMs: 5_000,
      groups: [{ name: "sensor" }],
      metrics: [{ name: "temperature", field: "temperature" }],
      windows: [{ kind: "tumbling", sizeMs: 10_000 }],
    },
  },
};

test("config errors name the field, what was expected and what was given", () => {
  const iot = small.sources.iot;
  if (!iot) throw new Error("unreachable");
  const bad = (patch: Partial<typeof iot>) => ({ ...small, sources: { iot: { ...iot, ...patch } } });
  const cases: [WindowConfig, string][] = [
    [bad({ windows: [{ kind: "hopping", sizeMs: 10_000, slideMs: 20_000 }] }), "sources.iot.windows[0].slideMs"],
    [bad({ windows: [{ kind: "tumbling", sizeMs: 10_000, metrics: ["nope"] }] }), "sources.iot.windows[0].metrics"],
    [bad({ groups: [{ name: "a" }, { name: "a", field: "x" }] }), "sources.iot.groups"],
    [bad({ groups: [{ name: "a" }, { name: "b" }] }), "sources.iot.groups"],
    [bad({ windows: [{ kind: "session", gapMs: 10, maxLengthMs: 5 }] }), "sources.iot.windows[0].maxLengthMs"],
    [bad({ windows: [{ kind: "tumbling", sizeMs: 10_000 }, { kind: "tumbling", sizeMs: 10_000 }] }), "sources.iot.windows[1]"],
    [bad({ idleTimeoutMs: 0 }), "sources.iot.idleTimeoutMs"],
    [{ ...small, sketchRelativeAccuracy: 1 }, "sketchRelativeAccuracy"],
  ];
  for (const [config, path] of cases) {
    assert.throws(() => createWindowEngine(config), (e: unknown) => e instanceof WindowConfigError && e.path === path, path);
  }
});

test("bad input is rejected with the event id and field", () => {
  const engine = createWindowEngine(small);
  const e = envelope("iot", "x1", NaN, "s1", { temperature: 1 });
  assert.throws(() => engine.onEvent(e, 0, 0), (err: unknown) => err instanceof WindowInputError && err.field === "event_time" && err.eventId === "x1");
  assert.throws(() => engine.onEvent({ ...e, event_time: 1 }, -1, 0), (err: unknown) => err instanceof WindowInputError && err.field === "partition");
  assert.throws(() => engine.onTick(NaN), (err: unknown) => err instanceof WindowInputError && err.field === "nowMs");
  assert.equal(engine.onEvent(envelope("txn", "t1", 1, "c", { amount: 1 }), 0, 0), []);
  assert.is(engine.unconfiguredEvents(), 1);
});

test("watermark, lag and status; a declared partition holds the watermark until it idles out", () => {
  const engine = createWindowEngine({ ...small, partitions: 2 });
  assert.is(engine.watermark(), null);
  engine.onEvent(envelope("iot", "a", 12_000, "s1", { temperature: 1 }), 0, 100);
  assert.is(engine.watermark("iot"), null, "partition 1 has not reported");
  assert.equal(engine.onTick(5_100), []);
  const fired = windows(engine.onTick(5_101));
  assert.is(engine.watermark("iot"), 11_000);
  assert.is(engine.lagMs("iot", 5_101), 5_101 - 11_000);
  assert.equal(fired.map((r) => r.window_end), [], "the window [10000, 20000) is still open");
  const st = engine.status(5_101).iot;
  assert.equal(st?.partitions.map((p) => [p.partition, p.idle, p.aligned]), [[0, true, false], [1, true, false]]);
  assert.is(st?.buffered, 1);
  const out = windows(engine.onEvent(envelope("iot", "b", 22_000, "s1", { temperature: 3 }), 0, 5_200));
  assert.equal(out.map((r) => [r.window_start, r.count, r.sum]), [[10_000, 1, 1]]);
});

test("sessions never merge past maxLengthMs: a bridging event joins the earlier one", () => {
  const engine = createWindowEngine({
    ...small,
    sources: { iot: { ...small.sources.iot!, allowedLatenessMs: 60_000, windows: [{ kind: "session", gapMs: 30_000, maxLengthMs: 60_000 }] } },
  });
  const at = (id: string, t: number, temperature: number) => windows(engine.onEvent(envelope("iot", id, t, "s1", { temperature }), 0, t));
  at("x1", 0, 1);
  at("x2", 25_000, 2);
  assert.equal(at("y1", 70_000, 10).map((r) => [r.window_start, r.window_end, r.count, r.version]), [[0, 55_000, 2, 1]]);
  const bridged = at("x3", 50_000, 3);
  assert.equal(bridged.map((r) => [r.window_start, r.window_end, r.count, r.sum, r.version]), [[0, 60_000, 3, 6, 2]]);
  const later = windows(engine.onEvent(envelope("iot", "z", 200_000, "s1", { temperature: 0 }), 0, 200_000));
  assert.equal(later.map((r) => [r.window_start, r.window_end, r.count, r.version]), [[70_000, 100_000, 1, 1]]);
});

test.run();
