import { test } from "uvu";
import * as assert from "uvu/assert";
import { createGenerator, type GeneratedEvent } from "../../actors/generate/index.ts";
import { correlation, cyclicDistance, groupBy, harmonicFit, mean, median, spearman, variance } from "./stats.ts";

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

type Of<S extends GeneratedEvent["source"]> = Extract<GeneratedEvent, { source: S }>;
const only = <S extends GeneratedEvent["source"]>(events: GeneratedEvent[], source: S) => events.filter((e): e is Of<S> => e.source === source);

// 12 sensors each reporting every 5 minutes for three days.
const iot = only(createGenerator({ seed: 4, sources: ["iot"], entities: { iot: 12 }, intervalMs: 25_000 }).take((3 * DAY_MS) / 25_000), "iot");
const bySensor = groupBy(iot, (e) => e.key);
const temperatureFit = new Map([...bySensor].map(([key, evs]) => [key, harmonicFit(evs.map((e) => e.time), evs.map((e) => e.payload.temperature as number), DAY_MS)]));

test("iot: every sensor's temperature follows a 24 h cycle", () => {
  assert.is(bySensor.size, 12);
  for (const [key, fit] of temperatureFit) assert.ok(fit.r2 > 0.8, `${key}: the daily cycle explains ${fit.r2.toFixed(2)} of the detrended variance`);
});

test("iot: a day without the cycle would not fit (the fit is not an artefact)", () => {
  for (const [key, evs] of bySensor) {
    const wrongPeriod = harmonicFit(evs.map((e) => e.time), evs.map((e) => e.payload.temperature as number), 0.37 * DAY_MS);
    assert.ok(wrongPeriod.r2 < 0.2, `${key}: an 8.9 h cycle explains ${wrongPeriod.r2.toFixed(2)}`);
  }
});

test("iot: sensors at one site peak at the same time of day, sites at different times", () => {
  const sites = groupBy([...bySensor.keys()], (key) => bySensor.get(key)?.[0].payload.site);
  assert.ok(sites.size >= 2);
  const sitePeaks: number[] = [];
  for (const [site, keys] of sites) {
    const peaks = keys.map((k) => temperatureFit.get(k)?.peakMs ?? Number.NaN);
    for (const p of peaks) assert.ok(cyclicDistance(p, peaks[0], DAY_MS) < HOUR_MS, `${site}: peaks ${peaks.map((x) => (x / HOUR_MS).toFixed(1))} h UTC`);
    sitePeaks.push(peaks[0]);
  }
  assert.ok(cyclicDistance(sitePeaks[0], sitePeaks[1], DAY_MS) > HOUR_MS, "two sites a longitude apart peak at different hours");
});

test("iot: humidity moves against temperature; sensors keep their own levels", () => {
  for (const [key, evs] of bySensor) {
    const withHumidity = evs.filter((e) => e.payload.humidity !== undefined);
    if (withHumidity.length === 0) continue;
    const r = correlation(withHumidity.map((e) => e.payload.temperature as number), withHumidity.map((e) => e.payload.humidity as number));
    assert.ok(r < -0.5, `${key}: temperature-humidity correlation ${r.toFixed(2)}`);
  }
  const levels = [...bySensor.values()].map((evs) => median(evs.map((e) => e.payload.temperature as number)));
  assert.ok(Math.max(...levels) - Math.min(...levels) > 5, `sensor levels ${levels.map((l) => l.toFixed(1))}`);
});

test("iot: batteries drain (a cell swap may interrupt a few)", () => {
  let draining = 0;
  let withBattery = 0;
  for (const evs of bySensor.values()) {
    const volts = evs.filter((e) => e.payload.battery !== undefined).map((e) => e.payload.battery as number);
    if (volts.length === 0) continue;
    withBattery++;
    const third = Math.floor(volts.length / 3);
    if (median(volts.slice(-third)) < median(volts.slice(0, third))) draining++;
  }
  assert.ok(withBattery >= 5 && draining >= 0.8 * withBattery, `${draining} of ${withBattery} draining`);
});

test("iot: readings stay plausible however far from the default start a run begins", () => {
  for (const startTime of [Date.UTC(2026, 10, 27), Date.UTC(2031, 5, 1)]) {
    const events = only(createGenerator({ seed: 4, sources: ["iot"], startTime, intervalMs: 60_000 }).take(5000), "iot");
    for (const { payload: p } of events) {
      assert.ok((p.temperature as number) > -40 && (p.temperature as number) < 60, JSON.stringify(p));
      if (p.battery !== undefined) assert.ok(p.battery > 2.55 && p.battery < 3.65, JSON.stringify(p));
      if (p.pressure !== undefined) assert.ok(p.pressure > 800 && p.pressure < 1050, JSON.stringify(p));
    }
  }
});

