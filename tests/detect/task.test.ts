import { test } from "uvu";
import * as assert from "uvu/assert";
import { createGenerator, type GeneratedEvent } from "../../actors/generate/index.ts";
import { alertId, createDetectTask, createTaskFor, detectTaskSpecs, specFor, toEnvelope, type Alert, type DetectTask, type DetectTaskSpec } from "../../actors/detect/index.ts";
import { partitionOf } from "../../subjects/catalog.ts";
import type { Envelope } from "../../subjects/envelope.ts";
import { defaultWindowConfig } from "../../windowing/index.ts";

const PARTITIONS = 4;

/** A message as the detect tasks see it: the envelope and its stream timestamp. */
interface Arrival {
  envelope: Envelope;
  streamMs: number;
}

function envelopes(seed: number, count: number, sources: GeneratedEvent["source"][] = ["iot", "txn", "social"], entities?: Partial<Record<GeneratedEvent["source"], number>>): Envelope[] {
  return createGenerator({ seed, sources, anomalyRate: 0.03, intervalMs: 250, entities }).take(count).map((e, i) => toEnvelope(e, i + 1));
}

const inOrder = (list: Envelope[]): Arrival[] => list.map((envelope) => ({ envelope, streamMs: envelope.event_time }));

/** Deterministic PRNG (mulberry32), so a failing shuffle can be rerun. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Each event delayed by up to `maxDelayMs`; arrival order and stream time follow the delay. */
function shuffled(list: Envelope[], maxDelayMs: number, seed: number): Arrival[] {
  const random = rng(seed);
  return list
    .map((envelope) => ({ envelope, streamMs: envelope.event_time + Math.floor(random() * maxDelayMs) }))
    .sort((a, b) => a.streamMs - b.streamMs);
}

type Tasks = Map<DetectTaskSpec, DetectTask>;
const specs = detectTaskSpecs(PARTITIONS);
const newTasks = (): Tasks => new Map(specs.map((s) => [s, createTaskFor(s)]));

/** Feeds arrivals to the production task layout; alerts per task id, in the order each task raised them. */
function feed(arrivals: readonly Arrival[], tasks: Tasks = newTasks(), out: Record<string, Alert[]> = {}): Record<string, Alert[]> {
  for (const { envelope, streamMs } of arrivals) {
    const p = partitionOf(envelope.key, PARTITIONS);
    const spec = specFor(specs, envelope.source, p)!;
    (out[spec.id] ??= []).push(...tasks.get(spec)!.observe(envelope, { partition: spec.taskPartition(p), streamMs, seq: envelope.raw_seq, traceId: `trace-${envelope.event_id}` }));
  }
  return out;
}

/** The end of a run: a long quiet spell releases every buffer. */
function finish(tasks: Tasks, out: Record<string, Alert[]>, atMs: number): Record<string, Alert[]> {
  for (const [spec, task] of tasks) (out[spec.id] ??= []).push(...task.tick(atMs));
  return out;
}

const run = (arrivals: readonly Arrival[]) => {
  const tasks = newTasks();
  return finish(tasks, feed(arrivals, tasks), arrivals[arrivals.length - 1].streamMs + 3_600_000);
};

/** What an alert says about its event; `detected_at` is when it was released, which a reordering moves. */
const content = (alerts: Record<string, Alert[]>) =>
  Object.fromEntries(Object.entries(alerts).map(([id, list]) => [id, list.map(({ detected_at: _, ...rest }) => rest)]));
const ids = (alerts: Record<string, Alert[]>) => Object.values(alerts).flat().map((a) => alertId(a));

const BOUND = Math.min(...Object.values(defaultWindowConfig.sources).map((s) => s.outOfOrdernessMs));

test("events shuffled within the out-of-orderness bound raise exactly the in-order alerts, bodies and ids", () => {
  const list = envelopes(11, 12_000);
  const straight = run(inOrder(list));
  const total = Object.values(straight).flat().length;
  assert.ok(total > 30, `enough alerts to compare: ${total}`);
  for (const seed of [1, 2, 3]) {
    const disordered = shuffled(list, BOUND - 1, seed);
    assert.not.equal(disordered.map((a) => a.envelope.event_id), list.map((e) => e.event_id), "the arrival order really differs");
    assert.equal(content(run(disordered)), content(straight), `shuffle ${seed}`);
  }
  // The bound is what makes this hold: a shuffle well past it does change the alerts.
  assert.not.equal(content(run(shuffled(list, 8 * BOUND, 4))), content(straight));
});

