// Shared by the windowing tests and the golden regeneration script: the fixture step format, the
// scenario table, a seeded stream generator and a bounded-disorder shuffle.
import { readFileSync } from "node:fs";
import type { Envelope } from "../../subjects/envelope.ts";
import type { Source } from "../../subjects/sources.ts";
import { createWindowEngine, defaultWindowConfig, type Output, type WindowConfig, type WindowEngine, type WindowSpec } from "../../windowing/index.ts";

const root = new URL("../", import.meta.url).pathname;
export const fixturePath = (name: string) => `${root}fixtures/windowing/${name}.ndjson`;
export const goldenPath = (name: string) => `${root}golden/windowing/${name}.ndjson`;

/**
 * One fixture line: an event (`id`, `t` = event_time, `key`, `payload`, partition `p`) delivered at
 * processing time `now`, or a bare `{"now": ..., "tick": true}`.
 */
export interface Step {
  now: number;
  tick?: true;
  p?: number;
  id?: string;
  t?: number;
  source?: Source;
  key?: string;
  payload?: Record<string, unknown>;
}

export function toEnvelope(step: Step): Envelope {
  const source = step.source ?? "iot";
  return {
    event_id: step.id ?? "",
    source,
    key: step.key ?? "",
    schema_version: 1,
    event_time: step.t ?? NaN,
    ingest_time: step.now,
    payload: step.payload ?? {},
    raw_subject: `raw.${source}.${step.key}`,
    raw_seq: 0,
  };
}

export function apply(engine: WindowEngine, step: Step): Output[] {
  return step.tick ? engine.onTick(step.now) : engine.onEvent(toEnvelope(step), step.p ?? 0, step.now);
}

export function run(config: WindowConfig, steps: Step[]): Output[] {
  const engine = createWindowEngine(config);
  return steps.flatMap((s) => apply(engine, s));
}

export function readSteps(name: string): Step[] {
  return parseNdjson(readFileSync(fixturePath(name), "utf8")) as Step[];
}

export function readGolden(name: string): unknown[] {
  return parseNdjson(readFileSync(goldenPath(name), "utf8"));
}

/** Index of the first output that differs, or -1; uvu's own diff of long outputs takes minutes. */
export function firstDifference(actual: unknown[], expected: unknown[]): number {
  for (let i = 0; i < Math.max(actual.length, expected.length); i++) {
    if (JSON.stringify(actual[i]) !== JSON.stringify(expected[i])) return i;
  }
  return -1;
}

export function toNdjson(items: unknown[]): string {
  return items.map((i) => JSON.stringify(i)).join("\n") + (items.length > 0 ? "\n" : "");
}

function parseNdjson(text: string): unknown[] {
  return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}

function iotConfig(windows: WindowSpec[], overrides: { allowedLatenessMs?: number } = {}): WindowConfig {
  return {
    ...defaultWindowConfig,
    partitions: 2,
    sources: {
      iot: {
        outOfOrdernessMs: 5_000,
        allowedLatenessMs: overrides.allowedLatenessMs ?? 30_000,
        idleTimeoutMs: 10_000,
        groups: [{ name: "sensor" }, { name: "site", field: "site", distinct: "sensor_id" }],
        metrics: [{ name: "temperature", field: "temperature" }, { name: "humidity", field: "humidity" }],
        windows,
      },
    },
  };
}

const tumbling: WindowSpec = { kind: "tumbling", sizeMs: 60_000 };
const hoppingBySite: WindowSpec = { kind: "hopping", sizeMs: 120_000, slideMs: 60_000, groups: ["site"] };

export interface Scenario {
  name: string;
  config: WindowConfig;
  /** Golden file this fixture must reproduce; its own name unless it shares another's. */
  golden: string;
}

export const SCENARIOS: Scenario[] = [
  {
    name: "in-order",
    golden: "in-order",
    config: iotConfig([tumbling, hoppingBySite, { kind: "session", gapMs: 20_000, maxLengthMs: 120_000, groups: ["sensor"] }]),
  },
  {
    name: "shuffled",
    golden: "in-order",
    config: iotConfig([tumbling, hoppingBySite, { kind: "session", gapMs: 20_000, maxLengthMs: 120_000, groups: ["sensor"] }]),
  },
  { name: "late-within-lateness", golden: "late-within-lateness", config: iotConfig([tumbling]) },
  { name: "too-late", golden: "too-late", config: iotConfig([tumbling]) },
  { name: "duplicates", golden: "duplicates", config: iotConfig([tumbling]) },
  { name: "idle-partition", golden: "idle-partition", config: iotConfig([tumbling]) },
  {
    name: "session-merge",
    golden: "session-merge",
    config: iotConfig([{ kind: "session", gapMs: 30_000, maxLengthMs: 300_000, groups: ["sensor"] }], { allowedLatenessMs: 120_000 }),
  },
  { name: "hopping", golden: "hopping", config: iotConfig([hoppingBySite]) },
];

