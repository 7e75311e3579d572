// sluice against what a user would write instead (bench/peer-loop.ts), on the same job: drain
// `events` IoT readings pre-loaded into RAW, validate them against the iot schema, store them.
//   1. the peer loop (nats.js + ajv + chDB, ack after insert);
//   2. sluice doing only that job: validate + clickhouse-sink-events;
//   3. sluice with every actor on (rows in sluice.events, the other actors working alongside).
// Each run gets a fresh nats-server and chDB directory. The bare nats.js loop of baseline.ts is
// measured in the same run too. Timing starts when the consumer (or the pipeline) is up.
//   npm run bench:peer [-- --events 50000]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import type { ActorName } from "../actors/pipeline.ts";
import { NatsServer } from "../tests/harness/nats-server.ts";
import { startTestPipeline } from "../tests/harness/pipeline.ts";
import { validReadings } from "../tests/harness/events.ts";
import { natsBaseline } from "./baseline.ts";
import { preloadRaw, secondsUntil } from "./load.ts";
import { runPeerLoop } from "./peer-loop.ts";
import { figure, isEntryPoint, printSummary, ratio, round, type BenchSummary } from "./report.ts";

/** The same 50 sensors' readings every run, in the four `ts` shapes producers send. */
const readingsFor = (events: number) => validReadings(events, Date.UTC(2026, 10, 27, 10), 50);

/** A drain's rate and the CPU this process spent on it per event (user + system, every thread: chDB runs in-process). */
interface Drain {
  readonly perS: number;
  readonly cpuUsPerEvent: number;
}

/** CPU microseconds per event since `since` (a `process.cpuUsage()`): steadier than rates when others load the machine. */
const cpuPerEvent = (since: NodeJS.CpuUsage, events: number) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / events;
};

async function peer(events: number): Promise<Drain> {
  const nats = await NatsServer.start();
  const dataDir = mkdtempSync(join(tmpdir(), "sluice-peer-"));
  try {
    const nc = await connect({ servers: nats.url });
    await preloadRaw(nc, readingsFor(events));
    await nc.close();
    const cpu = process.cpuUsage();
    const result = await runPeerLoop({ natsUrl: nats.url, dataDir, expect: events });
    const cpuUsPerEvent = cpuPerEvent(cpu, events);
    if (result.rows !== events) throw new Error(`peer loop stored ${result.rows} of ${events} (${result.invalid} invalid)`);
    return { perS: events / result.seconds, cpuUsPerEvent };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    await nats.stop();
  }
}

async function sluice(events: number, actors?: readonly ActorName[]): Promise<Drain> {
  const nats = await NatsServer.start();
  try {
    const nc = await connect({ servers: nats.url });
    await preloadRaw(nc, readingsFor(events));
    await nc.close();
    const p = await startTestPipeline(nats.url, { actors });
    try {
      const started = performance.now();
      const cpu = process.cpuUsage();
      const seconds = await secondsUntil("rows in sluice.events", () => p.scalar("SELECT count() FROM sluice.events"), events, started, 600_000);
      return { perS: events / seconds, cpuUsPerEvent: cpuPerEvent(cpu, events) };
    } finally {
      await p.cleanup();
    }
  } finally {
    await nats.stop();
  }
}

export async function main(opts: { events: number }): Promise<BenchSummary> {
  const { events } = opts;
  const base = await natsBaseline(events);
  const { perS: loop, cpuUsPerEvent: loopCpu } = await peer(events);
  const { perS: sameJob, cpuUsPerEvent: sameJobCpu } = await sluice(events, ["validate", "clickhouse-sink-events"]);
  const { perS: all, cpuUsPerEvent: allCpu } = await sluice(events);
  console.log(`events: ${events} iot readings pre-loaded in RAW (50 sensors), validated against subjects/schemas/iot.v1.json, stored in chDB`);
  console.log(`baseline  nats.js publish → stream → consume + JSON.parse + ack:          ${figure(base)} msgs/s`);
  console.log(`peer      nats.js + ajv + chDB loop (bench/peer-loop.ts), ack after insert: ${figure(loop)} rows/s   ratio to baseline ${ratio(loop, base)}`);
  console.log(`sluice    validate + clickhouse-sink-events:                              ${figure(sameJob)} rows/s   ratio to peer ${ratio(sameJob, loop)}  (target ≥ 0.75)`);
  console.log(`sluice    every actor on:                                                 ${figure(all)} rows/s   ratio to peer ${ratio(all, loop)}  (target ≥ 0.5)`);
  // This process's CPU per event (nats-server is a child, not counted, for all three): the figure
  // to compare when the machine is loaded, since rates then move with everything else running.
  console.log(`cpu per event, this process: peer ${loopCpu.toFixed(1)} µs; sluice same job ${sameJobCpu.toFixed(1)} µs (peer/sluice ${ratio(loopCpu, sameJobCpu)}); every actor ${allCpu.toFixed(1)} µs (${ratio(loopCpu, allCpu)})`);
  const summary: BenchSummary = {
    name: "peer", events, events_per_s: round(sameJob), baseline: round(loop), ratio: ratio(sameJob, loop),
    all_actors_per_s: round(all), all_actors_ratio: ratio(all, loop), nats_baseline: round(base),
    cpu_us_per_event: { peer: round(loopCpu, 1), same_job: round(sameJobCpu, 1), all_actors: round(allCpu, 1) },
  };
  printSummary(summary);
  return summary;
}

if (isEntryPoint(import.meta.url)) {
  const { values } = parseArgs({ options: { events: { type: "string", default: "50000" } } });
  await main({ events: Number(values.events) });
  process.exit(0);
}
