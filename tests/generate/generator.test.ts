import { test } from "uvu";
import * as assert from "uvu/assert";
import { createGenerator, defaultMix, GeneratorOptionsError, type GeneratedEvent, type GeneratorOptions } from "../../actors/generate/index.ts";
import { KEY_FIELD, SOURCES, type Source } from "../../subjects/sources.ts";
import { v1Validators } from "./validators.ts";

const validate = v1Validators();
const ALL: Source[] = [...SOURCES];
const SAFE_TOKEN = /^[A-Za-z0-9_-]+$/;

function validateAll(events: readonly GeneratedEvent[]): void {
  for (const e of events) {
    const ok = validate[e.source](e.payload);
    assert.ok(ok, `${e.subject} ${JSON.stringify(e.payload)} → ${JSON.stringify(validate[e.source].errors)}`);
  }
}

test("every event of every source validates against its v1 schema, anomalies included", () => {
  for (const seed of [1, 2, 3]) {
    const events = createGenerator({ seed, sources: ALL, anomalyRate: 0.2 }).take(4000);
    assert.equal(new Set(events.map((e) => e.source)), new Set(ALL), "all sources appear");
    assert.ok(events.some((e) => e.label), "anomalies were injected");
    validateAll(events);
  }
});

test("mixed timestamps cover every v1 form of ts and still validate", () => {
  const events = createGenerator({ seed: 5, sources: ALL, timestamps: "mixed", anomalyRate: 0.05 }).take(4000);
  validateAll(events);
  const forms = new Set(events.map(({ payload: { ts } }) =>
    typeof ts === "number" ? (ts > 1e11 ? "unix_ms" : "unix")
    : /^\d+$/.test(ts) ? "digits"
    : ts.endsWith("Z") ? "utc" : "offset"));
  assert.equal(forms, new Set(["unix_ms", "unix", "digits", "utc", "offset"]));
  for (const e of events) {
    const { ts } = e.payload;
    if (typeof ts === "string" && !/^\d+$/.test(ts)) assert.ok(Math.abs(Date.parse(ts) - e.time) < 1000, `${ts} is the event time ${e.time}`);
  }
});

test("subjects are raw.<source>.<key>, keys are safe tokens and match the payload's key field", () => {
  const gen = createGenerator({ seed: 11, sources: ALL, anomalyRate: 0.1 });
  for (const e of gen.take(3000)) {
    assert.match(e.key, SAFE_TOKEN);
    assert.is(e.subject, `raw.${e.source}.${e.key}`);
    assert.is((e.payload as unknown as Record<string, unknown>)[KEY_FIELD[e.source]], e.key);
    assert.ok(gen.keys(e.source).includes(e.key), `${e.key} is one of ${e.source}'s entities`);
  }
  for (const source of ALL) for (const key of gen.keys(source)) assert.match(key, SAFE_TOKEN);
});

test("event ids come from the seed, the run id and a counter: unique, in order", () => {
  const events = createGenerator({ seed: 77, sources: ALL, runId: "r1" }).take(500);
  assert.equal(events.map((e) => e.payload.event_id), events.map((_, i) => `gen-77-r1-${i + 1}`));
  const inProcess = createGenerator({ seed: 77, sources: ALL }).take(3);
  assert.equal(inProcess.map((e) => e.payload.event_id), ["gen-77-1", "gen-77-2", "gen-77-3"]);
});

test("two runs with one seed: the same events apart from the run id in their ids, and no id in common", () => {
  const a = createGenerator({ seed: 5, sources: ALL, runId: "a1b2c3d4" }).take(300);
  const b = createGenerator({ seed: 5, sources: ALL, runId: "e5f6a7b8" }).take(300);
  const content = (events: GeneratedEvent[]) => events.map((e) => JSON.stringify({ ...e, payload: { ...e.payload, event_id: undefined } }));
  assert.equal(content(a), content(b));
  const idsOfA = new Set(a.map((e) => e.payload.event_id));
  assert.ok(b.every((e) => !idsOfA.has(e.payload.event_id)));
});

test("the same seed and calls give the same 1000 events; another seed gives others", () => {
  const options: GeneratorOptions = { seed: 42, sources: ALL, anomalyRate: 0.05, timestamps: "mixed" };
  const a = createGenerator(options).take(1000);
  const b = createGenerator(options).take(1000);
  assert.equal(a, b);
  const c = createGenerator({ ...options, seed: 43 }).take(1000);
  const payloads = (events: GeneratedEvent[]) => events.map((e) => JSON.stringify({ ...e.payload, event_id: undefined }));
  const shared = new Set(payloads(a));
  assert.ok(payloads(c).every((p) => !shared.has(p)), "no payload of seed 43 repeats one of seed 42");
  assert.not.equal(a.map((e) => e.source), c.map((e) => e.source));
});

