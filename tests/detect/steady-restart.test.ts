import { test } from "uvu";
import * as assert from "uvu/assert";
import { alertId, createDetectTask, type Alert, type DetectTask, type DetectTaskSnapshot } from "../../actors/detect/index.ts";
import type { Envelope } from "../../subjects/envelope.ts";

/**
 * The chaos test's steady phase in one detect task, without a broker: two smooth sensors (a slow
 * wave, humidity cycling) with a spike of 12 every 100 readings, after a sensor whose newest
 * reading puts the watermark in the middle of theirs — so the first readings are late (scored at
 * once) and the rest wait in the reorder buffer, as in a partition of the chaos run. A restart is
 * a checkpoint (JSON, as the checkpoint store keeps it) restored into a new task, then the
 * messages after it; a replay is the same from an older checkpoint, after the messages since it
 * were already scored and published once.
 */

const BASE = Date.UTC(2026, 11, 1, 11, 30);
const READINGS = 300;
const SPIKE = (i: number) => i % 100 === 60;

function iot(key: string, i: number, t: number, temperature: number, humidity?: number): Envelope {
  const event_id = `${key}-${i}`;
  const payload: Record<string, unknown> = { sensor_id: key, ts: new Date(t).toISOString(), temperature, event_id };
  if (humidity !== undefined) payload.humidity = humidity;
  return { source: "iot", key, event_id, event_time: t, ingest_time: t, schema_version: 1, raw_subject: `raw.iot.${key}`, raw_seq: 0, payload };
}

function stream(): Envelope[] {
  const out: Envelope[] = [];
  // Ahead of the steady sensors by half their span: the watermark starts at BASE + 20 s.
  for (let i = 0; i < 50; i++) out.push(iot("lead", i, BASE + i * 500, 18 + (i % 3) * 0.1));
  for (let i = 0; i < READINGS; i++) {
    for (const [s, key] of ["steady-0", "steady-4"].entries()) {
      const temperature = Number((20 + s + Math.sin(i / 25) + (SPIKE(i) ? 12 : 0)).toFixed(2));
      out.push(iot(key, i, BASE + i * 125 + s * 10, temperature, 40 + (i % 7)));
    }
  }
  // Twenty minutes on: every buffered reading is released.
  out.push(iot("lead", 50, BASE + 20 * 60_000, 18));
  return out;
}

const messages = stream();
const newTask = () => createDetectTask({ sources: ["iot"], partitions: 1 });
const observe = (task: DetectTask, i: number) => task.observe(messages[i], { partition: 0, streamMs: 1_000_000 + i * 20, seq: i + 1, traceId: "" });
const checkpoint = (task: DetectTask) => JSON.parse(JSON.stringify(task.snapshot())) as DetectTaskSnapshot;
const restored = (snapshot: DetectTaskSnapshot) => {
  const task = newTask();
  task.restore(snapshot);
  return task;
};

/** Alert id → body, failing on an id published with two bodies (JetStream would keep the first). */
function record(into: Map<string, string>, alerts: Alert[], where: string): void {
  for (const a of alerts) {
    const body = JSON.stringify(a);
    const seen = into.get(alertId(a));
    assert.ok(seen === undefined || seen === body, `${where}: ${alertId(a)} published with another body:\n${seen}\n${body}`);
    into.set(alertId(a), body);
  }
}

/** The uninterrupted run: alerts by id, what each message raised, and the checkpoint before each message. */
const straight = new Map<string, string>();
const raised: Alert[][] = [];
const checkpoints: DetectTaskSnapshot[] = [];
{
  const task = newTask();
  for (let i = 0; i < messages.length; i++) {
    checkpoints.push(checkpoint(task));
    raised.push(observe(task, i));
    record(straight, raised[i], "uninterrupted");
  }
}

const sorted = (m: Map<string, string>) => [...m].sort(([a], [b]) => (a < b ? -1 : 1));

test("uninterrupted: a jump alert on every spike of both steady sensors, one alert per event and metric", () => {
  const spikes = messages.filter((m) => m.key.startsWith("steady") && SPIKE(Number(m.event_id.split("-").pop()))).map((m) => `${m.event_id}:temperature`);
  assert.is(spikes.length, 6);
  for (const id of spikes) {
    const body = straight.get(id);
    assert.ok(body, `no alert on spike ${id}; alerts: ${[...straight.keys()].join(", ")}`);
    const alert = JSON.parse(body) as Alert;
    assert.is(alert.signal, "jump", `${id}: the strongest signal of a step of 12 against a usual step of 0.03`);
    assert.is(alert.severity, "high");
  }
  // The joint signal fires on some spike too, and is folded into that spike's one alert.
  const also = [...straight.values()].map((b) => JSON.parse(b) as Alert).flatMap((a) => (a.explanation.also as Array<{ signal: string }> | undefined) ?? []);
  assert.ok(also.some((x) => x.signal === "joint"), "the joint signal is part of the comparison");
});

test("restored from a checkpoint at every third position: the uninterrupted run's alerts, bodies included", () => {
  const differing: number[] = [];
  for (let cut = 1; cut < messages.length; cut += 3) {
    // Before the cut the first instance published what the uninterrupted run did; after it, the restored task.
    const published = new Map<string, string>();
    for (let i = 0; i < cut; i++) record(published, raised[i], `before cut ${cut}`);
    const task = restored(checkpoints[cut]);
    for (let i = cut; i < messages.length; i++) record(published, observe(task, i), `after cut ${cut}`);
    if (JSON.stringify(sorted(published)) !== JSON.stringify(sorted(straight))) differing.push(cut);
  }
  assert.equal(differing, [], "restarts at these positions change the alerts");
});

test("replayed from an older checkpoint after the messages since were scored: the same ids with the same bodies", () => {
  for (let cut = 1; cut < messages.length; cut += 9) {
    const published = new Map<string, string>();
    const task = newTask();
    const upTo = Math.min(messages.length, cut + 120);
    for (let i = 0; i < upTo; i++) record(published, observe(task, i), `first instance, cut ${cut}`);
    // Killed at `upTo` with its last checkpoint at `cut`: the next owner scores cut..end again.
    const next = restored(checkpoints[cut]);
    for (let i = cut; i < messages.length; i++) record(published, observe(next, i), `replay from ${cut}`);
    assert.equal(sorted(published), sorted(straight), `replay from ${cut}`);
  }
});

test.run();
