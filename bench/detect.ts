// Detection throughput, per core (one Node thread), next to baselines measured in the same run:
//   1. the univariate detector alone (points/s) vs a JSON.parse loop over the same number of envelopes;
//   2. the whole detection state (all sources) over generated envelopes, in process: once from a
//      cold start (this process's first pass, JIT compilation included, as in earlier rounds), then
//      again with fresh state and compiled code ("warm": what a long-running detect process does);
//   3. the detect actor in the pipeline (EVENTS on a real nats-server → detect → ALERTS) vs a bare
//      nats.js publish → stream → consume + JSON.parse + ack loop;
//   4. detection latency: then, in the same pipeline, more events published at a steady --rate,
//      each alert on alerts.> timed from its event's publish (p50 / p99 / max).
//   npm run bench:detect [-- --points 200000 --events 50000 --rate 2000 --latency-events 20000]
//   --in-process-only stops after 2 (no broker): what to run under `node --cpu-prof`.
import { parseArgs } from "node:util";
import { connect, type NatsConnection } from "@nats-io/transport-node";
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
import { isEntryPoint, percentile, printSummary, ratio, round, type BenchSummary } from "./report.ts";


function rate(n: number, run: () => void): number {
  const started = performance.now();
  run();
  return n / ((performance.now() - started) / 1000);
}

interface Latency { alerts: number; p50: number; p99: number; max: number }

/**
 * Publishes `paced` into the running pipeline at a steady `rate` and times each alert from its
 * event's publish to its arrival on alerts.> (the alert's event_id names the event; a topic's
 * minute alert is timed from the post it names): what a consumer of alerts waits, the detect
 * task's reorder buffer and batching included.
 */
async function latency(nc: NatsConnection, paced: Envelope[], bodies: string[], rate: number): Promise<Latency> {
  const sentAt = new Map<string, number>();
  const delays: number[] = [];
  const sub = nc.subscribe(subject.alertsAll(), {
    callback: (_err, m) => {
      const sent = sentAt.get((JSON.parse(m.string()) as { event_id: string }).event_id);
      if (sent !== undefined) delays.push(performance.now() - sent);
    },
  });
  await nc.flush();
  const before = metricsFor("detect").acked;
  const started = performance.now();
  for (let i = 0; i < paced.length; i++) {
    // Each event leaves at its slot of the steady rate; the loop sleeps until the next slot.
    const wait = started + (i * 1000) / rate - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const e = paced[i];
    sentAt.set(e.event_id, performance.now());
    nc.publish(subject.events(e.source, partitionOf(e.key, 4)), bodies[i]);
  }
  await nc.flush();
  const acked = await waitFor(async () => metricsFor("detect").acked - before, (n) => n >= paced.length, 600_000, 50);
  if (acked < paced.length) throw new Error(`latency phase: detect acked only ${acked} of ${paced.length}`);
  await nc.flush();
  sub.unsubscribe();
  const sorted = [...delays].sort((a, b) => a - b);
  return { alerts: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted[sorted.length - 1] ?? NaN };
}

async function inPipeline(envelopes: Envelope[], bodies: string[], paced: { envelopes: Envelope[]; bodies: string[]; rate: number }): Promise<{ throughput: number; latency: Latency }> {
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
    const timed = await latency(nc, paced.envelopes, paced.bodies, paced.rate);
    await nc.close();
    return { throughput: events / seconds, latency: timed };
  } finally {
    await p.cleanup();
    await nats.stop();
  }
}

/** Rate per second of wall time and per second of this process's CPU time (on a shared machine the second moves less). */
function rates(n: number, run: () => void): { wall: number; cpu: number } {
  const cpu0 = process.cpuUsage();
  const wall = rate(n, run);
  const used = process.cpuUsage(cpu0);
  return { wall, cpu: n / ((used.user + used.system) / 1e6) };
}

