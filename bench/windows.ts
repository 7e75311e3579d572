// Window throughput, next to baselines measured in the same run:
// - engine: the window actor's handler in process, no broker: every task's share of the envelopes
//   (bytes as EVENTS holds them) decoded, parsed, folded by windowing/ and turned into AGG/LATE
//   messages, against a loop that only decodes and parses the same bytes as often (the floor of
//   reading them); the best of `--rounds` passes of each, interleaved, so the figure is a warm
//   engine's;
// - window actor alone: envelopes already in EVENTS, the window actor (full default config, every
//   task in this process) reads and folds them all and stores its results in AGG, against the bare
//   nats.js loop of bench/pipeline.ts (publish into a stream, consume with an explicit ack per
//   message, JSON.parse);
// - whole pipeline: raw publish → validate → EVENTS → window → AGG → ClickHouse, all actors on.
// - state (asked for by name): window state per key at 1k/10k/100k keys, in process.
//   npm run bench:windows [-- --events 50000] [--group-shards 1] [--modes engine,actor,pipeline,state] [--rounds 5]
//     [--keys 1000,10000,100000] [--state-minutes 3]
import { parseArgs } from "node:util";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../tests/harness/nats-server.ts";
import { natsBaseline } from "./baseline.ts";
import { publishAll, startTestPipeline } from "../tests/harness/pipeline.ts";
import { waitFor } from "../tests/harness/wait.ts";
import { flush, readings } from "../tests/windows/helpers.ts";
import { ensureStreams } from "../subjects/setup.ts";
import { partitionOf } from "../subjects/catalog.ts";
import { metricsFor } from "../actors/runtime/metrics.ts";
import { DEFAULT_GROUP_SHARDS, loadConfig } from "../config/index.ts";
import { streamOverrides } from "../actors/pipeline.ts";
import type { Envelope } from "../subjects/envelope.ts";
import type { TestMessage } from "../tests/harness/events.ts";
import { windowDefinition } from "../actors/window/index.ts";
import type { Inbound } from "../actors/runtime/actor.ts";
import type { KeyedContext } from "../actors/runtime/keyed/actor.ts";
import { isEntryPoint, printSummary, ratio, round, type BenchSummary } from "./report.ts";

const SENSORS = 200;
const PARTITIONS = 4;
/** 200 sensors every 10 s: `count` readings span count / 20 seconds of event time. */
const minutesFor = (count: number) => Math.ceil(count / SENSORS / 6) + 1;


/** Every event is read 1 + shards times: by its partition's task and by each group shard task of its source. */
const readsPerEvent = (groupShards: number) => 1 + groupShards;
const folded = (before: number) => () => Promise.resolve(metricsFor("window").received - before);

/** The readings as validate would put them on EVENTS: subject, envelope and a stream timestamp. */
function toEvents(input: TestMessage[]): Array<{ subject: string; data: Uint8Array; timestampMs: number }> {
  const encoder = new TextEncoder();
  const start = Date.now();
  return [...input, ...flush(SENSORS)].map((m, i) => {
    const payload = JSON.parse(m.body) as Record<string, unknown>;
    const key = String(payload.sensor_id);
    const envelope: Envelope = {
      event_id: `e${i + 1}`, source: "iot", key, schema_version: 1, event_time: Date.parse(String(payload.ts)), ingest_time: start + i,
      payload, raw_subject: m.subject, raw_seq: i + 1,
    };
    return { subject: `events.iot.${partitionOf(key, PARTITIONS)}`, data: encoder.encode(JSON.stringify(envelope)), timestampMs: start + i };
  });
}

/** Does a task's filter (`events.*.<p>` or `events.<source>.>`) take `subject`? */
function takes(filter: string, subject: string): boolean {
  const want = filter.split(".");
  const got = subject.split(".");
  return want.every((token, i) => token === ">" || token === "*" || token === got[i]) && (want.at(-1) === ">" || want.length === got.length);
}

/**
 * The window actor's handler with no broker: each task's messages in batches of 1,000 through
 * `handle`, outputs counted; the baseline decodes and parses the same bytes as often. Rates are
 * events (not task reads) per second, the best of `rounds` passes of each, interleaved.
 */