// 60 customers, 60 000 payments.
const txn = only(createGenerator({ seed: 2, sources: ["txn"], entities: { txn: 60 } }).take(60_000), "txn")
  .map((e, i) => ({ ...e, i }))
  .filter((e) => !e.label);
const byCustomer = groupBy(txn, (e) => e.key);

test("txn: a customer's median amount is stable across the two halves of a run, and differs between customers", () => {
  const rows: Array<{ currency: string; first: number; second: number }> = [];
  for (const evs of byCustomer.values()) {
    const [currency, inCurrency] = [...groupBy(evs, (e) => e.payload.currency)].sort((a, b) => b[1].length - a[1].length)[0];
    const first = inCurrency.filter((e) => e.i < 30_000).map((e) => e.payload.amount);
    const second = inCurrency.filter((e) => e.i >= 30_000).map((e) => e.payload.amount);
    if (first.length >= 150 && second.length >= 150) rows.push({ currency, first: median(first), second: median(second) });
  }
  assert.ok(rows.length >= 30, `${rows.length} customers with enough payments`);
  const drift = rows.map((r) => Math.abs(Math.log(r.first / r.second))).sort((a, b) => a - b);
  assert.ok(median(drift) < 0.1, `median |log ratio| ${median(drift).toFixed(3)}`);
  assert.ok(drift[Math.floor(drift.length * 0.9)] < 0.3, `90th percentile |log ratio| ${drift[Math.floor(drift.length * 0.9)].toFixed(3)}`);
  const [currency, peers] = [...groupBy(rows, (r) => r.currency)].sort((a, b) => b[1].length - a[1].length)[0];
  assert.ok(peers.length >= 8, `${peers.length} ${currency} customers`);
  const rho = spearman(peers.map((r) => r.first), peers.map((r) => r.second));
  assert.ok(rho > 0.9, `${currency} customers rank the same in both halves: rho ${rho.toFixed(3)}`);
  const medians = peers.map((r) => r.first);
  assert.ok(Math.max(...medians) / Math.min(...medians) > 2, `${currency} medians ${medians.map((m) => m.toFixed(0))}`);
});

test("txn: customers return to their usual merchants and pay in person at home", () => {
  for (const [key, evs] of byCustomer) {
    const visits = [...groupBy(evs, (e) => e.payload.merchant_id).values()].map((g) => g.length).sort((a, b) => b - a);
    const top5 = visits.slice(0, 5).reduce((a, b) => a + b, 0) / evs.length;
    assert.ok(top5 > 0.5, `${key}: five merchants take ${top5.toFixed(2)} of ${evs.length} payments`);
    const inPerson = new Set(evs.filter((e) => e.payload.channel !== "online").map((e) => e.payload.country));
    assert.ok(inPerson.size <= 1, `${key} paid in person in ${[...inPerson]}`);
  }
});

test("txn: in-person payments carry a location, online ones an e-mail", () => {
  for (const { payload } of txn) {
    const inPerson = payload.channel !== "online";
    assert.is(payload.lat !== undefined && payload.lon !== undefined, inPerson, JSON.stringify(payload));
    assert.is(payload.email !== undefined, !inPerson, JSON.stringify(payload));
  }
});

// Six hours of posts, two a second.
const social = only(createGenerator({ seed: 3, sources: ["social"], intervalMs: 500 }).take(6 * 3600 * 2), "social");

test("social: topics burst over minutes (per-minute counts far more variable than Poisson)", () => {
  const start = social[0].time;
  const minutes = Math.ceil((social[social.length - 1].time - start + 1) / 60_000);
  const byTopic = [...groupBy(social, (e) => e.payload.topic)].sort((a, b) => b[1].length - a[1].length).slice(0, 8);
  for (const [topic, evs] of byTopic) {
    const counts = new Array<number>(minutes).fill(0);
    for (const e of evs) counts[Math.floor((e.time - start) / 60_000)]++;
    const dispersion = variance(counts) / mean(counts);
    assert.ok(dispersion > 3, `${topic}: variance/mean of posts per minute ${dispersion.toFixed(1)} (Poisson ≈ 1)`);
  }
});

test("social: a few topics and users dominate; a user keeps one language", () => {
  const topicCounts = [...groupBy(social, (e) => e.payload.topic).values()].map((g) => g.length).sort((a, b) => b - a);
  assert.ok(topicCounts[0] > 4 * topicCounts[topicCounts.length - 1], `topic counts ${topicCounts}`);
  const byUser = groupBy(social, (e) => e.key);
  const userCounts = [...byUser.values()].map((g) => g.length).sort((a, b) => b - a);
  const topTenth = userCounts.slice(0, Math.ceil(userCounts.length / 10)).reduce((a, b) => a + b, 0);
  assert.ok(topTenth > 0.3 * social.length, `the busiest tenth of users wrote ${topTenth} of ${social.length}`);
  for (const [user, evs] of byUser) assert.is(new Set(evs.map((e) => e.payload.lang)).size, 1, user);
});

test.run();
