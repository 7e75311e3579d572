import { test } from "uvu";
import * as assert from "uvu/assert";
import { createGenerator, type AnomalyLabel, type GeneratedEvent } from "../../actors/generate/index.ts";
import { distanceKm } from "../../actors/generate/geo.ts";
import { SOURCES, type Source } from "../../subjects/sources.ts";
import { groupBy, median } from "./stats.ts";

const ALL: Source[] = [...SOURCES];
const labelledShare = (events: GeneratedEvent[]) => events.filter((e) => e.label).length / events.length;

test("labels appear at roughly the requested rate, overall and per source", () => {
  for (const rate of [0.02, 0.05, 0.1]) {
    const events = createGenerator({ seed: 3, sources: ALL, anomalyRate: rate }).take(100_000);
    const overall = labelledShare(events);
    assert.ok(Math.abs(overall - rate) < 0.25 * rate, `rate ${rate}: ${overall.toFixed(4)} of all events labelled`);
    // Episodes span up to 40 events, so at low rates a source sees too few of them for a tight bound.
    if (rate < 0.05) continue;
    for (const [source, evs] of groupBy(events, (e) => e.source)) {
      const share = labelledShare(evs);
      assert.ok(Math.abs(share - rate) < 0.35 * rate, `rate ${rate}: ${share.toFixed(4)} of ${source} events labelled`);
    }
  }
});

test("no labels at rate 0; every event labelled at rate 1", () => {
  assert.is(labelledShare(createGenerator({ seed: 3, sources: ALL }).take(5000)), 0);
  assert.is(labelledShare(createGenerator({ seed: 3, sources: ALL, anomalyRate: 1 }).take(5000)), 1);
});

// The same run with and without anomalies: the baseline events line up index by index.
const N = 40_000;
const clean = createGenerator({ seed: 8, sources: ALL }).take(N);
const dirty = createGenerator({ seed: 8, sources: ALL, anomalyRate: 0.08 }).take(N);
const labelled = dirty.map((e, i) => ({ e, i, label: e.label as AnomalyLabel })).filter((x) => x.label);
const episodes = groupBy(labelled, (x) => x.label.anomaly_id);
const ofKind = <K extends AnomalyLabel["kind"]>(kind: K) =>
  labelled.filter((x): x is typeof x & { label: Extract<AnomalyLabel, { kind: K }> } => x.label.kind === kind);

test("every kind of anomaly is injected, and episodes run step 0..steps-1 on one key", () => {
  const kinds = new Set(labelled.map((x) => x.label.kind));
  assert.equal(kinds, new Set(["spike", "level_shift", "stuck", "amount_outlier", "geo_jump", "velocity_burst", "volume_burst"]));
  for (const [id, steps] of episodes) {
    assert.equal(steps.map((x) => x.label.step), steps.map((_, k) => k), id);
    const last = steps[steps.length - 1];
    assert.ok(steps.length === last.label.steps || last.i > N - 2000, `${id}: ${steps.length} of ${last.label.steps} steps`);
    assert.is(new Set(steps.map((x) => x.e.key)).size, 1, id);
    assert.ok(id.startsWith(`${steps[0].e.source}-a`), id);
  }
});

test("spikes and level shifts move the metric by the labelled delta from the baseline", () => {
  const shifted = [...ofKind("spike"), ...ofKind("level_shift")];
  assert.ok(shifted.length > 20);
  for (const { e, i, label } of shifted) {
    const now = (e.payload as unknown as Record<string, number>)[label.metric];
    const before = (clean[i].payload as unknown as Record<string, number>)[label.metric];
    assert.ok(Math.abs(now - before - label.delta) < 0.12, `${label.anomaly_id} ${label.metric}: ${before} → ${now}, delta ${label.delta}`);
    assert.ok(Math.abs(label.delta) >= (label.metric === "humidity" && label.kind === "spike" ? 0 : 2.9), `${label.anomaly_id} delta ${label.delta}`);
  }
});

test("a stuck sensor repeats its readings while the baseline moves on", () => {
  const stuck = groupBy(ofKind("stuck"), (x) => x.label.anomaly_id);
  assert.ok(stuck.size > 2);
  for (const [id, steps] of stuck) {
    const readings = new Set(steps.map(({ e }) => JSON.stringify({ ...e.payload, event_id: 0, ts: 0 })));
    assert.is(readings.size, 1, id);
    assert.ok(steps.every(({ e, label }) => (e.payload as { temperature?: number }).temperature === label.value), id);
    const baseline = new Set(steps.map(({ i }) => (clean[i].payload as { temperature?: number }).temperature));
    assert.ok(baseline.size > 1, `${id}: the baseline moved`);
  }
});

const byCustomer = groupBy(
  clean.filter((e): e is Extract<GeneratedEvent, { source: "txn" }> => e.source === "txn"),
  (e) => e.key,
);

test("an amount outlier is far above the customer's habit", () => {
  const outliers = ofKind("amount_outlier");
  assert.ok(outliers.length > 10);
  for (const { e, label } of outliers) {
    const payload = e.payload as { amount: number; currency: string };
    assert.ok(label.factor >= 8, label.anomaly_id);
    assert.ok(Math.abs(payload.amount / label.typical_amount - label.factor) < 0.01 * label.factor, label.anomaly_id);
    const habit = (byCustomer.get(e.key) ?? []).filter((t) => t.payload.currency === payload.currency).map((t) => t.payload.amount);
    if (habit.length >= 20) assert.ok(payload.amount > 4 * median(habit), `${label.anomaly_id}: ${payload.amount} vs median ${median(habit)}`);
  }
});

test("a geo jump is a card-present payment thousands of km from where the customer shops", () => {
  const jumps = ofKind("geo_jump");
  assert.ok(jumps.length > 10);
  for (const { e, label } of jumps) {
    const payload = e.payload as { country: string; channel: string; lat: number; lon: number };
    assert.is(payload.channel, "card_present");
    assert.is(payload.country, label.country);
    assert.is.not(label.country, label.home_country);
    assert.ok(label.distance_km >= 3000, label.anomaly_id);
    const usual = (byCustomer.get(e.key) ?? []).filter((t) => t.payload.lat !== undefined);
    for (const t of usual) assert.ok(distanceKm([t.payload.lat as number, t.payload.lon as number], [payload.lat, payload.lon]) > 2500, label.anomaly_id);
  }
});

test("bursts are back-to-back events of their source: small online charges, or one user flooding one topic", () => {
  for (const kind of ["velocity_burst", "volume_burst"] as const) {
    const bursts = groupBy(ofKind(kind), (x) => x.label.anomaly_id);
    assert.ok(bursts.size > 3, kind);
    for (const [id, steps] of bursts) {
      const source = steps[0].e.source;
      const between = dirty.slice(steps[0].i, steps[steps.length - 1].i + 1).filter((e) => e.source === source);
      assert.is(between.length, steps.length, `${id}: nothing else of ${source} in between`);
      if (kind === "velocity_burst") {
        for (const { e } of steps) {
          const p = e.payload as { channel: string; amount: number; currency: string };
          assert.is(p.channel, "online", id);
        }
      } else {
        assert.is(new Set(steps.map(({ e }) => (e.payload as { topic: string }).topic)).size, 1, id);
        assert.ok(steps.every(({ e, label }) => (e.payload as { topic: string }).topic === (label as { topic: string }).topic), id);
      }
    }
  }
});

test.run();
