// Window throughput, next to a baseline measured in the same run (the bare nats.js loop of
// bench/pipeline.ts: publish into a stream, consume with an explicit ack per message, no work):
// - window actor alone: envelopes already in EVENTS, the window actor (full default config, every
//   task in this process) reads and folds them all and stores its results in AGG;
// - whole pipeline: raw publish → validate → EVENTS → window → AGG → ClickHouse, all actors on.
//   npm run bench:windows [-- --events 50000] [--group-shards 1]
import { parseArgs } from "node:util";
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
import { isEntryPoint, printSummary, ratio, round, type BenchSummary } from "./report.ts";

const SENSORS = 200;
const PARTITIONS = 4;
/** 200 sensors every 10 s: `count` readings span count / 20 seconds of event time. */
const minutesFor = (count: number) => Math.ceil(count / SENSORS / 6) + 1;


/** Every event is read 1 + shards times: by its partition's task and by each group shard task of its source. */
const readsPerEvent = (groupShards: number) => 1 + groupShards;
const folded = (before: number) => () => Promise.resolve(metricsFor("window").received - before);

async function windowAlone(input: TestMessage[], groupShards: number): Promise<{ rate: number; results: number }> {
  const nats = await NatsServer.start();
  try {
    const nc = await connect({ servers: nats.url });
    await ensureStreams(await jetstreamManager(nc), streamOverrides(loadConfig({})));
    const js = jetstream(nc);
    let seq = 0;
    const all = [...input, ...flush(SENSORS)];
    for (let i = 0; i < all.length; i += 2_000) {
      await Promise.all(all.slice(i, i + 2_000).map((m) => {
        const payload = JSON.parse(m.body) as Record<string, unknown>;
        const key = String(payload.sensor_id);
        const envelope: Envelope = {
          event_id: `e${++seq}`, source: "iot", key, schema_version: 1, event_time: Date.parse(String(payload.ts)), ingest_time: Date.now(),
          payload, raw_subject: m.subject, raw_seq: seq,
        };
        return js.publish(`events.iot.${partitionOf(key, PARTITIONS)}`, JSON.stringify(envelope));
      }));
    }
    const before = metricsFor("window").received;
    const started = performance.now();
    const window = await startTestPipeline(nats.url, { actors: ["window"], env: { SLUICE_PARTITIONS: String(PARTITIONS), SLUICE_GROUP_SHARDS: String(groupShards) } });
    const reads = readsPerEvent(groupShards) * all.length;
    const done = await waitFor(folded(before), (n) => n >= reads, 600_000, 50);
    const seconds = (performance.now() - started) / 1000;
    const agg = (await (await jetstreamManager(nc)).streams.info("AGG")).state.messages;
    await window.cleanup();
    await nc.close();
    if (done < reads) throw new Error(`the window actor read ${done} of ${reads}`);
    return { rate: all.length / seconds, results: agg };
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

export async function main(opts: { events: number; groupShards?: number }): Promise<BenchSummary> {
  const count = opts.events;
  const groupShards = opts.groupShards ?? DEFAULT_GROUP_SHARDS;
  const minutes = minutesFor(count);
  const input = readings(SENSORS, minutes).slice(0, count);
  const base = await natsBaseline(count);
  const alone = await windowAlone(input, groupShards);
  const full = await wholePipeline(input, groupShards);
  console.log(`events: ${input.length} iot readings (${SENSORS} sensors, 3 sites, ${minutes} minutes of event time), ${PARTITIONS} partitions, ${groupShards} group shards, default window config`);
  console.log(`baseline  nats.js publish → stream → consume + JSON.parse + ack: ${base.toFixed(0)} msgs/s`);
  console.log(`window    EVENTS → window actor (all tasks, all kinds) → AGG: ${alone.rate.toFixed(0)} events/s   ratio ${(alone.rate / base).toFixed(3)}   (${alone.results} results in AGG)`);
  console.log(`pipeline  raw → validate → EVENTS → window → AGG → ClickHouse (+ events sink): ${full.toFixed(0)} events/s   ratio ${(full / base).toFixed(3)}`);
  const summary: BenchSummary = {
    name: "windows", events: input.length, events_per_s: round(alone.rate), baseline: round(base), ratio: ratio(alone.rate, base),
    agg_results: alone.results, pipeline_events_per_s: round(full), pipeline_ratio: ratio(full, base),
  };
  printSummary(summary);
  return summary;
}

if (isEntryPoint(import.meta.url)) {
  const { values } = parseArgs({ options: { events: { type: "string", default: "50000" }, "group-shards": { type: "string", default: String(DEFAULT_GROUP_SHARDS) } } });
  await main({ events: Number(values.events), groupShards: Number(values["group-shards"]) });
  process.exit(0);
}
