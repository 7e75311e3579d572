// /v1/predict under load while the pipeline ingests at half its maximum: does scoring stall the
// actors that share the API's event loop? Same set-up as bench/api-load.ts (`sluice up
// --no-generate` as a child, this process publishes and drives autocannon): the ingest rate
// without API load, then autocannon POSTing `points`-point batches for `seconds`; requests/s,
// p99, how many were refused by the scoring queue (503), and the ingest rate meanwhile.
//   node --import tsx bench/predict-load.ts [--events 20000 --seconds 15 --connections 10 --points 1000]
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
const rowsOf = (nc: NatsConnection) => () => scalarOverNats(nc, "SELECT count() FROM sluice.events");

async function ingestRate<T>(nc: NatsConnection, during: () => Promise<T>): Promise<{ perS: number; value: T }> {
  const rows = rowsOf(nc);
  const before = await rows();
  const started = performance.now();
  const value = await during();
  return { perS: ((await rows()) - before) / ((performance.now() - started) / 1000), value };
}

export async function main(opts: { events: number; seconds: number; connections: number; points: number }): Promise<BenchSummary> {
  const nats = await NatsServer.start();
  const stateDir = mkdtempSync(join(tmpdir(), "sluice-bench-predict-"));
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
    const body = JSON.stringify({ series: "bench", points: Array.from({ length: opts.points }, (_, i) => ({ timestamp: 1_767_225_600_000 + i * 1000, value: 20 + Math.sin(i / 10) })) });
    const { perS, value: r } = await ingestRate(nc, () => autocannon({
      url: `${up.apiUrl}/v1/predict`, method: "POST", headers: { "content-type": "application/json" }, body,
      connections: opts.connections, duration: opts.seconds, timeout: 30,
    }));
    await publisher.stop();
    publisher = undefined;
    console.log(`sluice up --no-generate; maximum ${figure(maximum, 0)} events/s, then ${figure(rate, 0)} events/s published; autocannon ${opts.connections} connections × ${opts.seconds} s, ${opts.points} points per request`);
    console.log(`baseline ingest without API load: ${figure(quiet, 0)} rows/s`);
    console.log(`/v1/predict: ${figure(r.requests.average, 0)} requests/s (${figure(r.requests.average * opts.points, 0)} points/s), p99 ${figure(r.latency.p99, 0)} ms, 2xx ${r["2xx"]}, non-2xx ${r.non2xx} (503: queue full), errors ${r.errors}; ingest meanwhile ${figure(perS, 0)} rows/s, ratio ${ratio(perS, quiet).toFixed(3)}`);
    const summary: BenchSummary = {
      name: "predict-load", events_per_s: round(perS), baseline: round(quiet), ratio: ratio(perS, quiet), maximum: round(maximum), rate: round(rate),
      requests_per_s: round(r.requests.average, 1), p99_ms: round(r.latency.p99), ok: r["2xx"], non2xx: r.non2xx, errors: r.errors,
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
  const { values } = parseArgs({ options: { events: { type: "string", default: "20000" }, seconds: { type: "string", default: "15" }, connections: { type: "string", default: "10" }, points: { type: "string", default: "1000" } } });
  await main({ events: Number(values.events), seconds: Number(values.seconds), connections: Number(values.connections), points: Number(values.points) });
  process.exit(0);
}
