// Cost growth: throughput and memory of the whole pipeline (all actors on, one process) as the
// number of distinct keys grows (1k, 10k, 100k sensors at 4 partitions) and as the partitions
// grow (1, 2, 4 at 10k sensors). Each configuration runs in a process of its own (fresh
// nats-server, fresh chDB), so its RSS is its own: RSS when the pipeline is up, the peak while the
// events flow, and the JS heap after a full collection before and after (their difference over
// the keys is an upper bound on the state kept per key); also the events per CPU-second of that
// process (every actor and chDB), which a loaded machine skews far less. Each configuration gets
// `events` readings, or one per key where there are more keys. The bare nats.js loop of
// baseline.ts is measured once in the same run.
// First, in a child of its own, the state per key of the two stateful stages alone (the window
// engine and one detect task, no broker): heap after a full collection with `state-keys` sensors
// each seen `state-readings` times (temperature and humidity) minus before, over the keys, and the
// size of their JSON checkpoint per key — what every checkpoint writes.
//   npm run bench:growth [-- --events 20000 --keys 1000,10000,100000 --partitions 1,2,4 --at-keys 10000 --state-keys 1000 --state-readings 200]
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "@nats-io/transport-node";
import { NatsServer } from "../tests/harness/nats-server.ts";
import { publishAll, startTestPipeline } from "../tests/harness/pipeline.ts";
import { natsBaseline } from "./baseline.ts";
import { recentReadings, secondsUntil } from "./load.ts";
import { applyHeapPolicy, DEFAULT_HEAP_GROWING_PERCENT } from "../otel/memory.ts";
import { createWindowEngine, defaultWindowConfig } from "../windowing/index.ts";
import { createDetectTask } from "../actors/detect/task.ts";
import type { Envelope } from "../subjects/envelope.ts";
import { figure, isEntryPoint, printSummary, ratio, round, rssMb, runBenchChild, withPeakRss, type BenchSummary } from "./report.ts";

/**
 * Each sensor reports every 10 s whatever the key count, so more keys mean more state, not sparser
 * keys: at 250 ms between events regardless of keys, 1k sensors reported every 4 min and every
 * event closed that sensor's windows (a window result per event: under 50 events/s on the loaded machine).
 */
const REPORT_EVERY_MS = 10_000;

interface Case {
  readonly keys: number;
  readonly partitions: number;
}

const heapAfterGcMb = (): number => {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / 1024 / 1024;
};

/** Sensor `k`'s reading number `r`, every 10 s of event time. */
function reading(k: number, r: number, seq: number, startMs: number): Envelope {
  const t = startMs + r * REPORT_EVERY_MS + k;
  const payload = { sensor_id: `sensor-${k}`, temperature: 20 + Math.sin(r / 20 + k) + (seq % 7) * 0.05, humidity: 50 + 3 * Math.cos(r / 15 + k) + (seq % 5) * 0.1 };
  return { event_id: `e-${seq}`, source: "iot", key: `sensor-${k}`, schema_version: 1, event_time: t, ingest_time: t, payload, raw_subject: `raw.iot.sensor-${k}`, raw_seq: seq };
}

/** Heap after GC that `fill` leaves reachable from what it returns, per key, and that state's checkpoint JSON per key. */
function weigh(keys: number, fill: () => { snapshot(): unknown }): { heap: number; checkpoint: number } {
  const before = heapAfterGcMb();
  const state = fill();
  const heap = ((heapAfterGcMb() - before) * 1024 * 1024) / keys;
  return { heap: round(heap), checkpoint: round(JSON.stringify(state.snapshot()).length / keys) };
}

/** The window engine's and a detect task's state per key, in this process (started with --expose-gc). */
function stageState(keys: number, readings: number): BenchSummary {
  const startMs = Date.now() - readings * REPORT_EVERY_MS;
  const window = weigh(keys, () => {
    const engine = createWindowEngine({ ...defaultWindowConfig, partitions: 1 });
    for (let r = 0, seq = 0; r < readings; r++) for (let k = 0; k < keys; k++) engine.onEvent(reading(k, r, ++seq, startMs), 0, startMs + r * REPORT_EVERY_MS);
    return engine;
  });
  const detect = weigh(keys, () => {
    const task = createDetectTask({ sources: ["iot"], partitions: 1 });
    for (let r = 0, seq = 0; r < readings; r++) {
      for (let k = 0; k < keys; k++) {
        const e = reading(k, r, ++seq, startMs);
        task.observe(e, { partition: 0, streamMs: e.event_time, seq, traceId: "0".repeat(32) });
      }
    }
    return task;
  });
  const summary: BenchSummary = {
    name: "stage-state", keys, readings,
    window_bytes_per_key: window.heap, window_checkpoint_bytes_per_key: window.checkpoint,
    detect_bytes_per_key: detect.heap, detect_checkpoint_bytes_per_key: detect.checkpoint,
  };
  printSummary(summary);
  return summary;
}