function engineInProcess(input: TestMessage[], groupShards: number, rounds: number): { rate: number; parseRate: number; outputs: number } {
  const events = toEvents(input);
  const def = windowDefinition({ partitions: PARTITIONS, groupShards });
  const work = def.reads.tasks.map((task) => ({
    task,
    inputs: events.filter((e) => takes(String(task.filter), e.subject)).map((e, i): Inbound => ({
      subject: e.subject, stream: "EVENTS", seq: i + 1, deliveries: 1, timestampMs: e.timestampMs, data: e.data, headers: new Map(), traceId: "",
    })),
  }));
  let outputs = 0;
  const ctx: KeyedContext = {
    emit: () => void outputs++,
    emitUnbound: () => void outputs++,
    reject: (input, error) => {
      throw new Error(`the engine bench rejected ${input.subject} seq ${input.seq}: ${error.message}`);
    },
    scope: "bench.engine",
    log: console,
  };
  const decoder = new TextDecoder();
  const pass = (fold: boolean): number => {
    outputs = 0;
    const started = performance.now();
    for (const { task, inputs } of work) {
      if (!fold) {
        for (const m of inputs) JSON.parse(decoder.decode(m.data));
        continue;
      }
      const state = def.createState(task);
      for (let i = 0; i < inputs.length; i += 1_000) def.handle(state, inputs.slice(i, i + 1_000), ctx);
    }
    return events.length / ((performance.now() - started) / 1000);
  };
  let rate = 0;
  let parseRate = 0;
  let counted = 0;
  for (let r = 0; r < rounds; r++) {
    parseRate = Math.max(parseRate, pass(false));
    rate = Math.max(rate, pass(true));
    counted = outputs;
  }
  return { rate, parseRate, outputs: counted };
}

const SITE_NAMES = ["berlin", "lisbon", "oslo"];

/** A full collection (flag set at run time, so the bench needs no --expose-gc), then the heap in use. */
function heapAfterGc(): number {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
  return process.memoryUsage().heapUsed;
}

interface StateCase {
  keys: number;
  events: number;
  eventsPerCpuS: number;
  bytesPerKey: number;
  dedupeIdsPerKey: number;
  openWindowsPerKey: number;
}

/**
 * Window state per key: `keys` sensors, each reporting every 20 s for `minutes` of event time, folded
 * by every task's handler in process; the heap after a full collection with every task's state
 * held, minus the heap before, over the keys. Also the events per CPU-second at that key count
 * (flat means cost linear in keys) and what the state holds per key: open windows and the event
 * ids kept for deduplication (kept until the longest window an event can be in, a session's
 * maximum length plus the lateness, is purged).
 */
function statePerKey(keys: number, minutes: number, groupShards: number): StateCase {
  const def = windowDefinition({ partitions: PARTITIONS, groupShards });
  const encoder = new TextEncoder();
  const base = Date.UTC(2026, 10, 27, 10, 0, 0);
  const stepMs = 20_000;
  const inputs = new Map(def.reads.tasks.map((t) => [t, [] as Inbound[]]));
  let n = 0;
  for (let t = base; t < base + minutes * 60_000; t += stepMs) {
    for (let k = 0; k < keys; k++) {
      const at = t + Math.floor((k * stepMs) / keys);
      const key = `sensor-${k}`;
      const payload = { sensor_id: key, site: SITE_NAMES[k % 3], ts: new Date(at).toISOString(), temperature: 15 + ((k * 7 + n) % 23) * 0.5, humidity: 30 + ((k * 11 + n) % 40) };
      const envelope: Envelope = { event_id: `gen-1-run-${++n}`, source: "iot", key, schema_version: 1, event_time: at, ingest_time: at, payload, raw_subject: `raw.iot.${key}`, raw_seq: n };
      const subject = `events.iot.${partitionOf(key, PARTITIONS)}`;
      const data = encoder.encode(JSON.stringify(envelope));
      for (const [task, list] of inputs) {
        if (takes(String(task.filter), subject)) list.push({ subject, stream: "EVENTS", seq: list.length + 1, deliveries: 1, timestampMs: at, data, headers: new Map(), traceId: "" });
      }
    }
  }
  const ctx: KeyedContext = { emit: () => undefined, emitUnbound: () => undefined, reject: () => undefined, scope: "bench.state", log: console };
  const before = heapAfterGc();
  const cpu = process.cpuUsage();
  const states = [...inputs].map(([task, list]) => {
    const state = def.createState(task);
    for (let i = 0; i < list.length; i += 1_000) def.handle(state, list.slice(i, i + 1_000), ctx);
    return state;
  });
  const used = process.cpuUsage(cpu);
  const bytes = heapAfterGc() - before;
  let dedupe = 0;
  let open = 0;
  for (const state of states) {
    for (const status of Object.values(state.engine.status(0))) {
      dedupe += status?.dedupe_ids ?? 0;
      open += status?.open_windows ?? 0;
    }
  }
  return {
    keys, events: n, eventsPerCpuS: n / ((used.user + used.system) / 1e6), bytesPerKey: bytes / keys,
    dedupeIdsPerKey: dedupe / keys, openWindowsPerKey: open / keys,
  };
}

