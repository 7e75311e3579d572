import { test } from "uvu";
import * as assert from "uvu/assert";
import { createUnivariateDetector, SnapshotError, type AnomalyResult } from "../../models/anomaly/index.ts";
import { newNovelty, pushNovelty, type NoveltyConfig, type NoveltyState } from "../../models/anomaly/novelty.ts";
import { bruteForceNoveltyDistances } from "./brute-force.ts";
import { FIVE_MIN, gaussian, PER_DAY, seasonalSeries, seededRandom, T0 } from "./synthetic.ts";

// The operating point the tests hold the detector to: on NAB the swept threshold lands near 0.40-0.45.
const ALERT = 0.5;
/**
 * NAB's swept threshold since the pattern-length ensemble (public series and every CV fold). A
 * moderate variance increase is seen at this point, not at ALERT: averaging the 8/12/16-value
 * patterns' surprises scores it 0.45-0.60 (0.54-0.59 with 12 alone), the price of fewer false
 * alerts on NAB (RESULTS.md, attempt 19).
 */
const NAB_ALERT = 0.4;
const AT = 10 * PER_DAY;
const SEEDS = [1, 2, 3];

function run(values: number[]): AnomalyResult[] {
  const d = createUnivariateDetector();
  return values.map((v, i) => d.update(T0 + i * FIVE_MIN, v));
}

function firstAlertAfter(results: AnomalyResult[], from: number, threshold = ALERT): number {
  const i = results.findIndex((r, k) => k >= from && r.score >= threshold);
  return i < 0 ? -1 : i - from;
}

test("updateScore and lastExplanation give what update gives, point by point", () => {
  // A spike on day 4, and now and then a missing (non-finite) value.
  const values = seasonalSeries(5, 4, (i, v) => (i === 3 * PER_DAY ? v + 40 : i % 997 === 0 ? NaN : v));
  assert.is(values.length, 4 * PER_DAY);
  const full = createUnivariateDetector();
  const lean = createUnivariateDetector();
  values.forEach((v, i) => {
    const want = full.update(T0 + i * FIVE_MIN, v);
    const score = lean.updateScore(T0 + i * FIVE_MIN, v);
    assert.equal({ score, explanation: lean.lastExplanation() }, want, `point ${i}`);
    if (i === 3 * PER_DAY) assert.ok(score > 0.3, `the spike scored ${score}`);
  });
});

test("stays quiet on a clean daily-seasonal series", () => {
  for (const seed of SEEDS) {
    const results = run(seasonalSeries(seed, 12));
    const worst = results.slice(PER_DAY).reduce((m, r) => Math.max(m, r.score), 0);
    assert.ok(worst < ALERT, `seed ${seed}: max score ${worst} on a clean series`);
  }
});

function countLeaves(x: unknown): number {
  if (Array.isArray(x)) return x.reduce((n: number, y) => n + countLeaves(y), 0);
  if (x && typeof x === "object") return Object.values(x).reduce((n: number, y) => n + countLeaves(y), 0);
  return 1;
}

