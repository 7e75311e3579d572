// End-to-end throughput: raw publish → validate → EVENTS → sink → rows in ClickHouse, all actors
// on, next to a baseline measured in the same run on the same kind of server: a bare nats.js loop
// that publishes into a stream and consumes with an explicit ack per message, no processing.
// Two ways to run sluice:
//   - in-process: every actor in this process (what `sluice up` does);
//   - split: `sluice up --split --no-generate` as a child, one process per actor (sinks together).
//   npm run bench [-- --events 50000] [--modes in-process,split]
//   npm run bench:split  (split only)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { NatsServer } from "../tests/harness/nats-server.ts";
import { validReadings } from "../tests/harness/events.ts";
import { publishAll, startTestPipeline } from "../tests/harness/pipeline.ts";
import { scalarOverNats } from "../tests/harness/sluice-process.ts";
import { natsBaseline } from "./baseline.ts";
import { secondsUntil } from "./load.ts";
import { startSluiceUp, stopProcess } from "./sluice-up.ts";
import { figure, isEntryPoint, printSummary, ratio, round, type BenchSummary } from "./report.ts";

export const MODES = ["in-process", "split"] as const;
export type Mode = (typeof MODES)[number];

const readingsFor = (events: number) => validReadings(events, Date.UTC(2026, 10, 27, 10), 50);

async function inProcess(events: number): Promise<number> {
  const nats = await NatsServer.start();
  const p = await startTestPipeline(nats.url);
  try {
    const nc = await connect({ servers: nats.url });
    const started = performance.now();
    await publishAll(nc, readingsFor(events));
    const seconds = await secondsUntil("rows in sluice.events", () => p.scalar("SELECT count() FROM sluice.events"), events, started, 600_000);
    await nc.close();
    return events / seconds;
  } finally {
    await p.cleanup();
    await nats.stop();
  }
}

async function split(events: number): Promise<number> {
  const nats = await NatsServer.start();
  const stateDir = mkdtempSync(join(tmpdir(), "sluice-bench-split-"));
  const { process: up } = await startSluiceUp(["--split", "--no-generate"], nats.url, stateDir).catch(async (err: unknown) => {
    await nats.stop();
    throw err;
  });
  try {
    const nc = await connect({ servers: nats.url });
    const started = performance.now();
    await publishAll(nc, readingsFor(events));
    const seconds = await secondsUntil("rows in sluice.events", () => scalarOverNats(nc, "SELECT count() FROM sluice.events"), events, started, 600_000, 250);
    await nc.close();
    return events / seconds;
  } finally {
    await stopProcess(up);
    rmSync(stateDir, { recursive: true, force: true });
    await nats.stop();
  }
}

export async function main(opts: { events: number; modes?: readonly Mode[] }): Promise<BenchSummary> {
  const { events } = opts;
  const modes = opts.modes ?? MODES;
  const base = await natsBaseline(events);
  const rates: Partial<Record<Mode, number>> = {};
  for (const mode of modes) rates[mode] = mode === "in-process" ? await inProcess(events) : await split(events);
  console.log(`events: ${events}`);
  console.log(`baseline  nats.js publish → stream → consume + JSON.parse + ack: ${figure(base)} msgs/s`);
  for (const mode of modes) {
    console.log(`pipeline  raw publish → validate → EVENTS → ClickHouse rows (all actors on, ${mode.padEnd(10)}): ${figure(rates[mode]!)} events/s   ratio ${ratio(rates[mode]!, base)}  (target ≥ 30000 and ≥ 0.5)`);
  }
  const headline = rates["in-process"] ?? rates.split!;
  const summary: BenchSummary = {
    name: "pipeline", events, events_per_s: round(headline), baseline: round(base), ratio: ratio(headline, base),
    ...(rates.split !== undefined ? { split_events_per_s: round(rates.split), split_ratio: ratio(rates.split, base) } : {}),
  };
  printSummary(summary);
  return summary;
}

function parseModes(text: string): Mode[] {
  const modes = text.split(",");
  for (const m of modes) if (!(MODES as readonly string[]).includes(m)) throw new Error(`--modes: ${JSON.stringify(m)} is not one of ${MODES.join(", ")}`);
  return modes as Mode[];
}

if (isEntryPoint(import.meta.url)) {
  const { values } = parseArgs({ options: { events: { type: "string", default: "50000" }, modes: { type: "string", default: MODES.join(",") } } });
  await main({ events: Number(values.events), modes: parseModes(values.modes) });
  process.exit(0);
}