/** One configuration, in this process (started by `main` as a child with --expose-gc). */
async function one(c: Case, events: number): Promise<BenchSummary> {
  // The heap policy `sluice up` applies (otel/memory.ts), so RSS is what the shipped process holds.
  applyHeapPolicy(DEFAULT_HEAP_GROWING_PERCENT);
  const nats = await NatsServer.start();
  const p = await startTestPipeline(nats.url, { env: { SLUICE_PARTITIONS: String(c.partitions) } });
  try {
    const nc = await connect({ servers: nats.url });
    const messages = recentReadings(events, c.keys, REPORT_EVERY_MS / c.keys);
    const heapStart = heapAfterGcMb();
    const rssStart = rssMb();
    const cpuBefore = process.cpuUsage();
    const { value: seconds, peakMb } = await withPeakRss(async () => {
      const started = performance.now();
      await publishAll(nc, messages);
      return secondsUntil("rows in sluice.events", () => p.scalar("SELECT count() FROM sluice.events"), events, started, 600_000);
    });
    const cpu = process.cpuUsage(cpuBefore);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    // The stateful actors may still be folding the last events; give them a moment before weighing.
    await sleep(2_000);
    const heapEnd = heapAfterGcMb();
    await nc.close();
    const summary: BenchSummary = {
      name: "growth-case", keys: c.keys, partitions: c.partitions, events, events_per_s: round(events / seconds),
      // This process's CPU (every actor and chDB, not nats-server): skewed far less than wall time by a loaded machine
      // (though timeouts under load still cost replays).
      cpu_s: round(cpuSeconds, 1), events_per_cpu_s: round(events / cpuSeconds),
      rss_start_mb: round(rssStart), rss_peak_mb: round(peakMb), rss_end_mb: round(rssMb()),
      heap_start_mb: round(heapStart, 1), heap_end_mb: round(heapEnd, 1),
      heap_bytes_per_key: round(((heapEnd - heapStart) * 1024 * 1024) / c.keys),
    };
    printSummary(summary);
    return summary;
  } finally {
    await p.cleanup();
    await nats.stop();
  }
}

/**
 * The heap each added key costs: the difference in heap after GC between successive key counts
 * (at 4 partitions) over the keys added. Unlike heap B/key of one configuration it leaves out what
 * every process holds whatever its keys (modules, clients, buffers).
 */
export function statePerKey(results: readonly BenchSummary[]): Array<{ from_keys: number; to_keys: number; bytes_per_key: number }> {
  const byKeys = results.filter((r) => Number(r.partitions) === 4).sort((a, b) => Number(a.keys) - Number(b.keys));
  return byKeys.slice(1).map((r, i) => {
    const prev = byKeys[i];
    const bytes = (Number(r.heap_end_mb) - Number(prev.heap_end_mb)) * 1024 * 1024;
    return { from_keys: Number(prev.keys), to_keys: Number(r.keys), bytes_per_key: round(bytes / (Number(r.keys) - Number(prev.keys))) };
  });
}

function cases(keys: readonly number[], partitions: readonly number[], atKeys: number): Case[] {
  const all = [...keys.map((k) => ({ keys: k, partitions: 4 })), ...partitions.map((n) => ({ keys: atKeys, partitions: n }))];
  // Fewest keys first: the largest configuration is the slowest, and the rows before it are kept if it is cut short.
  return all.filter((c, i) => all.findIndex((d) => d.keys === c.keys && d.partitions === c.partitions) === i).sort((a, b) => a.keys - b.keys);
}