/**
 * A batch of txn events redelivered 30 s after its neighbours (an instance died holding it):
 * moved (the first delivery was lost) or repeated (it was seen, then seen again).
 */
function lateBatch(list: Envelope[], from: number, count: number, lateMs: number, repeat: boolean): Arrival[] {
  const batch = list.slice(from, from + count).filter((e) => e.source === "txn");
  const ids = new Set(batch.map((e) => e.event_id));
  const rest = repeat ? list : list.filter((e) => !ids.has(e.event_id));
  const at = batch[batch.length - 1].event_time + lateMs;
  const cut = rest.findIndex((e) => e.event_time > at);
  const arrivals = inOrder(rest);
  return [...arrivals.slice(0, cut), ...batch.map((envelope) => ({ envelope, streamMs: at })), ...arrivals.slice(cut)].map((a, i, all) => ({
    ...a, streamMs: Math.max(a.streamMs, i > 0 ? all[i - 1].streamMs : -Infinity),
  }));
}

/** One burst: the same customer within a minute of event time. */
const BURST_MS = 60_000;

test("a txn batch redelivered 30 s late raises no velocity alert the in-order run lacks, and no negative span", () => {
  // 20 customers: each pays every 5 s or so, so a 30 s delay puts several newer payments before the late one.
  const list = envelopes(21, 30_000, ["txn"], { txn: 20 });
  const velocity = (alerts: Alert[]) => alerts.filter((a) => a.signal === "velocity");
  const straight = velocity(Object.values(run(inOrder(list))).flat());
  const expected = new Set(straight.map((a) => alertId(a)));
  assert.ok(expected.size >= 5, `velocity fires in order: ${expected.size}`);
  /** Velocity alerts of `got` on no burst the in-order run alerted on. */
  const unexplained = (got: Alert[]) => got.filter((a) => !expected.has(alertId(a))
    && !straight.some((b) => b.key === a.key && Math.abs(b.event_time - a.event_time) <= BURST_MS));
  for (const from of [10_000, 20_000]) {
    // Seen once, then again 30 s later: the redelivery is dropped, so the alerts are exactly the in-order ones.
    const repeated = lateBatch(list, from, 100, 30_000, true);
    assert.equal(content(run(repeated)), content(run(inOrder(list))), `repeated batch at ${from}`);
    // Seen only 30 s late: its payments are scored out of order. An in-order burst may then be
    // flagged on a neighbouring payment of the same burst, but nothing else is flagged.
    const got = velocity(Object.values(run(lateBatch(list, from, 100, 30_000, false))).flat());
    assert.equal(unexplained(got).map((a) => `${a.event_id} ${a.key} span ${a.explanation.span_ms}`), [], `moved batch at ${from}`);
    for (const a of got) assert.ok((a.explanation.span_ms as number) >= 0, `span ${a.explanation.span_ms} of ${a.event_id}`);
  }
});

test("snapshot, JSON round trip and restore at many cut points give the uninterrupted run's alerts exactly", () => {
  const list = envelopes(31, 10_000);
  // Disorder within the bound, a late batch and redeliveries: every buffer and dedupe path is in the state.
  const arrivals = lateBatch(shuffled(list, BOUND - 1, 7).map((a) => a.envelope), 3_000, 600, 30_000, true);
  const straight = run(arrivals);
  let tasks = newTasks();
  const out: Record<string, Alert[]> = {};
  const cut = 487;
  for (let i = 0; i < arrivals.length; i += cut) {
    feed(arrivals.slice(i, i + cut), tasks, out);
    const saved = new Map([...tasks].map(([spec, task]) => [spec, JSON.parse(JSON.stringify(task.snapshot()))]));
    tasks = new Map([...saved].map(([spec, snap]) => {
      const fresh = createTaskFor(spec);
      fresh.restore(snap);
      return [spec, fresh];
    }));
  }
  finish(tasks, out, arrivals[arrivals.length - 1].streamMs + 3_600_000);
  assert.equal(out, straight);
  assert.ok(Object.values(straight).flat().length > 20);
});

