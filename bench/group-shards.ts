// What sharding the window actor's group windows costs and gains, without a broker: the window
// definition's handlers fold the same IoT readings (200 sensors on `--sites` sites) task by task,
// for each shard count, measuring CPU time (less sensitive to a loaded machine than wall time).
// - total: CPU of every group task of the source together (what one instance running all of them pays);
// - slowest: CPU of the busiest group task (what bounds the group windows once each shard has an instance of its own).
//   node --import tsx bench/group-shards.ts [--events 20000] [--sites 12] [--shards 1,2,4]
import { parseArgs } from "node:util";
import { windowDefinition } from "../actors/window/index.ts";
import { fingerprintOfTask } from "../actors/runtime/keyed/actor.ts";
import type { Inbound } from "../actors/runtime/actor.ts";
import { partitionOf, subject } from "../subjects/catalog.ts";
import type { Envelope } from "../subjects/envelope.ts";
import { createLogger } from "../actors/runtime/log.ts";
import { isEntryPoint, printSummary, round, type BenchSummary } from "./report.ts";

const PARTITIONS = 4;
const SENSORS = 200;
const BASE = Date.UTC(2026, 10, 27, 10);

function readings(count: number, sites: number): Inbound[] {
  const encoder = new TextEncoder();
  return Array.from({ length: count }, (_, i) => {
    const s = i % SENSORS;
    const t = BASE + Math.floor(i / SENSORS) * 10_000 + s * 50;
    const key = `sensor-${s}`;
    const e: Envelope = {
      event_id: `e${i}`, source: "iot", key, schema_version: 1, event_time: t, ingest_time: t,
      payload: { sensor_id: key, site: `site-${s % sites}`, temperature: 10 + (i % 17), humidity: 40 + (i % 9) }, raw_subject: subject.raw("iot", key), raw_seq: i,
    };
    return { subject: subject.events("iot", partitionOf(key, PARTITIONS)), stream: "EVENTS", seq: i + 1, deliveries: 1, timestampMs: t, data: encoder.encode(JSON.stringify(e)), headers: new Map(), traceId: "" };
  });
}

/** CPU ms of each iot group task folding `inputs` (every one of them reads the whole source), and the outputs of all. */
function foldGroups(inputs: readonly Inbound[], groupShards: number): { cpuMs: number[]; outputs: number } {
  const def = windowDefinition({ partitions: PARTITIONS, groupShards });
  const log = createLogger("error");
  let outputs = 0;
  const cpuMs: number[] = [];
  for (const task of def.reads.tasks.filter((t) => t.id.startsWith("groups-iot-"))) {
    const state = def.createState(task);
    const ctx = { emit: () => void outputs++, emitUnbound: () => void outputs++, reject() {}, scope: `${fingerprintOfTask(def, task)}.${task.id}`, log };
    const before = process.cpuUsage();
    for (let i = 0; i < inputs.length; i += 1_000) def.handle(state, inputs.slice(i, i + 1_000), ctx);
    const used = process.cpuUsage(before);
    cpuMs.push((used.user + used.system) / 1_000);
  }
  return { cpuMs, outputs };
}

export function main(opts: { events: number; sites: number; shards: number[] }): BenchSummary {
  const inputs = readings(opts.events, opts.sites);
  foldGroups(inputs.slice(0, 2_000), 1); // warm the JIT
  const rows: Record<string, unknown> = {};
  let outputs: number | undefined;
  for (const shards of opts.shards) {
    const run = foldGroups(inputs, shards);
    if (outputs !== undefined && run.outputs !== outputs) throw new Error(`${shards} shards emitted ${run.outputs} outputs, 1 shard ${outputs}: the shards must emit exactly what one task does`);
    outputs = run.outputs;
    const total = run.cpuMs.reduce((a, b) => a + b, 0);
    const slowest = Math.max(...run.cpuMs);
    rows[String(shards)] = { total_cpu_ms: round(total), slowest_cpu_ms: round(slowest), us_per_event_total: round((total * 1_000) / inputs.length, 1) };
    console.log(`${String(shards).padStart(2)} shards: all group tasks ${total.toFixed(0)} ms CPU (${((total * 1_000) / inputs.length).toFixed(1)} µs/event), busiest ${slowest.toFixed(0)} ms`);
  }
  const summary: BenchSummary = { name: "group-shards", events: inputs.length, sites: opts.sites, outputs: outputs ?? 0, shards: rows };
  printSummary(summary);
  return summary;
}

if (isEntryPoint(import.meta.url)) {
  const { values } = parseArgs({ options: { events: { type: "string", default: "20000" }, sites: { type: "string", default: "12" }, shards: { type: "string", default: "1,2,4" } } });
  main({ events: Number(values.events), sites: Number(values.sites), shards: values.shards.split(",").map(Number) });
}