async function windowAlone(input: TestMessage[], groupShards: number): Promise<{ rate: number; results: number; foldingRate: number; startupMs: number; perCpuSecond: number }> {
  const nats = await NatsServer.start();
  try {
    const nc = await connect({ servers: nats.url });
    await ensureStreams(await jetstreamManager(nc), streamOverrides(loadConfig({})));
    const js = jetstream(nc);
    const all = toEvents(input);
    for (let i = 0; i < all.length; i += 2_000) await Promise.all(all.slice(i, i + 2_000).map((e) => js.publish(e.subject, e.data)));
    const before = metricsFor("window").received;
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    const window = await startTestPipeline(nats.url, { actors: ["window"], env: { SLUICE_PARTITIONS: String(PARTITIONS), SLUICE_GROUP_SHARDS: String(groupShards) } });
    const reads = readsPerEvent(groupShards) * all.length;
    // When the first batch is folded: the actor's startup (leases, consumers) is over.
    let firstAt: number | undefined;
    const done = await waitFor(folded(before), (n) => {
      if (n > 0) firstAt ??= performance.now();
      return n >= reads;
    }, 600_000, 10);
    const ended = performance.now();
    const cpu = process.cpuUsage(cpuBefore);
    const seconds = (ended - started) / 1000;
    const agg = (await (await jetstreamManager(nc)).streams.info("AGG")).state.messages;
    await window.cleanup();
    await nc.close();
    if (done < reads) throw new Error(`the window actor read ${done} of ${reads}`);
    const startupMs = (firstAt ?? ended) - started;
    // This process's CPU (the actor and the bench's polling; nats-server is another process):
    // skewed far less than wall time by a loaded machine.
    const perCpuSecond = all.length / ((cpu.user + cpu.system) / 1e6);
    return { rate: all.length / seconds, results: agg, foldingRate: all.length / ((ended - (firstAt ?? started)) / 1000), startupMs, perCpuSecond };
  } finally {
    await nats.stop();
  }
}

async function wholePipeline(input: TestMessage[], groupShards: number): Promise<number> {
  const nats = await NatsServer.start();
  const p = await startTestPipeline(nats.url, { env: { SLUICE_PARTITIONS: String(PARTITIONS), SLUICE_GROUP_SHARDS: String(groupShards) } });
  try {
    const nc = await connect({ servers: nats.url });
    const all = [...input, ...flush(SENSORS)];
    const before = metricsFor("window").received;
    const started = performance.now();
    await publishAll(nc, all);
    await waitFor(folded(before), (n) => n >= readsPerEvent(groupShards) * all.length, 600_000, 50);
    const jsm = await jetstreamManager(nc);
    await waitFor(async () => {
      const sink = await jsm.consumers.info("AGG", "clickhouse-sink-agg");
      return sink.num_pending + sink.num_ack_pending;
    }, (n) => n === 0, 600_000, 50);
    const rows = await waitFor(() => p.scalar("SELECT count() FROM sluice.events"), (n) => n >= all.length, 600_000, 100);
    const seconds = (performance.now() - started) / 1000;
    if (rows < all.length) throw new Error(`only ${rows} of ${all.length} rows arrived`);
    await nc.close();
    return all.length / seconds;
  } finally {
    await p.cleanup();
    await nats.stop();
  }
}

export type WindowBenchMode = "engine" | "actor" | "pipeline" | "state";
const MODES: readonly WindowBenchMode[] = ["engine", "actor", "pipeline", "state"];
/** What runs without --modes: `state` takes minutes at 100k keys, so it is asked for by name. */
const DEFAULT_MODES: readonly WindowBenchMode[] = ["engine", "actor", "pipeline"];