test("a quiet source is released after its idle timeout of stream time; the timing comes from the window config", () => {
  const task = createDetectTask({ sources: ["iot", "txn"], partitions: 1 });
  const idle = defaultWindowConfig.sources.iot!.idleTimeoutMs;
  const reading = (i: number, t: number): Envelope => ({
    event_id: `r-${i}`, source: "iot", key: "s-1", schema_version: 1, event_time: t, ingest_time: t, payload: { temperature: 20 + (i % 3) }, raw_subject: "raw.iot.s-1", raw_seq: i,
  });
  const t0 = Date.UTC(2026, 0, 1);
  for (let i = 0; i < 10; i++) task.observe(reading(i, t0 + i * 1_000), { partition: 0, streamMs: t0 + i * 1_000, seq: 1 + i, traceId: "" });
  const held = task.status().sources.iot!.buffered;
  assert.ok(held > 0 && held <= 6, `the last bound's worth of readings is held: ${held}`);
  assert.is(task.oldestHeldSeq(), 11 - held, "the caller may ack every message before the oldest held");
  const payment = (i: number, t: number): Envelope => ({
    event_id: `p-${i}`, source: "txn", key: "c-1", schema_version: 1, event_time: t, ingest_time: t, payload: { amount: 10, currency: "EUR", merchant_id: "m" }, raw_subject: "raw.txn.c-1", raw_seq: 100 + i,
  });
  const last = t0 + 9_000;
  task.observe(payment(0, last + idle), { partition: 0, streamMs: last + idle, seq: 102, traceId: "" });
  assert.is(task.status().sources.iot!.buffered, held, "not before the idle timeout has passed");
  task.observe(payment(1, last + idle + 1), { partition: 0, streamMs: last + idle + 1, seq: 103, traceId: "" });
  assert.is(task.status().sources.iot!.buffered, 0, "released by another source's messages moving the stream clock");
  assert.is(task.status().sources.iot!.idleFlushes, 1);
  assert.is(task.oldestHeldSeq(), 102, "only the payments wait now, for their own bound");
  // A reading older than what the flush released is late now, not held.
  task.observe(reading(20, last - 1), { partition: 0, streamMs: last + idle + 2, seq: 0, traceId: "" });
  assert.is(task.status().sources.iot!.late, 1);
});

test("an event past the allowed lateness is judged and teaches nothing; bad inputs name the field", () => {
  const task = createDetectTask({ sources: ["txn"], partitions: 1 });
  const lateness = defaultWindowConfig.sources.txn!.allowedLatenessMs;
  const t0 = Date.UTC(2026, 0, 1);
  const payment = (i: number, t: number): Envelope => ({
    event_id: `p-${i}`, source: "txn", key: `c-${i % 3}`, schema_version: 1, event_time: t, ingest_time: t, payload: { amount: 10 + (i % 7), currency: "EUR", merchant_id: `m-${i % 2}` }, raw_subject: "raw.txn.c", raw_seq: i,
  });
  for (let i = 0; i < 200; i++) task.observe(payment(i, t0 + i * 2_000), { partition: 0, streamMs: t0 + i * 2_000, seq: 0, traceId: "" });
  const before = JSON.stringify(task.snapshot().detection);
  const now = t0 + 200 * 2_000;
  task.observe(payment(1_000, t0 + 199 * 2_000 - 30_000 - lateness), { partition: 0, streamMs: now, seq: 0, traceId: "" });
  assert.is(task.status().sources.txn!.tooLate, 1);
  assert.is(JSON.stringify(task.snapshot().detection), before, "the detectors are unchanged");
  assert.throws(() => task.observe(payment(1_001, now), { partition: 1, streamMs: now, seq: 0, traceId: "" }), /partition of event p-1001: expected an integer from 0 to 0, got 1/);
  assert.throws(() => task.observe(payment(1_002, now), { partition: 0, streamMs: Number.NaN, seq: 0, traceId: "" }), /streamMs/);
  assert.throws(() => createDetectTask({ sources: ["txn"], partitions: 2 }).restore(createDetectTask({ sources: ["iot"], partitions: 2 }).snapshot()), /holds sources \["iot"\], this task scores txn/);
});

test.run();