export async function main(opts: { points: number; events: number; rate?: number; latencyEvents?: number; inProcessOnly?: boolean }): Promise<BenchSummary> {
  const { points, events } = opts;
  const pace = opts.rate ?? 2000;
  const latencyEvents = opts.latencyEvents ?? events;
  // One stream: the first `events` for throughput, the rest (the same entities, later) paced for latency.
  const generated = createGenerator({ seed: 1, sources: ["iot", "social", "txn"], anomalyRate: 0.02, intervalMs: 500 }).take(events + latencyEvents);
  const all = generated.map((e, i) => toEnvelope(e, i + 1));
  const allBodies = all.map((e) => JSON.stringify(e));
  const envelopes = all.slice(0, events);
  const bodies = allBodies.slice(0, events);
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
  const inProcess = rates(events, () => {
    for (const e of envelopes) detection.observe(e, "");
  });
  const inProcessRate = inProcess.wall;
  // The same events again into a fresh state: the code is compiled now, the work per event is the same.
  const warm = rates(events, () => {
    const again = createDetection();
    for (const e of envelopes) again.observe(e, "");
  });
  const f = (n: number) => n.toFixed(0).padStart(9);
  if (opts.inProcessOnly) {
    console.log(`points ${points}, events ${events} (iot, social, txn; seed 1), one Node thread`);
    console.log(`baseline   JSON.parse of an envelope:                         ${f(parseRate)} /s`);
    console.log(`detector   univariate update alone:                           ${f(univariateRate)} points/s   ratio to JSON.parse ${(univariateRate / parseRate).toFixed(3)}`);
    console.log(`detection  all sources, in process (no broker):               ${f(inProcessRate)} events/s   ratio to JSON.parse ${(inProcessRate / parseRate).toFixed(3)} (${f(inProcess.cpu)} per CPU-second)`);
    console.log(`detection  the same again, warm (fresh state, compiled code):  ${f(warm.wall)} events/s   ratio to JSON.parse ${(warm.wall / parseRate).toFixed(3)} (${f(warm.cpu)} per CPU-second)`);
    const summary: BenchSummary = {
      name: "detect-in-process", events, events_per_s: round(inProcessRate), baseline: round(parseRate), ratio: ratio(inProcessRate, parseRate),
      points, univariate_points_per_s: round(univariateRate), in_process_events_per_cpu_s: round(inProcess.cpu),
      in_process_warm_events_per_s: round(warm.wall), in_process_warm_events_per_cpu_s: round(warm.cpu),
    };
    printSummary(summary);
    return summary;
  }
  const base = await natsBaseline(events, (i) => bodies[i]);
  const { throughput: piped, latency: lat } = await inPipeline(envelopes, bodies, { envelopes: all.slice(events), bodies: allBodies.slice(events), rate: pace });
  console.log(`points ${points}, events ${events} (iot, social, txn; seed 1), one Node thread`);
  console.log(`baseline   JSON.parse of an envelope:                         ${f(parseRate)} /s`);
  console.log(`detector   univariate update alone:                           ${f(univariateRate)} points/s   ratio to JSON.parse ${(univariateRate / parseRate).toFixed(3)}`);
  console.log(`detection  all sources, in process (no broker):               ${f(inProcessRate)} events/s   ratio to JSON.parse ${(inProcessRate / parseRate).toFixed(3)} (${f(inProcess.cpu)} per CPU-second)`);
  console.log(`detection  the same again, warm (fresh state, compiled code):  ${f(warm.wall)} events/s   ratio to JSON.parse ${(warm.wall / parseRate).toFixed(3)} (${f(warm.cpu)} per CPU-second)`);
  console.log(`baseline   nats.js publish → stream → consume + parse + ack:  ${f(base)} msgs/s`);
  console.log(`pipeline   EVENTS → detect actor → ALERTS (acked):            ${f(piped)} events/s   ratio to nats.js ${(piped / base).toFixed(3)}`);
  console.log(`latency    event published → its alert on alerts.>:           p50 ${lat.p50.toFixed(1)} ms, p99 ${lat.p99.toFixed(1)} ms, max ${lat.max.toFixed(1)} ms (${lat.alerts} alerts; ${latencyEvents} events at ${pace}/s)`);
  const summary: BenchSummary = {
    name: "detect", events, events_per_s: round(piped), baseline: round(base), ratio: ratio(piped, base),
    points, univariate_points_per_s: round(univariateRate), in_process_events_per_s: round(inProcessRate), in_process_events_per_cpu_s: round(inProcess.cpu),
    in_process_warm_events_per_s: round(warm.wall), in_process_warm_events_per_cpu_s: round(warm.cpu), parse_per_s: round(parseRate),
    latency_rate: pace, latency_events: latencyEvents, alerts_timed: lat.alerts, alert_latency_p50_ms: round(lat.p50, 1), alert_latency_p99_ms: round(lat.p99, 1), alert_latency_max_ms: round(lat.max, 1),
  };
  printSummary(summary);
  return summary;
}

if (isEntryPoint(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      points: { type: "string", default: "200000" },
      events: { type: "string", default: "50000" },
      rate: { type: "string", default: "2000" },
      "latency-events": { type: "string", default: "20000" },
      "in-process-only": { type: "boolean", default: false },
    },
  });
  await main({ points: Number(values.points), events: Number(values.events), rate: Number(values.rate), latencyEvents: Number(values["latency-events"]), inProcessOnly: values["in-process-only"] });
  process.exit(0);
}
