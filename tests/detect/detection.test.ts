import { test } from "uvu";
import * as assert from "uvu/assert";
import { createGenerator } from "../../actors/generate/index.ts";
import { createDetection, severityOf, toEnvelope, Lru, type Alert } from "../../actors/detect/index.ts";
import { anomalyRow } from "../../clickhouse/rows-detect.ts";
import { capabilitiesFor } from "../../clickhouse/index.ts";

function run(events: ReturnType<ReturnType<typeof createGenerator>["take"]>, detection = createDetection({ now: () => 0 })): Alert[] {
  return events.flatMap((e, i) => detection.observe(toEnvelope(e, i), `trace-${i}`));
}

test("snapshot mid-stream, restore into a fresh detection, and the rest gives the same alerts", () => {
  const events = createGenerator({ seed: 5, sources: ["iot", "txn", "social"], anomalyRate: 0.03, intervalMs: 500 }).take(16_000);
  const straight = run(events);
  assert.ok(straight.length > 20, `alerts: ${straight.length}`);

  const first = createDetection({ now: () => 0 });
  const head = run(events.slice(0, 8_000), first);
  const saved = JSON.parse(JSON.stringify(first.snapshot()));
  const second = createDetection({ now: () => 0 });
  second.restore(saved);
  const tail = events.slice(8_000).flatMap((e, i) => second.observe(toEnvelope(e, i + 8_000), `trace-${i + 8_000}`));
  assert.equal([...head, ...tail], straight);
});

test("alerts carry their event, trace, severity and an explanation, and map to anomalies rows", () => {
  const alerts = run(createGenerator({ seed: 2, sources: ["iot", "txn"], anomalyRate: 0.03, intervalMs: 500 }).take(20_000));
  const signals = new Set(alerts.map((a) => a.signal));
  for (const s of ["stuck", "amount-vs-habit", "location-jump", "velocity"]) assert.ok(signals.has(s), `${s} fired: ${[...signals].join(", ")}`);
  for (const a of alerts) {
    assert.ok(a.event_id.startsWith("gen-2-") && a.trace_id.startsWith("trace-"), JSON.stringify(a));
    assert.is(a.severity, severityOf(a.score, a.source === "iot" ? 0.5 : 0.55));
    assert.ok(a.expected_low <= a.expected_high);
  }
  const row = anomalyRow(alerts[0], alerts[0].trace_id, capabilitiesFor("18.16.1"));
  assert.is(typeof row.event_time, "number", "whole seconds on 18.16");
  assert.is(JSON.parse(row.explanation).surprise !== undefined || JSON.parse(row.explanation).context !== undefined, true);
});

test("state per source stays bounded: the least recently seen keys go", () => {
  const detection = createDetection({ maxKeys: { txn: 20 }, now: () => 0 });
  run(createGenerator({ seed: 3, sources: ["txn"], entities: { txn: 200 } }).take(3_000), detection);
  const keys = detection.keys().txn;
  assert.is(keys.held, 20);
  assert.ok(keys.evicted > 100);
  const lru = new Lru<number>(2);
  lru.set("a", 1);
  lru.set("b", 2);
  lru.get("a");
  lru.set("c", 3);
  assert.equal([...lru.entries()].map(([k]) => k), ["a", "c"]);
});

test("iot: a reading whose metrics break their joint habit is a joint alert naming the metric off its neighbours", () => {
  const detection = createDetection({ now: () => 0 });
  let seed = 7;
  const noise = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.2;
  const envelope = (i: number, temperature: number, humidity: number) => ({
    event_id: `e-${i}`, source: "iot" as const, key: "sensor-1", schema_version: 1, event_time: i * 60_000, ingest_time: i * 60_000,
    payload: { event_id: `e-${i}`, ts: new Date(i * 60_000).toISOString(), temperature, humidity }, raw_subject: "raw.iot.0", raw_seq: i,
  });
  const alerts: Alert[] = [];
  // Humidity falls as temperature rises, over the same daily swing; both stay in range below.
  for (let i = 0; i < 2_000; i++) {
    const t = 20 + 5 * Math.sin((2 * Math.PI * i) / 1440);
    alerts.push(...detection.observe(envelope(i, t + noise(), 80 - 2 * (t - 20) + noise()), `trace-${i}`));
  }
  assert.is(alerts.filter((a) => a.signal === "joint").length, 0, "joint alerts on the habit itself");
  // Temperature where the habit goes next, humidity 6 above what goes with it (inside its own daily range).
  const t = 20 + 5 * Math.sin((2 * Math.PI * 2_000) / 1440);
  const odd = detection.observe(envelope(2_000, t, 86 - 2 * (t - 20)), "trace-odd");
  const humidity = odd.find((a) => a.metric === "humidity");
  const signals = humidity ? [humidity.signal, ...((humidity.explanation.also as { signal: string }[] | undefined) ?? []).map((x) => x.signal)] : [];
  assert.ok(signals.includes("joint"), `signals on humidity: ${JSON.stringify(signals)}; alerts: ${JSON.stringify(odd.map((a) => [a.metric, a.signal]))}`);
  assert.not.ok(odd.some((a) => a.metric === "temperature"), "temperature named, though it followed its habit");
});

test("severity splits the range above the threshold in three; thresholds are checked", () => {
  assert.is(severityOf(0.5, 0.5), "low");
  assert.is(severityOf(0.7, 0.5), "medium");
  assert.is(severityOf(0.9, 0.5), "high");
  assert.throws(() => createDetection({ threshold: { iot: 1.5 } }), /threshold for iot must be between 0 and 1/);
});

test.run();
