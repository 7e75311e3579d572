// The HTTP API under load while the pipeline ingests at half its maximum. `sluice up --no-generate`
// runs as a child on a nats-server of ours (every actor and the API in one process, as shipped);
// this process publishes and drives autocannon (as a library), so the load generator never shares
// sluice's event loop.
//   1. the maximum: `events` readings published at once, events/s until all are rows;
//   2. readings published at half that rate from then on; the ingest rate (rows/s into
//      sluice.events) over `seconds` without API load: the baseline;
//   3. for each of /v1/windows, /v1/anomalies, /v1/forecast: autocannon for `seconds`
//      (`connections` connections), requests/s and latency p99, and the ingest rate meanwhile
//      (after waiting for the backlog of the phase before to drain).
//   npm run bench:api [-- --events 20000 --seconds 15 --connections 10]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import autocannon from "autocannon";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { NatsServer } from "../tests/harness/nats-server.ts";
import { publishAll } from "../tests/harness/pipeline.ts";
import { scalarOverNats } from "../tests/harness/sluice-process.ts";
import { waitFor } from "../tests/harness/wait.ts";
import { pacedPublish, recentReadings, secondsUntil, type PacedPublisher } from "./load.ts";
import { startSluiceUp, stopProcess } from "./sluice-up.ts";
import { figure, isEntryPoint, printSummary, ratio, round, type BenchSummary } from "./report.ts";

const KEYS = 50;

/** The API's read routes, with queries that find the benchmark's data (event times end now). */
export const ROUTES = {
  windows: "/v1/windows?source=iot&since=2h",
  anomalies: "/v1/anomalies?since=2h",
  forecast: "/v1/forecast/iot:sensor-0:temperature?horizon=12",
} as const;

interface RouteResult {
  readonly route: string;
  readonly requests_per_s: number;
  readonly p99_ms: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly ingest_per_s: number;
}

const rowsOf = (nc: NatsConnection) => () => scalarOverNats(nc, "SELECT count() FROM sluice.events");

/** Rows per second into sluice.events while `during` runs. */
async function ingestRate<T>(nc: NatsConnection, during: () => Promise<T>): Promise<{ perS: number; value: T }> {
  const rows = rowsOf(nc);
  const before = await rows();
  const started = performance.now();
  const value = await during();
  const after = await rows();
  return { perS: (after - before) / ((performance.now() - started) / 1000), value };
}

/** Waits (up to 60 s) for the rows to catch up with what was published, so one phase's backlog does not feed the next's rate. */
async function caughtUp(nc: NatsConnection, publisher: PacedPublisher, preloaded: number, rate: number): Promise<void> {
  await waitFor(rowsOf(nc), (n) => n >= preloaded + publisher.published() - rate, 60_000, 250);
}

export async function main(opts: { events: number; seconds: number; connections: number }): Promise<BenchSummary> {
  const nats = await NatsServer.start();
  const stateDir = mkdtempSync(join(tmpdir(), "sluice-bench-api-"));
  const up = await startSluiceUp(["--no-generate"], nats.url, stateDir, { SLUICE_LOG_LEVEL: "warn" }).catch(async (err: unknown) => {
    await nats.stop();
    throw err;
  });
  const nc = await connect({ servers: nats.url });
  let publisher: PacedPublisher | undefined;
  try {
    await waitFor(rowsOf(nc), () => true, 60_000, 250);
    const started = performance.now();
    await publishAll(nc, recentReadings(opts.events, KEYS));
    const maximum = opts.events / await secondsUntil("rows in sluice.events", rowsOf(nc), opts.events, started, 600_000, 250);

    const rate = maximum / 2;
    publisher = pacedPublish(nc, { rate, keys: KEYS, firstSeq: opts.events + 1 });
    await sleep(2_000);
    const quiet = (await ingestRate(nc, () => sleep(opts.seconds * 1000))).perS;
    const results: RouteResult[] = [];
    for (const [name, path] of Object.entries(ROUTES)) {
      await caughtUp(nc, publisher, opts.events, rate);
      const { perS, value: r } = await ingestRate(nc, () => autocannon({ url: `${up.apiUrl}${path}`, connections: opts.connections, duration: opts.seconds, timeout: 30 }));
      results.push({ route: name, requests_per_s: round(r.requests.average, 1), p99_ms: round(r.latency.p99), ok: r["2xx"], non2xx: r.non2xx, errors: r.errors, ingest_per_s: round(perS) });
    }
    await publisher.stop();
    publisher = undefined;

    console.log(`sluice up --no-generate (all actors + API in one process); maximum ${figure(maximum, 0)} events/s, then ${figure(rate, 0)} events/s published; autocannon ${opts.connections} connections × ${opts.seconds} s per route`);
    console.log(`baseline  ingest without API load: ${figure(quiet, 0)} rows/s`);
    console.log("route        requests/s    p99 ms     2xx   non-2xx  errors   ingest rows/s   ingest ratio");
    for (const r of results) {
      console.log(`${r.route.padEnd(11)}  ${figure(r.requests_per_s, 10)}  ${figure(r.p99_ms, 8)}  ${figure(r.ok, 6)}  ${figure(r.non2xx, 8)}  ${figure(r.errors, 6)}  ${figure(r.ingest_per_s, 14)}  ${ratio(r.ingest_per_s, quiet).toFixed(3).padStart(13)}`);
    }
    const worst = Math.min(...results.map((r) => r.ingest_per_s));
    const summary: BenchSummary = {
      name: "api-load", events_per_s: round(worst), baseline: round(quiet), ratio: ratio(worst, quiet), maximum: round(maximum), rate: round(rate),
      routes: results.map((r) => ({ ...r })),
    };
    printSummary(summary);
    return summary;
  } finally {
    await publisher?.stop();
    await nc.close();
    await stopProcess(up.process);
    rmSync(stateDir, { recursive: true, force: true });
    await nats.stop();
  }
}

if (isEntryPoint(import.meta.url)) {
  const { values } = parseArgs({ options: { events: { type: "string", default: "20000" }, seconds: { type: "string", default: "15" }, connections: { type: "string", default: "10" } } });
  await main({ events: Number(values.events), seconds: Number(values.seconds), connections: Number(values.connections) });
  process.exit(0);
}