test("determinism holds for caller-supplied times and forced sources", () => {
  const run = () => {
    const gen = createGenerator({ seed: 9, sources: ["iot", "txn"] });
    const out: GeneratedEvent[] = [];
    for (let i = 0; i < 300; i++) out.push(gen.next(1_764_237_600_000 + i * 333, i % 3 === 0 ? "txn" : undefined));
    return out;
  };
  const a = run();
  assert.equal(a, run());
  assert.ok(a.filter((_, i) => i % 3 === 0).every((e) => e.source === "txn"));
  assert.equal(a.map((e) => e.time), a.map((_, i) => 1_764_237_600_000 + i * 333));
});

test("generation touches neither Math.random nor the wall clock", () => {
  const random = Math.random;
  const now = Date.now;
  Math.random = () => { throw new Error("Math.random called"); };
  Date.now = () => { throw new Error("Date.now called"); };
  try {
    createGenerator({ seed: 3, sources: ALL, anomalyRate: 0.3, timestamps: "mixed" }).take(2000);
  } finally {
    Math.random = random;
    Date.now = now;
  }
});

test("anomalies are laid over the baseline: unlabelled events equal a run without anomalies", () => {
  const clean = createGenerator({ seed: 21, sources: ALL }).take(6000);
  const dirty = createGenerator({ seed: 21, sources: ALL, anomalyRate: 0.1 }).take(6000);
  let labelled = 0;
  for (let i = 0; i < clean.length; i++) {
    if (dirty[i].label) labelled++;
    else assert.equal(dirty[i], clean[i], `event ${i}`);
  }
  assert.ok(labelled > 300, `${labelled} labelled`);
});

test("defaultMix shares sum to 1 over the chosen sources and are 0 elsewhere", () => {
  const all = defaultMix();
  assert.ok(Math.abs(all.iot + all.social + all.txn - 1) < 1e-12);
  assert.ok(all.iot > 0 && all.social > 0 && all.txn > 0);
  const two = defaultMix(["iot", "txn"]);
  assert.is(two.social, 0);
  assert.ok(Math.abs(two.iot + two.txn - 1) < 1e-12);
});

test("the mix and source list steer which sources appear, and how often", () => {
  const only = createGenerator({ seed: 1, sources: ["social"] }).take(200);
  assert.ok(only.every((e) => e.source === "social"));
  const events = createGenerator({ seed: 1, sources: ALL, mix: { iot: 1, social: 0, txn: 3 } }).take(4000);
  const txn = events.filter((e) => e.source === "txn").length;
  assert.ok(events.every((e) => e.source !== "social"));
  assert.ok(Math.abs(txn / events.length - 0.75) < 0.03, `txn share ${txn / events.length}`);
});

test("entity counts are honoured", () => {
  const gen = createGenerator({ seed: 1, sources: ALL, entities: { iot: 7, social: 30, txn: 12 } });
  assert.is(gen.keys("iot").length, 7);
  assert.is(gen.keys("social").length, 30);
  assert.is(gen.keys("txn").length, 12);
  assert.is(new Set(gen.keys("txn")).size, 12);
});

test("bad options are refused with the option named", () => {
  const bad: Array<[string, () => unknown]> = [
    ["seed", () => createGenerator({ seed: 1.5, sources: ALL })],
    ["sources", () => createGenerator({ seed: 1, sources: [] })],
    ["sources", () => createGenerator({ seed: 1, sources: ["nope" as Source] })],
    ["anomalyRate", () => createGenerator({ seed: 1, sources: ALL, anomalyRate: 1.5 })],
    ["intervalMs", () => createGenerator({ seed: 1, sources: ALL, intervalMs: 0 })],
    ["mix", () => createGenerator({ seed: 1, sources: ["iot"], mix: { txn: 1 } })],
    ["entities.txn", () => createGenerator({ seed: 1, sources: ALL, entities: { txn: 0 } })],
    ["nowMs", () => createGenerator({ seed: 1, sources: ALL }).next(Number.NaN)],
    ["sources", () => createGenerator({ seed: 1, sources: ["iot"] }).next(0, "txn")],
    ["runId", () => createGenerator({ seed: 1, sources: ALL, runId: "" })],
    ["runId", () => createGenerator({ seed: 1, sources: ALL, runId: "a.b" })],
    ["runId", () => createGenerator({ seed: 1, sources: ALL, runId: "x".repeat(33) })],
  ];
  for (const [option, call] of bad) {
    assert.throws(call, (err: unknown) => err instanceof GeneratorOptionsError && err.option === option && err.name === "GeneratorOptionsError", option);
  }
});

test.run();
