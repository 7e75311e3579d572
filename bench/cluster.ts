// End-to-end throughput on a 3-node JetStream cluster (SLUICE_REPLICAS=3) next to one node
// (SLUICE_REPLICAS=1), measured in the same run: a producer publishes IoT readings to RAW with
// JetStream acks (1,000 in flight) while every actor runs in this process; the rate is events per
// second until sluice.events holds them all. Beside it, the producer's acked publish rate alone
// into one stream (R1 on one node, R3 on the cluster), and — with --sync-server, a nats-server
// from 2.10 that knows `sync_interval` — the cluster's end-to-end and acked publish rates with
// each --sync setting (default `always`: fsync before each ack) against the server's default
// (2 minutes), for the choice in `sluice deploy nats-cluster`.
// Each figure is the best of --repeat runs, taken in turns (1 node, 3 nodes, 1 node, …) so a
// warm-up or a neighbour's load does not favour one side.
//   npm run bench:cluster [-- --events 20000] [--repeat 2] [--sync-server PATH [--sync always,1s]] [--parts nodes,sync]
import { execFileSync } from "node:child_process";
import { parseArgs } from "node:util";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { NatsServer } from "../tests/harness/nats-server.ts";
import { NatsCluster } from "../tests/harness/nats-cluster.ts";
import { startTestPipeline } from "../tests/harness/pipeline.ts";
import { validReadings } from "../tests/harness/events.ts";
import { publishUntilAcked, withIds } from "../tests/harness/acked-producer.ts";
import { ACTOR_NAMES } from "../actors/pipeline.ts";
import { loadConfig } from "../config/index.ts";
import { secondsUntil } from "./load.ts";
import { figure, isEntryPoint, printSummary, ratio, round, type BenchSummary } from "./report.ts";

const IN_FLIGHT = 1_000;
/** `nodes`: 1 node against 3; `sync`: on the --sync-server, sync_interval always against the default. */
export const PARTS = ["nodes", "sync"] as const;
export type Part = (typeof PARTS)[number];

/** One node or a 3-node cluster, its client URL, and how to stop it. */
interface Brokers {
  readonly url: string;
  readonly replicas: number;
  probe(): Promise<NatsConnection>;
  ensureProcessUser(): Promise<void>;
  stop(): Promise<void>;
}

async function brokers(nodes: 1 | 3, jetstream: readonly string[] = []): Promise<Brokers> {
  if (nodes === 3) {
    const cluster = await NatsCluster.start(3, { jetstream });
    return { url: cluster.url, replicas: 3, probe: () => cluster.probe(), ensureProcessUser: () => cluster.ensureProcessUser(ACTOR_NAMES, loadConfig({}).partitions), stop: () => cluster.stop() };
  }
  const server = await NatsServer.start({ jetstream });
  return { url: server.url, replicas: 1, probe: () => connect({ servers: server.url }), ensureProcessUser: async () => undefined, stop: () => server.stop() };
}

const readingsFor = (events: number) => withIds(validReadings(events, Date.UTC(2026, 10, 27, 10), 50), "bench");

/** Events per second from the first publish until sluice.events holds every event. */
async function endToEnd(nodes: 1 | 3, events: number, jetstream: readonly string[] = []): Promise<number> {
  const b = await brokers(nodes, jetstream);
  await b.ensureProcessUser();
  const p = await startTestPipeline(b.url, { env: { SLUICE_REPLICAS: String(b.replicas) } });
  const nc = await b.probe();
  try {
    const started = performance.now();
    await publishUntilAcked(nc, readingsFor(events), { batch: IN_FLIGHT });
    const seconds = await secondsUntil("rows in sluice.events", () => p.scalar("SELECT count() FROM sluice.events"), events, started, 600_000);
    return events / seconds;
  } finally {
    await nc.close();
    await p.cleanup();
    await b.stop();
  }
}

/** Acknowledged publishes per second into one stream of `replicas` replicas (200-byte readings). */
async function ackedPublish(nodes: 1 | 3, events: number, jetstream: readonly string[] = []): Promise<number> {
  const b = await brokers(nodes, jetstream);
  const nc = await b.probe();
  try {
    const jsm = await jetstreamManager(nc, { timeout: 30_000 });
    await jsm.streams.add({ name: "RAW", subjects: ["raw.>"], storage: "file", num_replicas: b.replicas, duplicate_window: 120_000_000_000 });
    const started = performance.now();
    await publishUntilAcked(nc, readingsFor(events), { batch: IN_FLIGHT });
    return events / ((performance.now() - started) / 1000);
  } finally {
    await nc.close();
    await b.stop();
  }
}

/** Runs `work` with SLUICE_TEST_NATS_SERVER pointing at `binary` (the harness starts that nats-server). */
async function withServerBinary<T>(binary: string, work: () => Promise<T>): Promise<T> {
  const before = process.env.SLUICE_TEST_NATS_SERVER;
  process.env.SLUICE_TEST_NATS_SERVER = binary;
  try {
    return await work();
  } finally {
    if (before === undefined) delete process.env.SLUICE_TEST_NATS_SERVER;
    else process.env.SLUICE_TEST_NATS_SERVER = before;
  }
}