export async function main(opts: {
  events: number;
  groupShards?: number;
  modes?: readonly WindowBenchMode[];
  rounds?: number;
  /** Key counts for the `state` mode. */
  keys?: readonly number[];
  /** Minutes of event time per key in the `state` mode. */
  stateMinutes?: number;
}): Promise<BenchSummary> {
  const count = opts.events;
  const groupShards = opts.groupShards ?? DEFAULT_GROUP_SHARDS;
  const modes = new Set(opts.modes ?? DEFAULT_MODES);
  const minutes = minutesFor(count);
  const input = readings(SENSORS, minutes).slice(0, count);
  const engine = modes.has("engine") ? engineInProcess(input, groupShards, opts.rounds ?? 5) : undefined;
  const needsNats = modes.has("actor") || modes.has("pipeline");
  const base = needsNats ? await natsBaseline(count) : undefined;
  const alone = modes.has("actor") ? await windowAlone(input, groupShards) : undefined;
  const full = modes.has("pipeline") ? await wholePipeline(input, groupShards) : undefined;
  const state = modes.has("state") ? (opts.keys ?? [1_000, 10_000, 100_000]).map((k) => statePerKey(k, opts.stateMinutes ?? 3, groupShards)) : undefined;
  const f = (n: number) => n.toFixed(0);
  console.log(`events: ${input.length} iot readings (${SENSORS} sensors, 3 sites, ${minutes} minutes of event time), ${PARTITIONS} partitions, ${groupShards} group shards, default window config`);
  if (engine) {
    console.log(`baseline  decode + JSON.parse of the same envelopes, once per task that reads them: ${f(engine.parseRate)} events/s`);
    console.log(`engine    window handler in process (parse, fold, AGG/LATE messages), no broker: ${f(engine.rate)} events/s   ratio ${(engine.rate / engine.parseRate).toFixed(3)}   (${engine.outputs} outputs)`);
  }
  if (base !== undefined) console.log(`baseline  nats.js publish → stream → consume + JSON.parse + ack: ${f(base)} msgs/s`);
  if (alone && base !== undefined) {
    console.log(`window    EVENTS → window actor (all tasks, all kinds) → AGG: ${f(alone.rate)} events/s   ratio ${(alone.rate / base).toFixed(3)}   (${alone.results} results in AGG; ${f(alone.foldingRate)} events/s from the first message folded, startup ${alone.startupMs.toFixed(0)} ms; ${f(alone.perCpuSecond)} events per CPU-second of this process)`);
  }
  if (full !== undefined && base !== undefined) console.log(`pipeline  raw → validate → EVENTS → window → AGG → ClickHouse (+ events sink): ${f(full)} events/s   ratio ${(full / base).toFixed(3)}`);
  if (state) {
    console.log(`state     window state per key (every task's handler in process, sensors every 20 s for ${opts.stateMinutes ?? 3} minutes of event time):`);
    console.log("             keys     events   events/cpu-s   bytes/key   dedupe ids/key   open windows/key");
    for (const c of state) {
      console.log(`  ${f(c.keys).padStart(15)} ${f(c.events).padStart(10)} ${f(c.eventsPerCpuS).padStart(14)} ${f(c.bytesPerKey).padStart(11)} ${c.dedupeIdsPerKey.toFixed(1).padStart(16)} ${c.openWindowsPerKey.toFixed(2).padStart(18)}`);
    }
  }
  // The headline is the actor's; with only the engine run, the engine's against its parse baseline.
  const head = alone && base !== undefined ? { events_per_s: round(alone.rate), baseline: round(base), ratio: ratio(alone.rate, base) }
    : engine ? { events_per_s: round(engine.rate), baseline: round(engine.parseRate), ratio: ratio(engine.rate, engine.parseRate) }
      : { events_per_s: round(full ?? 0), baseline: round(base ?? 0), ratio: ratio(full ?? 0, base ?? 1) };
  const summary: BenchSummary = {
    name: "windows", events: input.length, ...head,
    ...(engine ? { engine_events_per_s: round(engine.rate), engine_baseline: round(engine.parseRate), engine_ratio: ratio(engine.rate, engine.parseRate), engine_outputs: engine.outputs } : {}),
    ...(alone ? { agg_results: alone.results, actor_folding_events_per_s: round(alone.foldingRate), actor_startup_ms: round(alone.startupMs), actor_events_per_cpu_s: round(alone.perCpuSecond) } : {}),
    ...(full !== undefined && base !== undefined ? { pipeline_events_per_s: round(full), pipeline_ratio: ratio(full, base) } : {}),
    ...(state ? { state: state.map((c) => ({ keys: c.keys, events_per_cpu_s: round(c.eventsPerCpuS), bytes_per_key: round(c.bytesPerKey), dedupe_ids_per_key: round(c.dedupeIdsPerKey, 1), open_windows_per_key: round(c.openWindowsPerKey, 2) })) } : {}),
  };
  printSummary(summary);
  return summary;
}

if (isEntryPoint(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      events: { type: "string", default: "50000" },
      "group-shards": { type: "string", default: String(DEFAULT_GROUP_SHARDS) },
      modes: { type: "string", default: DEFAULT_MODES.join(",") },
      rounds: { type: "string", default: "5" },
      keys: { type: "string", default: "1000,10000,100000" },
      "state-minutes": { type: "string", default: "3" },
    },
  });
  const modes = values.modes.split(",").map((m) => m.trim());
  const unknown = modes.filter((m) => !(MODES as readonly string[]).includes(m));
  if (unknown.length) throw new Error(`--modes: expected some of ${MODES.join(",")}, got ${unknown.join(",")}`);
  await main({
    events: Number(values.events), groupShards: Number(values["group-shards"]), modes: modes as WindowBenchMode[], rounds: Number(values.rounds),
    keys: values.keys.split(",").map(Number), stateMinutes: Number(values["state-minutes"]),
  });
  process.exit(0);
}