/** One row of the table; printed as each configuration ends, so a run cut short keeps its rows. */
function row(r: BenchSummary, base: number): string {
  const n = (field: string) => Number(r[field]);
  return `${figure(n("keys"), 7)}  ${figure(n("partitions"), 10)}  ${figure(n("events"), 8)}  ${figure(n("events_per_s"))}  ${ratio(n("events_per_s"), base).toFixed(3).padStart(6)}  ${figure(n("events_per_cpu_s"), 12)}  ${figure(n("rss_start_mb"), 10)}  ${figure(n("rss_peak_mb"), 12)}  ${n("heap_start_mb").toFixed(1).padStart(11)}  ${n("heap_end_mb").toFixed(1).padStart(12)}  ${figure(n("heap_bytes_per_key"), 11)}`;
}

export async function main(opts: { events: number; keys: readonly number[]; partitions: readonly number[]; atKeys: number; stateKeys?: number; stateReadings?: number; timeoutMs?: number }): Promise<BenchSummary> {
  const stateKeys = opts.stateKeys ?? 1_000;
  const stateReadings = opts.stateReadings ?? 200;
  const stages = await runBenchChild(import.meta.url, ["--stage-state", "--keys", String(stateKeys), "--events", String(stateReadings)], opts.timeoutMs ?? 900_000, ["--expose-gc"]);
  console.log(`state per key of the stateful stages alone (${stateKeys} sensors × ${stateReadings} readings of temperature and humidity; heap after GC / JSON checkpoint):`);
  console.log(`  window engine (default windows)  ${figure(Number(stages.window_bytes_per_key), 8)} B heap   ${figure(Number(stages.window_checkpoint_bytes_per_key), 8)} B checkpoint`);
  console.log(`  detect task (iot)                ${figure(Number(stages.detect_bytes_per_key), 8)} B heap   ${figure(Number(stages.detect_checkpoint_bytes_per_key), 8)} B checkpoint`);
  const base = await natsBaseline(opts.events);
  console.log(`events: ${opts.events} per configuration (at least one per key), all actors on, one process each; baseline nats.js publish → stream → consume + JSON.parse + ack: ${figure(base)} msgs/s`);
  console.log("   keys  partitions    events   events/s   ratio   events/CPU-s   RSS up MB   RSS peak MB   heap up MB   heap end MB   heap B/key");
  const results: BenchSummary[] = [];
  for (const c of cases(opts.keys, opts.partitions, opts.atKeys)) {
    // Every key is seen at least once: 100k keys need 100k events.
    const args = ["--one", "--events", String(Math.max(opts.events, c.keys)), "--keys", String(c.keys), "--partitions", String(c.partitions)];
    const result = await runBenchChild(import.meta.url, args, opts.timeoutMs ?? 900_000, ["--expose-gc"]);
    results.push(result);
    console.log(row(result, base));
  }
  const { name: _stageName, ...stageFields } = stages;
  const perKey = statePerKey(results);
  for (const d of perKey) console.log(`state per key, ${d.from_keys} → ${d.to_keys} keys at 4 partitions (heap after GC, difference over the added keys): ${figure(d.bytes_per_key, 0)} B`);
  const headline = results.find((r) => r.keys === opts.atKeys && r.partitions === 4) ?? results[0];
  const summary: BenchSummary = {
    name: "growth", events: opts.events, events_per_s: Number(headline.events_per_s), baseline: round(base), ratio: ratio(Number(headline.events_per_s), base),
    cases: results.map(({ name: _name, ...fields }) => fields),
    state_per_key: perKey.map((d) => ({ ...d })),
    stage_state: stageFields,
  };
  printSummary(summary);
  return summary;
}

const numbers = (text: string): number[] => text.split(",").map(Number);

if (isEntryPoint(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      one: { type: "boolean", default: false },
      "stage-state": { type: "boolean", default: false },
      "state-keys": { type: "string", default: "1000" },
      "state-readings": { type: "string", default: "200" },
      events: { type: "string", default: "20000" },
      keys: { type: "string", default: "1000,10000,100000" },
      partitions: { type: "string", default: "1,2,4" },
      "at-keys": { type: "string", default: "10000" },
    },
  });
  if (values["stage-state"]) stageState(Number(values.keys), Number(values.events));
  else if (values.one) await one({ keys: Number(values.keys), partitions: Number(values.partitions) }, Number(values.events));
  else await main({ events: Number(values.events), keys: numbers(values.keys), partitions: numbers(values.partitions), atKeys: Number(values["at-keys"]), stateKeys: Number(values["state-keys"]), stateReadings: Number(values["state-readings"]) });
  process.exit(0);
}