/** The best of `repeat` runs of each measurement, taken in turns. */
async function bestOf<K extends string>(repeat: number, runs: Record<K, () => Promise<number>>): Promise<Record<K, number>> {
  const best = {} as Record<K, number>;
  for (let i = 0; i < repeat; i++) {
    for (const [name, run] of Object.entries(runs) as Array<[K, () => Promise<number>]>) {
      const rate = await run();
      console.log(`  run ${i + 1} ${name}: ${figure(rate)}/s`);
      best[name] = Math.max(best[name] ?? 0, rate);
    }
  }
  return best;
}

export async function main(opts: { events: number; repeat?: number; syncServer?: string; syncSettings?: readonly string[]; parts?: readonly Part[] }): Promise<BenchSummary> {
  const { events } = opts;
  const repeat = opts.repeat ?? 2;
  const parts = opts.parts ?? PARTS;
  const summary: BenchSummary = { name: "cluster", events, repeat };
  if (parts.includes("nodes")) {
    const r = await bestOf(repeat, {
      single: () => endToEnd(1, events),
      cluster: () => endToEnd(3, events),
      publishSingle: () => ackedPublish(1, events),
      publishCluster: () => ackedPublish(3, events),
    });
    console.log(`events: ${events} (acked publishes, ${IN_FLIGHT} in flight; best of ${repeat})`);
    console.log(`1 node,  SLUICE_REPLICAS=1: end to end ${figure(r.single)} events/s; acked publish into RAW ${figure(r.publishSingle)} msgs/s`);
    console.log(`3 nodes, SLUICE_REPLICAS=3: end to end ${figure(r.cluster)} events/s   ratio ${ratio(r.cluster, r.single)}; acked publish ${figure(r.publishCluster)} msgs/s   ratio ${ratio(r.publishCluster, r.publishSingle)}`);
    Object.assign(summary, {
      events_per_s: round(r.cluster), baseline: round(r.single), ratio: ratio(r.cluster, r.single),
      publish_per_s: round(r.publishCluster), publish_baseline: round(r.publishSingle), publish_ratio: ratio(r.publishCluster, r.publishSingle),
    });
  }
  if (opts.syncServer && parts.includes("sync")) {
    const version = execFileSync(opts.syncServer, ["--version"], { encoding: "utf8" }).trim();
    const settings = opts.syncSettings ?? ["always"];
    const runs: Record<string, () => Promise<number>> = { "endToEnd default": () => endToEnd(3, events), "publish default": () => ackedPublish(3, events) };
    for (const setting of settings) {
      const lines = [`sync_interval: ${setting}`];
      runs[`endToEnd ${setting}`] = () => endToEnd(3, events, lines);
      runs[`publish ${setting}`] = () => ackedPublish(3, events, lines);
    }
    const sync = await withServerBinary(opts.syncServer, () => bestOf(repeat, runs));
    console.log(`3 nodes on ${version} (--sync-server), SLUICE_REPLICAS=3, sync_interval against the default (2 min):`);
    const fields: Record<string, number | string> = { sync_server: version, sync_default_events_per_s: round(sync["endToEnd default"]), sync_default_publish_per_s: round(sync["publish default"]) };
    for (const setting of settings) {
      const e2e = sync[`endToEnd ${setting}`];
      const publish = sync[`publish ${setting}`];
      console.log(`  ${setting.padEnd(6)} end to end ${figure(e2e)} events/s   ratio ${ratio(e2e, sync["endToEnd default"])}; acked publish ${figure(publish)} msgs/s   ratio ${ratio(publish, sync["publish default"])}`);
      const key = setting.replace(/\W/g, "_");
      Object.assign(fields, { [`sync_${key}_events_per_s`]: round(e2e), [`sync_${key}_events_ratio`]: ratio(e2e, sync["endToEnd default"]), [`sync_${key}_publish_per_s`]: round(publish), [`sync_${key}_publish_ratio`]: ratio(publish, sync["publish default"]) });
    }
    Object.assign(summary, fields);
  }
  printSummary(summary);
  return summary;
}

if (isEntryPoint(import.meta.url)) {
  const { values } = parseArgs({ options: { events: { type: "string", default: "20000" }, repeat: { type: "string", default: "2" }, "sync-server": { type: "string" }, parts: { type: "string", default: PARTS.join(",") }, sync: { type: "string", default: "always" } } });
  const parts = values.parts.split(",");
  for (const p of parts) if (!(PARTS as readonly string[]).includes(p)) throw new Error(`--parts: ${JSON.stringify(p)} is not one of ${PARTS.join(", ")}`);
  await main({ events: Number(values.events), repeat: Number(values.repeat), syncServer: values["sync-server"], syncSettings: values.sync.split(","), parts: parts as Part[] });
  process.exit(0);
}