export function scenario(name: string): Scenario {
  const s = SCENARIOS.find((x) => x.name === name);
  if (!s) throw new Error(`no windowing scenario ${name}`);
  return s;
}

/** mulberry32: a small seeded PRNG, so generated fixtures are the same on every machine. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SENSORS = [
  { id: "s1", site: "a", partition: 0 },
  { id: "s2", site: "a", partition: 1 },
  { id: "s3", site: "b", partition: 1 },
];
export const INGEST_DELAY_MS = 200;
const SHUFFLED_STEP_MS = 20;
export const STREAM_END_MS = 600_000;

/**
 * Ten minutes of three sensors on two sites and two partitions, in event-time order: a reading
 * about every 5 s per sensor, s2 silent from 200 s to 260 s (a session break), every seventh
 * reading without humidity. Ends with one far-future event per partition from a sensor no test
 * looks at, which moves the watermark past every real window.
 */
export function generateStream(seed = 7): Step[] {
  const rand = prng(seed);
  const events: Step[] = [];
  let n = 0;
  for (let tick = 0; tick < STREAM_END_MS / 5_000; tick++) {
    for (const [i, s] of SENSORS.entries()) {
      const t = tick * 5_000 + i * 1_000 + Math.floor(rand() * 1_000);
      if (s.id === "s2" && t >= 200_000 && t < 260_000) continue;
      n++;
      const payload: Record<string, unknown> = {
        sensor_id: s.id,
        site: s.site,
        ts: new Date(t).toISOString(),
        temperature: Math.round((20 + 5 * Math.sin(t / 60_000 + i) + rand() * 2) * 100) / 100,
      };
      if (n % 7 !== 0) payload.humidity = Math.round((40 + rand() * 20) * 10) / 10;
      events.push({ now: 0, p: s.partition, id: `e${String(n).padStart(4, "0")}`, t, key: s.id, payload });
    }
  }
  events.sort((a, b) => (a.t ?? 0) - (b.t ?? 0));
  for (const p of [0, 1]) {
    const t = STREAM_END_MS + 100_000;
    events.push({ now: 0, p, id: `end-${p}`, t, key: "zz-end", payload: { sensor_id: "zz-end", site: "zz", temperature: 0 } });
  }
  return withProcessingTime(events);
}

/**
 * Reorders a stream within `boundMs` per partition: each event is placed by event time plus a
 * random delay of at most `boundMs`, and partitions are interleaved at random. No event then
 * arrives after an event of its own partition that is more than `boundMs` newer, which is exactly
 * what a bounded-out-of-orderness watermark of `boundMs` promises to absorb.
 */
export function boundedShuffle(steps: Step[], boundMs: number, seed: number): Step[] {
  const rand = prng(seed);
  const byPartition = new Map<number, { step: Step; at: number }[]>();
  for (const step of steps) {
    const list = byPartition.get(step.p ?? 0) ?? [];
    const isLast = step.id?.startsWith("end-") ?? false;
    list.push({ step, at: (step.t ?? 0) + (isLast ? 0 : Math.floor(rand() * (boundMs + 1))) });
    byPartition.set(step.p ?? 0, list);
  }
  const queues = [...byPartition.values()].map((list) => list.sort((a, b) => a.at - b.at).map((x) => x.step));
  const out: Step[] = [];
  while (queues.some((q) => q.length > 0)) {
    const open = queues.filter((q) => q.length > 0);
    const q = open[Math.floor(rand() * open.length)];
    out.push(q.shift() as Step);
  }
  // Processing time creeps forward per delivery instead of following event time: a partition that
  // runs ahead in event time must not make the others look idle.
  const start = out[0]?.t ?? 0;
  return out.map((s, i) => ({ ...s, now: start + i * SHUFFLED_STEP_MS }));
}

// Processing time trails each event a little.
function withProcessingTime(steps: Step[]): Step[] {
  let now = 0;
  return steps.map((s) => {
    now = Math.max(now + 1, (s.t ?? 0) + INGEST_DELAY_MS);
    return { ...s, now };
  });
}
