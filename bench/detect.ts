// Detection throughput, per core (one Node thread), next to baselines measured in the same run:
//   1. the univariate detector alone (points/s) vs a JSON.parse loop over the same number of envelopes;
//   2. the whole detection state (all sources) over generated envelopes, in process;
//   3. the detect actor in the pipeline (EVENTS on a real nats-server → detect → ALERTS) vs a bare
//      nats.js publish → stream → consume + JSON.parse + ack loop.
//   npm run bench:detect [-- --points 200000 --events 50000]
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { createUnivariateDetector } from "../models/anomaly/index.ts";
import { createDetection, toEnvelope } from "../actors/detect/index.ts";
import { createGenerator } from "../actors/generate/index.ts";
import { metricsFor } from "../actors/runtime/metrics.ts";
import { partitionOf, subject } from "../subjects/catalog.ts";
import { NatsServer } from "../tests/harness/nats-server.ts";
import { natsBaseline } from "./baseline.ts";
import { startTestPipeline } from "../tests/harness/pipeline.ts";
import { waitFor } from "../tests/harness/wait.ts";
import type { Envelope } from "../subjects/envelope.ts";
import { isEntryPoint, printSummary, ratio, round, type BenchSummary } from "./report.ts";


function rate(n: number, run: () => void): number {
  const started = performance.now();
  run();
  return n / ((performance.now() - started) / 1000);
}

async function inPipeline(envelopes: Envelope[], bodies: string[]): Promise<number> {
  const nats = await NatsServer.start();
  const p = await startTestPipeline(nats.url, { actors: ["detect"] });
  try {
    const nc = await connect({ servers: nats.url });
    const before = metricsFor("detect").acked;
    const started = performance.now();
    envelopes.forEach((e, i) => nc.publish(subject.events(e.source, partitionOf(e.key, 4)), bodies[i]));
    await nc.flush();
    const events = envelopes.length;
    const acked = await waitFor(async () => metricsFor("detect").acked - before, (n) => n >= events, 600_000, 50);
    const seconds = (performance.now() - started) / 1000;
    if (acked < events) throw new Error(`detect acked only ${acked} of ${events}`);
    await nc.close();
    return events / seconds;
  } finally {
    await p.cleanup();
    await nats.stop();
  }
}

export async function main(opts: { points: number; events: number }): Promise<BenchSummary> {
  const { points, events } = opts;
  const generated = createGenerator({ seed: 1, sources: ["iot", "social", "txn"], anomalyRate: 0.02, intervalMs: 500 }).take(events);
  const envelopes = generated.map((e, i) => toEnvelope(e, i + 1));
  const bodies = envelopes.map((e) => JSON.stringify(e));
  const parseRate = rate(points, () => {
    let sum = 0;
    for (let i = 0; i < points; i++) sum += (JSON.parse(bodies[i % bodies.length]) as { raw_seq: number }).raw_seq;
    if (sum < 0) console.log(sum);
  });
  const univariateRate = rate(points, () => {
    const d = createUnivariateDetector();
    const t0 = Date.UTC(2026, 0, 1);
    for (let i = 0; i < points; i++) d.update(t0 + i * 10_000, 20 + Math.sin(i / 50) + ((i * 7919) % 101) / 100);
  });
  const detection = createDetection();
  const inProcessRate = rate(events, () => {
    for (const e of envelopes) detection.observe(e, "");
  });
  const base = await natsBaseline(events, (i) => bodies[i]);
  const piped = await inPipeline(envelopes, bodies);
  const f = (n: number) => n.toFixed(0).padStart(9);
  console.log(`points ${points}, events ${events} (iot, social, txn; seed 1), one Node thread`);
  console.log(`baseline   JSON.parse of an envelope:                         ${f(parseRate)} /s`);
  console.log(`detector   univariate update alone:                           ${f(univariateRate)} points/s   ratio to JSON.parse ${(univariateRate / parseRate).toFixed(3)}`);
  console.log(`detection  all sources, in process (no broker):               ${f(inProcessRate)} events/s   ratio to JSON.parse ${(inProcessRate / parseRate).toFixed(3)}`);
  console.log(`baseline   nats.js publish → stream → consume + parse + ack:  ${f(base)} msgs/s`);
  console.log(`pipeline   EVENTS → detect actor → ALERTS (acked):            ${f(piped)} events/s   ratio to nats.js ${(piped / base).toFixed(3)}`);
  const summary: BenchSummary = {
    name: "detect", events, events_per_s: round(piped), baseline: round(base), ratio: ratio(piped, base),
    points, univariate_points_per_s: round(univariateRate), in_process_events_per_s: round(inProcessRate), parse_per_s: round(parseRate),
  };
  printSummary(summary);
  return summary;
}

if (isEntryPoint(import.meta.url)) {
  const { values } = parseArgs({ options: { points: { type: "string", default: "200000" }, events: { type: "string", default: "50000" } } });
  await main({ points: Number(values.points), events: Number(values.events) });
  process.exit(0);
}