test("finds an injected spike on the point", () => {
  for (const seed of SEEDS) {
    const results = run(seasonalSeries(seed, 12, (i, v) => (i === AT ? v + 20 : v)));
    assert.is(firstAlertAfter(results, AT), 0, `seed ${seed}`);
    assert.ok(results.slice(PER_DAY, AT).every((r) => r.score < ALERT), `seed ${seed}: alert before the spike`);
    const { explanation } = results[AT];
    assert.match(explanation.signal, /^novel-pattern\//);
    assert.ok(explanation.observed > explanation.expected.high, `observed ${explanation.observed} above expected ${JSON.stringify(explanation.expected)}`);
  }
});

test("finds an injected level shift within a few points", () => {
  for (const seed of SEEDS) {
    const results = run(seasonalSeries(seed, 12, (i, v) => (i >= AT ? v + 8 : v)));
    const lag = firstAlertAfter(results, AT);
    assert.ok(lag >= 0 && lag <= 5, `seed ${seed}: lag ${lag}`);
  }
});

test("finds an injected variance increase", () => {
  for (const seed of SEEDS) {
    const results = run(seasonalSeries(seed, 12, (i, v, random) => (i >= AT ? v + 4 * gaussian(random) : v)));
    const lag = firstAlertAfter(results, AT, NAB_ALERT);
    assert.ok(lag >= 0 && lag <= 50, `seed ${seed}: lag ${lag}`);
  }
});

test("a value past every value seen before alerts even when its pattern is familiar", () => {
  for (const seed of SEEDS) {
    // Recurring spikes to 150 make a spike pattern familiar; one 8% past the range is new.
    const values = seasonalSeries(seed, 6, (i, v) => (i % 97 === 0 ? 150 : v));
    const d = createUnivariateDetector();
    values.forEach((v, i) => d.update(T0 + i * FIVE_MIN, v));
    const low = Math.min(...values);
    const within = createUnivariateDetector();
    within.restore(d.snapshot());
    const r = d.update(T0 + values.length * FIVE_MIN, 150 + 0.08 * (150 - low));
    assert.ok(r.score >= ALERT, `seed ${seed}: score ${r.score}`);
    assert.is(r.explanation.signal, "out-of-range");
    assert.equal(r.explanation.expected, { low, high: 150 });
    // Within the 5% tolerance it is only as novel as its pattern.
    const near = within.update(T0 + values.length * FIVE_MIN, 150 + 0.03 * (150 - low));
    assert.is.not(near.explanation.signal, "out-of-range");
  }
});

test("scores are in [0, 1] and every one is explained", () => {
  const results = run(seasonalSeries(4, 4, (i, v) => (i % 500 === 499 ? v * 3 : v)));
  for (const r of results) {
    assert.ok(r.score >= 0 && r.score <= 1, `score ${r.score}`);
    assert.type(r.explanation.signal, "string");
    assert.ok(r.explanation.expected.low <= r.explanation.expected.high);
  }
});

test("snapshot -> JSON -> restore mid-stream gives identical later scores", () => {
  const values = seasonalSeries(5, 8, (i, v) => (i === 6 * PER_DAY ? v + 30 : v));
  const cut = 5 * PER_DAY + 17;
  const a = createUnivariateDetector();
  const b = createUnivariateDetector();
  values.slice(0, cut).forEach((v, i) => a.update(T0 + i * FIVE_MIN, v));
  b.restore(JSON.parse(JSON.stringify(a.snapshot())));
  for (let i = cut; i < values.length; i++) {
    const ra = a.update(T0 + i * FIVE_MIN, values[i]);
    const rb = b.update(T0 + i * FIVE_MIN, values[i]);
    assert.equal(rb, ra, `point ${i}`);
  }
});

test("a version 2 snapshot (no range yet) restores and keeps scoring", () => {
  const values = seasonalSeries(9, 4);
  const a = createUnivariateDetector();
  values.forEach((v, i) => a.update(T0 + i * FIVE_MIN, v));
  const { range: _range, flat: _flat, ...old } = a.snapshot() as Record<string, unknown>;
  const b = createUnivariateDetector();
  b.restore({ ...old, version: 2 } as never);
  assert.is(b.snapshot().version, 5);
  const r = b.update(T0 + values.length * FIVE_MIN, values[0]);
  assert.ok(r.score >= 0 && r.score < ALERT, `score ${r.score}`);
});

test("a version 3 snapshot (no run length yet) restores and still finds a later flatline", () => {
  const values = seasonalSeries(9, 12, (i, v) => (i >= AT && i < AT + 400 ? 3 : v));
  const a = createUnivariateDetector();
  values.slice(0, PER_DAY * 4).forEach((v, i) => a.update(T0 + i * FIVE_MIN, v));
  const { flat: _flat, ...old } = a.snapshot() as Record<string, unknown>;
  const b = createUnivariateDetector();
  b.restore({ ...old, version: 3 } as never);
  assert.is(b.snapshot().version, 5);
  const results = values.map((v, i) => (i < PER_DAY * 4 ? null : b.update(T0 + i * FIVE_MIN, v)));
  assert.ok(results.some((r) => r?.explanation.signal === "flatline"), "no flatline after restoring a version 3 snapshot");
});

/** Idle at 0 for 20..180 points, then a burst of 2..21 random values, like a disk's write bytes. */
function idleBursts(seed: number, points: number): number[] {
  const random = seededRandom(seed);
  const values: number[] = [];
  while (values.length < points) {
    const idle = 20 + Math.floor(160 * random());
    for (let k = 0; k < idle; k++) values.push(0);
    const burst = 2 + Math.floor(20 * random());
    for (let k = 0; k < burst; k++) values.push(1000 * random());
  }
  return values.slice(0, points);
}

test("flags an idle run longer than every earlier one and than any pattern, as a flatline", () => {
  for (const seed of SEEDS) {
    const results = run([...idleBursts(seed, AT), ...new Array<number>(600).fill(0)]);
    const flat = results.findIndex((r) => r.explanation.signal === "flatline");
    assert.ok(flat >= AT && flat < AT + 192, `seed ${seed}: first flatline at ${flat - AT} after the idle run began`);
    assert.ok(results[flat].score >= ALERT, `seed ${seed}: flatline score ${results[flat].score}`);
    assert.equal(results[flat].explanation.observed, 0);
  }
  const constant = run(new Array<number>(3 * PER_DAY).fill(7));
  assert.ok(constant.every((r) => r.score === 0), "a constant series alerted");
});

test("a snapshot is a copy: later updates do not change it", () => {
  const d = createUnivariateDetector();
  seasonalSeries(6, 2).forEach((v, i) => d.update(T0 + i * FIVE_MIN, v));
  const snap = d.snapshot();
  const before = JSON.stringify(snap);
  d.update(T0 + 2 * PER_DAY * FIVE_MIN, 1e6);
  assert.is(JSON.stringify(snap), before);
});

test("a version 4 snapshot (one pattern length) restores with its history and keeps finding what it found", () => {
  const values = seasonalSeries(9, 12, (i, v) => (i === AT ? v + 20 : v));
  const cut = AT - PER_DAY;
  const a = createUnivariateDetector();
  values.slice(0, cut).forEach((v, i) => a.update(T0 + i * FIVE_MIN, v));
  // What version 4 held: one 12-value pattern per scale, its ring 12 longer than the capacity.
  const snap = a.snapshot() as unknown as { novelty: NoveltyState[]; noveltyUnit: number[][]; calibrators: unknown[][] };
  const v4 = {
    ...snap,
    version: 4,
    novelty: snap.novelty.map((n) => ({ ...n, ring: n.ring.slice(4), head: Math.max(0, n.head - 4), filled: Math.min(n.filled, n.ring.length - 4) })),
    noveltyUnit: snap.noveltyUnit.map((u) => u[1]),
    calibrators: snap.calibrators.map((c) => c[1]),
  };
  const b = createUnivariateDetector();
  b.restore(v4 as never);
  assert.is(b.snapshot().version, 5);
  const later = values.slice(cut).map((v, i) => b.update(T0 + (cut + i) * FIVE_MIN, v));
  assert.ok(later.slice(0, AT - cut).every((r) => r.score < ALERT), "alert before the spike after restoring");
  assert.is(firstAlertAfter(later, AT - cut), 0);
  assert.is(later[0].explanation.signal.startsWith("novel-pattern/"), true, `first point after restore: ${later[0].explanation.signal}`);
});

test("one scan gives each pattern length its exact nearest-neighbour distance", () => {
  const cfg: NoveltyConfig = { step: 1, lengths: [3, 5, 8], capacity: 60 };
  const state = newNovelty(cfg);
  const random = seededRandom(11);
  const history: number[] = [];
  for (let i = 0; i < 400; i++) {
    // Levels that come back, plus noise: neighbours near and far, ties at repeated levels.
    const x = Math.floor(i / 37) % 3 === 0 ? 5 : Math.round(10 * random());
    history.push(x);
    const got = pushNovelty(cfg, state, x);
    const filled = Math.min(history.length, cfg.capacity + 8);
    const want = bruteForceNoveltyDistances(history, cfg, filled);
    assert.equal(got, want, `point ${i}`);
  }
});

test("restore rejects a foreign snapshot", () => {
  const d = createUnivariateDetector();
  assert.throws(() => d.restore({ version: 1 } as never), (e: Error) => e instanceof SnapshotError && /version 5/.test(e.message));
});

test("state size is bounded however many points come", () => {
  const d = createUnivariateDetector();
  const values = seasonalSeries(7, 40);
  const leaves: number[] = [];
  let bytes = 0;
  values.forEach((v, i) => {
    d.update(T0 + i * FIVE_MIN, v);
    if (i === 2 * PER_DAY || i === 20 * PER_DAY || i === values.length - 1) {
      leaves.push(countLeaves(d.snapshot()));
      bytes = JSON.stringify(d.snapshot()).length;
    }
  });
  // Buffers grow with the history up to fixed capacities: three rings of 1000 + 16 values, nine
  // 400-bin histograms, a day's and a week's profile and visit counts, and a few dozen scalars.
  const capacity = 3 * 1016 + 9 * 400 + 2 * (PER_DAY + 7 * PER_DAY) + 100;
  assert.ok(leaves[0] <= leaves[1] && leaves[1] <= leaves[2] && leaves[2] <= capacity, `values held: ${leaves.join(", ")} (capacity ${capacity})`);
  assert.ok(bytes < 30 * leaves[2], `snapshot of ${bytes} bytes for ${leaves[2]} values`);
});

test("non-finite values score 0 and leave the state untouched", () => {
  const d = createUnivariateDetector();
  seasonalSeries(8, 2).forEach((v, i) => d.update(T0 + i * FIVE_MIN, v));
  const before = JSON.stringify(d.snapshot());
  const r = d.update(T0 + 2 * PER_DAY * FIVE_MIN, Number.NaN);
  assert.is(r.score, 0);
  assert.is(r.explanation.signal, "invalid");
  assert.is(JSON.stringify(d.snapshot()), before);
});

test.run();
